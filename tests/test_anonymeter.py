"""Anonymeter's evaluators on the installed numpy 2 / pandas 3 and on the tables the pipeline writes.

anonymeter 1.1.0 declares numpy<1.27 and pyarrow<22; the Makefile installs it with --no-deps. These
tests are the evidence that its code runs on the versions installed here: a release that *is* the
original records gives singling-out and linkability risks near 1, a release made from other
patients of the same cohort gives risks near 0 (fixed seeds, pinned figures), on the simulated
cohort's real columns (generalized labels, masks, window means, synthetic records).
"""

from __future__ import annotations

import math
from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.anon.attacks.anonymeter_eval import (
    AnonymeterSettings,
    assess_anonymeter,
    comparable_tables,
)
from privhealth.errors import ConfigError, PrivHealthError
from privhealth.experiments.pipeline import (
    load_dataset,
    make_anonymizer,
    run_pipeline,
    validate_job,
)

SETTINGS = AnonymeterSettings(n_attacks=150)
SMALL = ["data.n_patients=300", "evaluation.n_bootstrap=50", "evaluation.folds=2", "model=logreg",
         "attack.mia.enabled=false"]
HEADLINES = ("risk/anonymeter_singling_out", "risk/anonymeter_linkability", "risk/anonymeter_inference")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """600 simulated patients in three disjoint groups: A (ori), B (control), C (someone else)."""
    root = tmp_path_factory.mktemp("anonymeter")
    write_key(root)
    cfg = compose_cfg(root, ["data.n_patients=600"])
    ds = load_dataset(cfg)
    ids = pd.unique(ds.frame[ds.schema.entity])
    group = pd.Series(np.arange(len(ids)) % 3, index=ids)
    g = group.reindex(ds.frame[ds.schema.entity]).to_numpy()
    return root, cfg, ds, g


def _part(ds, g, which):
    from dataclasses import replace

    return replace(ds, frame=ds.frame.loc[g == which], metadata={})


def _release(root, ds, anon):
    cfg = compose_cfg(root, [f"anon={anon}", "data.n_patients=600"])
    return make_anonymizer(cfg).anonymize(ds)


def test_installed_versions_are_the_ones_the_pins_exclude():
    """What the --no-deps install is about: anonymeter 1.1.0 beside numpy >= 2 and pandas >= 3."""
    assert version("anonymeter") == "1.1.0"
    assert int(np.__version__.split(".")[0]) >= 2
    assert int(pd.__version__.split(".")[0]) >= 3


@pytest.mark.parametrize("anon", ["none", "paper_rules"])
def test_a_release_of_the_original_records_is_a_high_risk(cohort, anon):
    root, _, ds, g = cohort
    ori, control = _part(ds, g, 0), _part(ds, g, 1)
    m = assess_anonymeter(_release(root, ori, anon), ori.frame, control.frame, 6, SETTINGS, seed=0)
    assert m["risk/anonymeter_n_ori"] == m["risk/anonymeter_n_control"] == 200
    assert m["risk/anonymeter_n_attacks"] == 150
    for name in ("risk/anonymeter_singling_out", "risk/anonymeter_linkability"):
        assert m[name] > 0.95, name  # every record of ori is in the release: nearly every attack works
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"]
        assert m[f"{name}_control_rate"] < 0.3
    assert m["risk/anonymeter_inference"] > 0.5
    # the seed fixes every figure, the random baselines and singling-out's candidate queries included
    # (anonymeter_eval._global_seed); another seed draws other attacks
    again = assess_anonymeter(_release(root, ori, anon), ori.frame, control.frame, 6, SETTINGS, seed=0)
    assert again == m
    other = assess_anonymeter(_release(root, ori, anon), ori.frame, control.frame, 6, SETTINGS, seed=1)
    assert any(other[k] != m[k] for k in m if k.endswith(("_baseline_rate", "_control_rate")))


def test_the_seeded_block_restores_polars_and_anonymeter():
    """What _global_seed patches (polars' grouping order, linkability's baseline generator, the
    global generators) is back as it was after the block, also after an error."""
    import polars as pl
    from anonymeter.evaluators import linkability_evaluator as lk

    from privhealth.anon.attacks.anonymeter_eval import _global_seed

    before = (pl.DataFrame.group_by, pl.Series.unique, lk._random_links)
    np.random.seed(7)  # noqa: NPY002
    want = np.random.random()  # noqa: NPY002
    np.random.seed(7)  # noqa: NPY002
    with pytest.raises(ValueError, match="inside"), _global_seed(0):
        assert pl.DataFrame.group_by is not before[0] and lk._random_links is not before[2]
        df = pl.DataFrame({"a": [3, 1, 3, 2, 1] * 1000})
        assert df.group_by("a").len()["a"].to_list() == [3, 1, 2]  # first appearance, every time
        raise ValueError("inside")
    assert (pl.DataFrame.group_by, pl.Series.unique, lk._random_links) == before
    assert np.random.random() == want  # noqa: NPY002


def test_a_release_of_other_patients_is_no_risk(cohort):
    """A release made from group C, evaluated as if made from A: independent of ori and control."""
    root, _, ds, g = cohort
    ori, control, other = _part(ds, g, 0), _part(ds, g, 1), _part(ds, g, 2)
    m = assess_anonymeter(_release(root, other, "none"), ori.frame, control.frame, 6, SETTINGS, seed=0)
    for name in HEADLINES:
        assert m[f"{name}_ci_low"] == 0.0, name  # no excess over the control patients can be shown
        assert m[name] < 0.15, name
    # pinned (seed 0): 3 of 150 links right on ori vs 2 on control, inference no better on ori
    # than on control (both 0.91: the majority outcome), the rates Wilson-centred as anonymeter does
    assert m["risk/anonymeter_linkability"] == pytest.approx(0.0065823801918363616, rel=1e-9)
    assert m["risk/anonymeter_linkability_attack_rate"] == pytest.approx(0.01898532055491779, rel=1e-9)
    assert m["risk/anonymeter_inference"] == 0.0
    assert m["risk/anonymeter_inference_attack_rate"] == m["risk/anonymeter_inference_control_rate"]


def test_synthetic_release_runs_on_its_patient_level_columns(cohort):
    """anon=synthetic: one row per synthetic patient, identifiers dropped, QIs coarsened."""
    root, _, ds, g = cohort
    ori, control = _part(ds, g, 0), _part(ds, g, 1)
    release = _release(root, ori, "synthetic")
    t = comparable_tables(release, ori.frame, control.frame, 6, SETTINGS)
    assert len(t.syn) == len(t.ori) == 200 and len(t.control) == 200
    assert list(t.syn.columns) == list(t.ori.columns) == list(t.control.columns)
    assert "icustayid" not in t.syn.columns and t.secret == "mortality_90d"
    text = t.syn.select_dtypes(exclude="number").columns
    assert "zip" in text and not t.syn[text].isna().any().any()  # labels are categories, none null
    # the raw patients coded like the release: the same ZIP3 labels, no full ZIP
    assert {len(z) for z in t.ori["zip"]} == {len(z) for z in t.syn["zip"]}
    m = assess_anonymeter(release, ori.frame, control.frame, 6, SETTINGS, seed=0)
    assert all(0.0 <= m[name] <= 1.0 for name in HEADLINES)


def test_control_patients_must_not_be_in_the_release(cohort):
    root, _, ds, g = cohort
    ori = _part(ds, g, 0)
    with pytest.raises(PrivHealthError, match="disjoint"):
        comparable_tables(_release(root, ori, "none"), ori.frame, ori.frame, 6, SETTINGS)


@pytest.mark.parametrize(("setting", "message"), [
    ({"n_atacks": 5}, "unknown setting"),
    ({"n_attacks": 5}, "n_attacks must be an integer >= 10"),
    ({"aux_cols": [["age"]]}, "two non-empty lists"),
    ({"enabled": "yes"}, "true or false"),
])
def test_bad_settings_are_named(setting, message):
    with pytest.raises(ConfigError, match=message):
        AnonymeterSettings.from_mapping(setting)


def test_a_bad_setting_is_refused_before_any_run(tmp_path):
    cfg = compose_cfg(tmp_path, [*SMALL, "attack.anonymeter.n_attacks=3"], fast=False)
    with pytest.raises(ConfigError, match="attack.anonymeter.n_attacks"):
        validate_job(cfg)


def test_a_run_logs_the_anonymeter_risks(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, [*SMALL, "attack.anonymeter.n_attacks=100"], fast=False)
    result = run_pipeline(cfg)
    m = MlflowClient(tracking_uri=str(cfg.tracking.uri)).get_run(result.models[0].run_id).data.metrics
    # fold 0 of 2 on 300 patients: its training patients are ori, its test patients control
    assert m["risk/anonymeter_n_ori"] + m["risk/anonymeter_n_control"] == 300
    assert m["risk/anonymeter_n_attacks"] == 100
    for name in HEADLINES:
        assert 0.0 <= m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"] <= 1.0
    # paper_rules keeps SSN/phone fragments and clinical values per patient: singled out and linked
    assert m["risk/anonymeter_singling_out"] > 0.9 and m["risk/anonymeter_linkability"] > 0.9
    off = compose_cfg(tmp_path, [*SMALL, "attack.anonymeter.enabled=false"], fast=False)
    again = run_pipeline(off)
    assert not any("anonymeter" in k for k in again.metrics)
    assert math.isfinite(again.metrics["risk/linkage_reid_rate"])
