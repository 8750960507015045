"""Release.apply: new raw records mapped through the release's recipe, for every method.

Applied to the records a release was built from it reproduces the release's rows (suppressed
records are mapped instead of dropped); applied to new patients it gives the release's columns
and dtypes with every record kept; the recipe survives the JSON round trip of the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from pipeline_helpers import compose_cfg, write_key

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.anon.recipe import recipe_from_dict
from privhealth.anon.release import NoAnonymization, Release, RuleBasedAnonymizer
from privhealth.data.loaders import toy_table
from privhealth.data.schema import Dataset
from privhealth.data.simulator import simulate_cohort
from privhealth.errors import ConfigError
from privhealth.experiments.toy import paper_rules

METHODS = ["none", "paper_rules", "safe_harbor", "optimal", "mondrian"]
RANDOM_CODED = {"safe_harbor": ["icustayid"]}  # random codes: new ones for new records, by design


def _same_rows(release: Release, applied: pd.DataFrame, skip: list[str] = ()) -> None:
    kept = applied.loc[release.frame.index]
    cols = [c for c in release.frame.columns if c not in skip]
    pd.testing.assert_frame_equal(kept[cols], release.frame[cols])


def _roundtrip(release: Release) -> Release:
    stored = json.loads(json.dumps(release.recipe.to_dict()))
    return Release(release.frame, release.schema, release.method, release.steps,
                   release.n_entities_in, release.n_rows_in, recipe=recipe_from_dict(stored))


# ---------------------------------------------------------------------- toy table
def _toy_anonymizers():
    quasi = {"hierarchies": {"Age": {"type": "intervals", "levels": [[0, 31, 51, 101]]},
                             "ZIP": {"type": "prefix", "keep": [3], "mask_char": "X"}},
             "quasi": ["Age", "ZIP"], "sensitive": ["Diagnosis"], "target_is_sensitive": False}
    return {
        "none": NoAnonymization(),
        "paper_rules": RuleBasedAnonymizer(paper_rules().steps, name="paper_rules"),
        "optimal": EnforcedAnonymizer("optimal", k=2, suppression=0.5, **quasi),
        "mondrian": EnforcedAnonymizer("mondrian", k=2, suppression=0.0, **quasi),
    }


@pytest.mark.parametrize("method", ["none", "paper_rules", "optimal", "mondrian"])
def test_toy_apply_reproduces_the_release(method):
    ds = toy_table()
    rel = _toy_anonymizers()[method].anonymize(ds)
    for r in (rel, _roundtrip(rel)):
        out = r.apply(ds.frame)
        assert list(out.index) == list(ds.frame.index)  # nobody suppressed
        assert list(out.columns) == list(rel.frame.columns)
        assert dict(out.dtypes) == dict(rel.frame.dtypes)
        _same_rows(rel, out)


def test_toy_paper_rules_on_new_patients():
    ds = toy_table()
    rel = _toy_anonymizers()["paper_rules"].anonymize(ds)
    new = pd.DataFrame({"PatientID": [201, 202, 203], "Name": ["Eve", "Finn", "Gus"], "Age": [29.5, 77, 130],
                        "ZIP": ["54321", "12399", "9"], "Diagnosis": ["Flu", "Flu", "Flu"]})
    out = rel.apply(new)
    # 29.5 falls in the first band; 130 is outside the explicit cut points: the root
    assert out["Age"].tolist() == ["0-30", "51-100", "*"]
    assert out["Name"].tolist() == ["XXXX"] * 3 and out["ZIP"].tolist() == ["543XX", "123XX", "9XX"]


def test_toy_optimal_maps_its_suppressed_patient():
    ds = toy_table()
    rel = _toy_anonymizers()["optimal"].anonymize(ds)
    out = rel.apply(ds.frame)
    assert len(out) == 4
    dropped = ds.frame.index.difference(rel.frame.index)
    assert rel.details["search"]["levels"] == {"Age": 2, "ZIP": 0} and list(dropped) == [1, 3]
    # the suppressed patients are generalized at the node's levels, not dropped
    assert out.loc[dropped, "Age"].tolist() == ["*", "*"]
    assert out.loc[dropped, "ZIP"].tolist() == ds.frame.loc[dropped, "ZIP"].tolist()


def test_toy_mondrian_record_in_no_box():
    ds = toy_table()
    rel = _toy_anonymizers()["mondrian"].anonymize(ds)
    boxes = rel.recipe.boxes
    assert boxes is not None and boxes.n_classes >= 2
    new = pd.DataFrame({"PatientID": [301, 302], "Name": ["H", "I"], "Age": [37, 99],
                        "ZIP": ["12345", "99999"], "Diagnosis": ["Flu", "Flu"]})
    out = rel.apply(new)
    own = boxes.assign(new)
    # each gets the labels of one class of the release (age 99 lies in no box: nearest on age wins)
    for q in ("Age", "ZIP"):
        assert out[q].tolist() == boxes.labels[q][own].tolist()
    lo, hi = boxes.numeric["Age"]
    assert own[1] == int(np.argmax(hi))


def test_no_recipe_is_a_clear_error():
    ds = toy_table()
    rel = NoAnonymization().anonymize(ds)
    rel.recipe = None
    with pytest.raises(ConfigError, match="cannot map new records"):
        rel.apply(ds.frame)


# ---------------------------------------------------------------------- simulated cohort
@pytest.fixture(scope="module")
def cohort_setup(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("apply")
    write_key(root)
    full = simulate_cohort(360, seed=5, max_blocs=4)
    ids = full.frame["icustayid"].unique()
    train_ids, test_ids = ids[:300], ids[300:]
    frame = full.frame
    train = Dataset(frame[frame["icustayid"].isin(train_ids)], full.schema, "train")
    test = frame[frame["icustayid"].isin(test_ids)]
    return root, train, test


@pytest.mark.parametrize("method", METHODS)
def test_cohort_apply_every_method(cohort_setup, method):
    root, train, test = cohort_setup
    cfg = compose_cfg(root, [f"anon={method}"])
    anonymizer = instantiate(cfg.anon, _convert_="all")
    rel = anonymizer.anonymize(train)
    skip = RANDOM_CODED.get(method, [])
    for r in (rel, _roundtrip(rel)):
        back = r.apply(train.frame)
        assert len(back) == len(train.frame) and back.index.equals(train.frame.index)
        _same_rows(rel, back, skip)
        new = r.apply(test)
        assert new.index.equals(test.index)  # held-out patients: none suppressed
        assert list(new.columns) == list(rel.frame.columns)
        assert dict(new.dtypes) == dict(rel.frame.dtypes)
        for q in [c for c in train.schema.quasi if c in rel.frame.columns and method != "none"]:
            seen = set(rel.frame[q].dropna().astype(str)) | {"*"}
            if method == "mondrian":  # new records take the labels of a released class
                assert set(new[q].dropna().astype(str)) <= seen, q
    if method == "safe_harbor":
        assert not set(new["icustayid"]) & set(rel.frame["icustayid"])


def test_cached_release_keeps_its_recipe(cohort_setup, tmp_path):
    from privhealth.experiments.cache import ReleaseCache

    root, train, test = cohort_setup
    cfg = compose_cfg(root, ["anon=mondrian"])
    rel = instantiate(cfg.anon, _convert_="all").anonymize(train)
    cache = ReleaseCache(tmp_path)
    cache.get_or_compute("ab" + "0" * 30, lambda: rel)
    loaded, hit = cache.get_or_compute("ab" + "0" * 30, lambda: pytest.fail("recomputed"))
    assert hit and loaded.recipe is not None
    pd.testing.assert_frame_equal(loaded.apply(test), rel.apply(test))
    meta = next(tmp_path.rglob("*.json")).read_text()
    assert "test-key-0123456789abcdef" not in meta
