"""The evaluation protocol: same test patients, repeated splits, paired differences (issue 15)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key
from scipy import stats
from sklearn import metrics as skm
from synthetic_cohort import cached_cohort

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.anon.release import RuleBasedAnonymizer
from privhealth.data.loaders import toy_table
from privhealth.errors import ConfigError
from privhealth.experiments.cache import ReleaseCache
from privhealth.experiments.pipeline import anonymize, load_dataset, make_anonymizer, run_pipeline
from privhealth.experiments.protocol import (
    Plan,
    Settings,
    frames_for,
    make_plan,
    train_patients,
    with_fresh_cohort,
)
from privhealth.experiments.report import utility_verdict
from privhealth.experiments.toy import paper_rules
from privhealth.models.crossval import patient_keys
from privhealth.models.evaluation import TaskResult, fold_summary, resample_weights
from privhealth.models.paired import delong_test, paired_bootstrap, paired_deltas
from privhealth.models.split import patient_kfold

# Mondrian with k=20 and l=2 on mortality suppresses a few of 300 patients (test ones among them)
SUPPRESSING = ["anon=mondrian", "anon.k=20", "anon.l=2", "anon.suppression=0.05"]


@pytest.fixture(scope="module")
def suppressed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    write_key(root)
    cfg = compose_cfg(root, SUPPRESSING)
    return cfg, run_pipeline(cfg)


def test_raw_and_anonymized_models_score_the_same_test_patients(suppressed_run):
    cfg, result = suppressed_run
    assert result.release.suppressed_fraction > 0
    for o in result.models:
        a, r = o.anon, o.raw
        np.testing.assert_array_equal(a.patient_keys, r.patient_keys)
        np.testing.assert_array_equal(a.y_true, r.y_true)
        assert len(np.unique(a.patient_keys)) == len(a.patient_keys) == 300  # 2 folds: each patient once
        assert a.n_suppressed > 0 and r.n_suppressed == 0
        run = MlflowClient(str(cfg.tracking.uri)).get_run(o.run_id).data.metrics
        assert run["test/n_patients_test"] == run["raw/n_patients_test"] == 300
        assert run["test/n_suppressed"] == a.n_suppressed
        assert run["test/n_folds"] == run["raw/n_folds"] == 2
        for k in ("utility/delta_auroc", "utility/delta_auroc_ci_lo", "utility/delta_auroc_ci_hi",
                  "utility/delta_auroc_p", "utility/delta_f1", "utility/delta_f1_p", "test/auroc_fold_mean"):
            assert math.isfinite(run[k]), k


def test_suppressed_test_patients_are_scored_with_the_training_prevalence(suppressed_run):
    cfg, result = suppressed_run
    ds = instantiate(cfg.data, _convert_="all")
    entity, target = ds.schema.entity, ds.schema.target
    keys = patient_keys(ds.frame[entity])
    kept = set(keys.loc[result.release.frame.index])
    splits = patient_kfold(ds.frame, entity, target, 2, float(cfg.evaluation.val_fraction), int(cfg.seed))
    for o in result.models:
        a = o.anon
        gone = ~np.isin(a.patient_keys, list(kept))
        assert gone.sum() == a.n_suppressed > 0
        for folds in splits:
            tested = np.isin(a.patient_keys, keys[(folds == "test").to_numpy()].unique())
            train = result.release.frame.loc[(folds.reindex(result.release.frame.index) == "train").to_numpy()]
            prevalence = train.groupby(entity)[target].max().mean()
            np.testing.assert_allclose(a.y_prob[gone & tested], prevalence, rtol=1e-12)


def test_no_anonymization_gives_a_delta_of_exactly_zero(tmp_path):
    write_key(tmp_path)
    result = run_pipeline(compose_cfg(tmp_path, ["anon=none"]))
    for o in result.models:
        for m in ("auroc", "f1"):
            assert o.deltas[f"utility/delta_{m}"] == 0.0
            assert o.deltas[f"utility/delta_{m}_ci_lo"] == o.deltas[f"utility/delta_{m}_ci_hi"] == 0.0
            assert o.deltas[f"utility/delta_{m}_p"] == 1.0


def test_paired_bootstrap_equals_an_independent_computation_on_the_same_resamples():
    rng = np.random.default_rng(3)
    n, B = 80, 300
    y = rng.integers(0, 2, n)
    p_a = np.clip(0.3 * y + rng.random(n) * 0.8, 0, 1)
    p_b = np.clip(0.15 * y + rng.random(n) * 0.8, 0, 1)
    got = paired_bootstrap(y, p_a, 0.5, p_b, 0.45, n_resamples=B, seed=11)
    idx = np.random.default_rng(11).integers(0, n, size=(B, n))  # the same draws, one per resample
    want_auc, want_f1 = [], []
    for row in idx:
        yy = y[row]
        want_auc.append(skm.roc_auc_score(yy, p_a[row]) - skm.roc_auc_score(yy, p_b[row]))
        want_f1.append(skm.f1_score(yy, p_a[row] >= 0.5) - skm.f1_score(yy, p_b[row] >= 0.45))
    np.testing.assert_allclose(got["auroc"], want_auc, atol=1e-12)
    np.testing.assert_allclose(got["f1"], want_f1, atol=1e-12)
    # and the interval agrees with scipy's paired percentile bootstrap (its own resamples)
    d = paired_deltas(y, p_a, 0.5, p_b, 0.45, n_resamples=4000, seed=5)
    ref = stats.bootstrap((y, p_a, p_b), lambda yy, a, b: skm.roc_auc_score(yy, a) - skm.roc_auc_score(yy, b),
                          paired=True, vectorized=False, n_resamples=4000, method="percentile",
                          random_state=np.random.default_rng(6)).confidence_interval
    assert d["auroc"]["ci_lo"] == pytest.approx(ref.low, abs=0.02)
    assert d["auroc"]["ci_hi"] == pytest.approx(ref.high, abs=0.02)
    assert d["auroc"]["delta"] == pytest.approx(skm.roc_auc_score(y, p_a) - skm.roc_auc_score(y, p_b), abs=1e-12)


def test_resample_weights_count_the_drawn_patients():
    W = resample_weights(np.random.default_rng(0), 4, 7)
    idx = np.random.default_rng(0).integers(0, 7, size=(4, 7))
    np.testing.assert_array_equal(W, np.stack([np.bincount(r, minlength=7) for r in idx]))


def test_delong_matches_hand_computation_and_is_one_for_identical_models():
    # 2 positives (0.9, 0.4), 2 negatives (0.5, 0.1) for a; b ranks every positive first
    y = np.array([1, 1, 0, 0])
    a = np.array([0.9, 0.4, 0.5, 0.1])
    b = np.array([0.9, 0.6, 0.5, 0.1])
    delta, se, p = delong_test(y, a, b)
    # AUC a = 3/4, AUC b = 1. V10(a) = (1, 1/2), V01(a) = (1/2, 1); b's components are all 1
    # var = var(V10_a)/2 + var(V01_a)/2 = 0.125/2 + 0.125/2 = 0.125 (sample variances, ddof=1)
    assert delta == pytest.approx(-0.25)
    assert se == pytest.approx(math.sqrt(0.125))
    assert p == pytest.approx(2 * stats.norm.sf(0.25 / math.sqrt(0.125)))
    assert delong_test(y, a, a) == (0.0, 0.0, 1.0)


def test_fold_summary_by_hand():
    s = fold_summary([0.6, 0.7, 0.8])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2) · sd / √k
    assert s["mean"] == pytest.approx(0.7)
    assert s["sd"] == pytest.approx(0.1)
    assert (s["ci_lo"], s["ci_hi"]) == pytest.approx((0.7 - half, 0.7 + half))
    one = fold_summary([0.65])
    assert one["mean"] == 0.65 and math.isnan(one["ci_lo"])


def test_flat_metrics_report_fold_means(suppressed_run):
    _, result = suppressed_run
    a: TaskResult = result.models[0].anon
    flat = a.flat_metrics("test/")
    by_fold = [f["auroc"] for f in a.fold_metrics]
    assert flat["test/auroc_fold_mean"] == pytest.approx(sum(by_fold) / len(by_fold))
    assert flat["test/auroc"] == pytest.approx(skm.roc_auc_score(a.y_true, a.y_prob))


def test_kfold_tests_every_patient_once_with_stratified_validation():
    df, _ = cached_cohort(400, seed=0)
    splits = patient_kfold(df, "icustayid", "mortality_90d", n_folds=4, val_fraction=0.25, seed=2)
    per_patient = [s.groupby(df["icustayid"]).agg(["nunique", "first"]) for s in splits]
    assert all((p["nunique"] == 1).all() for p in per_patient)
    tested = sum((p["first"] == "test").astype(int) for p in per_patient)
    assert (tested == 1).all()
    sizes = [(p["first"] == "test").sum() for p in per_patient]
    assert max(sizes) - min(sizes) <= 2
    val_share = [(p["first"] == "val").sum() / (p["first"] != "test").sum() for p in per_patient]
    np.testing.assert_allclose(val_share, 0.25, atol=0.01)
    again = patient_kfold(df.sample(frac=1.0, random_state=3), "icustayid", "mortality_90d", 4, 0.25, seed=2)
    assert all(a.equals(b.reindex(a.index)) for a, b in zip(splits, again, strict=True))


@pytest.mark.parametrize("override, message", [
    ("evaluation.protocol=guess", "evaluation.protocol"),
    ("evaluation.release_scope=train", "protocol=deploy"),
    ("evaluation.folds=0", "evaluation.folds"),
    ("evaluation.val_fraction=1.5", "evaluation.val_fraction"),
    ("evaluation.fresh_test_patients=-3", "fresh_test_patients"),
])
def test_bad_protocol_settings_are_config_errors(tmp_path, override, message):
    write_key(tmp_path)
    with pytest.raises(ConfigError, match=message):
        run_pipeline(compose_cfg(tmp_path, [override]))


def test_fresh_patients_need_simulated_data(tmp_path):
    cfg = compose_cfg(tmp_path, ["evaluation.fresh_test_patients=50"])
    cfg.data._target_ = "privhealth.data.loaders.load_csv"
    with pytest.raises(ConfigError, match="simulated"):
        with_fresh_cohort(cfg, None, 50)


def test_fresh_test_patients_are_the_only_test_patients(tmp_path):
    write_key(tmp_path)
    result = run_pipeline(compose_cfg(tmp_path, ["evaluation.fresh_test_patients=120", "anon=none"]))
    for o in result.models:
        assert o.anon.n_patients["test"] == o.raw.n_patients["test"] == 120
        assert o.anon.n_suppressed == 0  # the release covers the fresh patients (not a cached base-only one)
        assert o.deltas["utility/delta_auroc"] == 0.0
        assert len(o.anon.fold_metrics) == 1
        assert o.anon.patient_keys.min() >= 300  # keys rank the appended cohort after the 300 base patients
        assert o.anon.n_patients["train"] + o.anon.n_patients["val"] == 300


# ---------------------------------------------------------------------- deploy protocol
def _toy_plan(test_ids: list[int]) -> Plan:
    """The paper's toy table (patients 101-104), the given patients as the one fold's test patients."""
    ds = toy_table()
    fold = ds.frame["PatientID"].isin(test_ids).map({True: "test", False: "train"}).rename("fold")
    st = Settings(folds=1, val_fraction=0.25, protocols=("deploy",), scope="train", fresh=None)
    return Plan(st, ds, [fold], patient_keys(ds.frame["PatientID"]), [])


def test_deploy_maps_the_raw_test_records_through_the_release_recipe():
    plan = _toy_plan([103, 104])
    quasi = {"hierarchies": {"Age": {"type": "intervals", "levels": [[0, 31, 51, 101]]},
                             "ZIP": {"type": "prefix", "keep": [3], "mask_char": "X"}},
             "quasi": ["Age", "ZIP"], "sensitive": ["Diagnosis"], "target_is_sensitive": False}
    anonymizer = EnforcedAnonymizer("optimal", k=2, suppression=0.0, **quasi)
    release = anonymizer.anonymize(train_patients(plan, 0))  # made from patients 101 and 102 only
    assert set(release.frame.index) == {0, 1}
    (frame,) = frames_for("deploy", plan, release, lambda f: release)
    assert sorted(frame.index) == [0, 1, 2, 3]  # the release's rows, then the raw test records mapped
    pd.testing.assert_frame_equal(frame.loc[[0, 1]], release.frame)
    test = frame.loc[[2, 3]]
    raw = plan.dataset.frame.loc[[2, 3]]
    # the release's generalization, not the raw values: ages 35 and 60 get the release's age level
    # (the node that puts 25 and 40 together), ZIPs their release label
    assert set(test["Age"]) <= set(release.frame["Age"]) and not test["Age"].equals(raw["Age"].astype(str))
    assert set(test["ZIP"]) <= set(release.frame["ZIP"]) | {"123XX"}
    assert list(test.columns) == list(release.frame.columns)
    assert (test["Age"] == "*").all() and (release.frame["Age"] == "*").all()  # the node's age level
    pd.testing.assert_frame_equal(test, release.apply(raw))


def test_release_protocol_on_the_toy_table_is_the_release_itself():
    plan = _toy_plan([104])
    release = paper_rules_toy(plan)
    assert frames_for("release", plan, release) is release.frame


def paper_rules_toy(plan: Plan):
    return RuleBasedAnonymizer(paper_rules().steps, name="paper_rules").anonymize(plan.dataset)


def test_inductive_fold_releases_never_hold_test_patients(tmp_path):
    # the fold's dataset must not share the source's memoized fingerprint: the release cache would
    # answer with the release of every patient (seen before the fix)
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, ["anon=mondrian", "anon.k=10", "evaluation.protocol=deploy",
                                 "evaluation.release_scope=train"])
    ds = load_dataset(cfg)
    plan = make_plan(cfg, ds)
    cache = ReleaseCache(tmp_path / "releases")
    anonymizer = make_anonymizer(cfg)
    full, _, _ = anonymize(cfg, plan.dataset, cache, anonymizer)
    for f in range(len(plan.splits)):
        fold, _, _ = anonymize(cfg, train_patients(plan, f), cache, anonymizer)
        test_rows = plan.dataset.frame.index[plan.test_mask(f)]
        assert not fold.frame.index.isin(test_rows).any()
        assert full.frame.index.isin(test_rows).any()


def test_both_protocols_log_under_their_own_prefix_and_none_gives_zero(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, ["anon=none", "evaluation.protocol=[release,deploy]"])
    result = run_pipeline(cfg)
    client = MlflowClient(str(cfg.tracking.uri))
    for o in result.models:
        assert list(o.protocols) == ["release", "deploy"]
        np.testing.assert_array_equal(o.protocols["deploy"].patient_keys, o.raw.patient_keys)
        run = client.get_run(o.run_id).data.metrics
        assert run["deploy/n_patients_test"] == run["test/n_patients_test"] == run["raw/n_patients_test"]
        assert run["deploy/n_suppressed"] == 0
        assert run["utility/deploy_delta_auroc"] == run["utility/delta_auroc"] == 0.0


def test_utility_verdicts_read_the_paired_interval():
    assert utility_verdict("auroc", -0.03, -0.05, -0.01, 0.002).startswith("not reproduced: utility lost")
    assert utility_verdict("auroc", -0.01, -0.03, 0.01, 0.4).startswith("reproduced: no detectable loss")
    assert utility_verdict("f1", 0.02, 0.01, 0.03, 0.01).startswith("reproduced: utility gained")
    assert utility_verdict("f1", float("nan"), float("nan"), float("nan"), float("nan")).startswith("not measured")


def test_no_anonymization_trains_each_model_once_and_logs_it_under_both_prefixes(tmp_path, monkeypatch):
    """anon=none: the release is the raw data, so each model is fitted once per fold (2 folds, rf and xgboost:
    4 fits, not 8), and test/ (and deploy/) carry exactly the raw/ figures."""
    import privhealth.models.crossval as crossval

    fits: list[str] = []
    real = crossval.fit_and_predict

    def counting(model, *args, **kwargs):
        fits.append(type(model).__name__)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(crossval, "fit_and_predict", counting)
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, ["anon=none", "evaluation.protocol=[release,deploy]",
                                 "cache.enabled=false", "~attack"])
    result = run_pipeline(cfg)
    assert len(fits) == 2 * 2, fits  # folds × models
    client = MlflowClient(str(cfg.tracking.uri))
    for o in result.models:
        assert o.protocols["release"] is o.raw and o.protocols["deploy"] is o.raw
        logged = client.get_run(o.run_id).data.metrics
        raw = {k[len("raw/"):]: v for k, v in logged.items() if k.startswith("raw/")}
        assert {"auroc", "f1", "accuracy", "n_patients_test"} <= set(raw)
        for prefix in ("test/", "deploy/"):
            assert {k[len(prefix):]: v for k, v in logged.items() if k.startswith(prefix)} == raw
        assert logged["utility/auroc_retained"] == logged["utility/f1_retained"] == 1.0
