"""Synthetic releases (anon=synthetic, anon=dp_synthetic): no raw identifier or record copied, MST's
marginals follow ε, the same seed gives the same release, and the pipeline logs ε beside the risk
and test metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.anon.mst import cdp_delta, cdp_rho, mst
from privhealth.anon.patient_table import WindowMean, patient_table
from privhealth.anon.synthetic import SyntheticAnonymizer, slot_positions
from privhealth.data.simulator import simulate_cohort
from privhealth.experiments.pipeline import run_pipeline

COARSEN = {"zip": {"type": "prefix", "keep": [3], "mask_char": "*"},
           "date_of_birth": {"type": "dates", "levels": ["year"]},
           "admission_date": {"type": "dates", "levels": ["month"]}}


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(n_patients=150, seed=3)


@pytest.fixture(scope="module")
def releases(cohort):
    copula = SyntheticAnonymizer(method="copula", coarsen=COARSEN, seed=5).anonymize(cohort)
    dp = SyntheticAnonymizer(method="mst", epsilon=1.0, coarsen=COARSEN, iters=50, seed=5).anonymize(cohort)
    return {"copula": copula, "mst": dp}


# ---------------------------------------------------------------------- no raw identifier, no raw record
@pytest.mark.parametrize("method", ["copula", "mst"])
def test_no_raw_identifier_in_the_release(cohort, releases, method):
    rel, raw = releases[method], cohort.frame
    schema = cohort.schema
    assert not set(schema.direct) & set(rel.frame.columns)  # dropped, never synthesized
    ids = rel.frame[schema.entity].astype(str)
    assert ids.str.fullmatch(r"SYN\d{6}").all() and ids.is_unique
    raw_values = set()
    for c in [*schema.direct, schema.entity, "zip", "date_of_birth"]:
        raw_values |= set(raw[c].astype(str))
    cells = set(rel.frame.astype(str).to_numpy().ravel())
    assert not cells & raw_values
    assert rel.frame["zip"].str.fullmatch(r"\d{3}\*\*").all()


@pytest.mark.parametrize("method", ["copula", "mst"])
def test_no_raw_record_copied_on_quasi_identifiers_and_sensitive(cohort, releases, method):
    rel = releases[method]
    cols = [*cohort.schema.quasi, *cohort.schema.sensitive, cohort.schema.target]
    # the raw patients in the release's own value space (QIs coarsened as the release's were)
    coarse = SyntheticAnonymizer(method="copula", coarsen=COARSEN)._coarsener(cohort).transform(cohort.frame)
    raw_rows = coarse.drop_duplicates(cohort.schema.entity)[cols].astype(str)
    syn_rows = rel.frame[cols].astype(str)
    copied = syn_rows.merge(raw_rows, on=cols, how="inner")
    assert len(copied) == 0
    assert len(rel.frame) == cohort.n_entities  # one synthetic patient per source patient


@pytest.mark.parametrize("method", ["copula", "mst"])
def test_no_missing_values_invented(cohort, releases, method):
    """A column complete in the source is complete in the release (the sensitive elixhauser must be)."""
    rel = releases[method]
    complete = [c for c in rel.frame.columns if c in cohort.frame and cohort.frame[c].notna().all()]
    assert "elixhauser" in complete
    assert rel.frame[complete].notna().all().all()


def test_slots_pair_labels_in_order():
    """Docstring example: source [0, 1, 0], synthetic [1, 0, 0] → synthetic 0 takes source 1."""
    pos = slot_positions(np.array([0, 1, 0]), np.array([1, 0, 0]), np.random.default_rng(0))
    assert pos[0] == 1 and sorted(pos[1:]) == [0, 2]
    pos = slot_positions(np.array([0, 0, 1, 1]), np.array([1, 1, 1, 0]), np.random.default_rng(0))
    assert sorted(pos) == [0, 1, 2, 3]
    assert int((np.array([0, 0, 1, 1])[pos] != np.array([1, 1, 1, 0])).sum()) == 1  # |3 - 2| mismatched


def test_window_mean_worked_example():
    """Module docstring: HR 80, 100, 120 in blocs 1-3, window 2 → 90 on every row; statics unchanged."""
    f = pd.DataFrame({"id": [1, 1, 1, 2], "bloc": [3, 1, 2, 1], "HR": [120.0, 80.0, 100.0, 70.0],
                      "age": [50.0, 50.0, 50.0, 60.0]})
    step = WindowMean("id", ["bloc"], window=2).fit(f)
    assert step.columns == ["HR"]
    out = step.transform(f)
    assert out["HR"].tolist() == [90.0, 90.0, 90.0, 70.0] and out.index.equals(f.index)
    table, _ = patient_table(f, "id", ["bloc"], 2, ["HR", "age"])
    assert table.loc[1].tolist() == [90.0, 50.0] and table.loc[2].tolist() == [70.0, 60.0]


def test_deploy_apply_maps_raw_records_like_the_release(cohort, releases):
    rel = releases["mst"]
    out = rel.apply(cohort.frame)
    assert out.index.equals(cohort.frame.index) and list(out.columns) == list(rel.frame.columns)
    assert out["zip"].str.fullmatch(r"\d{3}\*\*").all()
    assert not set(cohort.schema.direct) & set(out.columns)


# ---------------------------------------------------------------------- MST: ε decides the fidelity
def _skewed(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, int]]:
    rng = np.random.default_rng(seed)
    a = rng.choice(3, size=n, p=[0.8, 0.1, 0.1])
    b = np.where(rng.random(n) < 0.9, a, rng.choice(3, size=n))  # b follows a
    c = rng.choice(4, size=n, p=[0.7, 0.1, 0.1, 0.1])
    return pd.DataFrame({"a": a, "b": b, "c": c}), {"a": 3, "b": 3, "c": 4}


def _tvd(x: np.ndarray, y: np.ndarray, size: int) -> float:
    p, q = np.bincount(x, minlength=size) / x.size, np.bincount(y, minlength=size) / y.size
    return 0.5 * float(np.abs(p - q).sum())


def test_mst_marginals_close_at_large_epsilon_and_degraded_at_tiny_epsilon():
    """Tolerance: 1-way total variation < 0.03 and the (a, b) 2-way < 0.06 at ε=1000 (noise σ≈1 count
    on 3000 rows); at ε=0.01 (σ in the thousands) every value is 'rare' and drawn at random: the
    0.8/0.1/0.1 marginal of a is then off by > 0.2 (uniform: 0.47)."""
    data, sizes = _skewed(3000, 0)
    big = mst(data, sizes, 1000.0, 1e-6, seed=1, iters=200)
    for c in data:
        assert _tvd(data[c].to_numpy(), big[c].to_numpy(), sizes[c]) < 0.03, c
    ab = lambda f: f["a"].to_numpy() * 3 + f["b"].to_numpy()  # noqa: E731
    assert _tvd(ab(data), ab(big), 9) < 0.06
    tiny = mst(data, sizes, 0.01, 1e-6, seed=1, iters=200)
    assert _tvd(data["a"].to_numpy(), tiny["a"].to_numpy(), 3) > 0.2


def test_mst_same_seed_same_codes_other_seed_other_codes():
    data, sizes = _skewed(500, 1)
    one = mst(data, sizes, 1.0, 1e-6, seed=7, iters=50)
    assert one.equals(mst(data, sizes, 1.0, 1e-6, seed=7, iters=50))
    assert not one.equals(mst(data, sizes, 1.0, 1e-6, seed=8, iters=50))


def test_cdp_rho_inverts_cdp_delta_and_beats_the_simple_bound():
    """ρ is the largest budget whose tight conversion gives δ; the simple bound ε = ρ + 2√(ρ log 1/δ)
    (Bun & Steinke 2016) is looser, so its ρ must be smaller."""
    assert cdp_rho(1.0, 1e-9) == pytest.approx(0.014973, rel=1e-4)  # the docstring example
    for eps, delta in [(1.0, 1e-9), (8.0, 1e-6), (0.1, 1e-5)]:
        rho = cdp_rho(eps, delta)
        assert cdp_delta(rho, eps) == pytest.approx(delta, rel=1e-3)
        simple = (math.sqrt(math.log(1 / delta) + eps) - math.sqrt(math.log(1 / delta))) ** 2
        assert rho > simple


# ---------------------------------------------------------------------- determinism
@pytest.mark.parametrize("method", ["copula", "mst"])
def test_same_seed_same_release(cohort, releases, method):
    kw = {"epsilon": 1.0, "iters": 50} if method == "mst" else {}
    again = SyntheticAnonymizer(method=method, coarsen=COARSEN, seed=5, **kw).anonymize(cohort)
    pd.testing.assert_frame_equal(again.frame, releases[method].frame)
    other = SyntheticAnonymizer(method=method, coarsen=COARSEN, seed=6, **kw).anonymize(cohort)
    assert not other.frame.equals(releases[method].frame)


# ---------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_dp_synthetic_run_logs_epsilon_risk_and_test_metrics(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, ["anon=dp_synthetic", "anon.epsilon=1", "anon.iters=50", "model=rf",
                                 "model.rf.n_estimators=50", "model.rf.n_jobs=1", "data.n_patients=150",
                                 "evaluation.folds=2", "evaluation.n_bootstrap=50",
                                 "evaluation.inference_timing=null", "release.export=false"], fast=False)
    result = run_pipeline(cfg)
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    m = client.get_run(result.run_ids[0]).data.metrics
    assert m["privacy/epsilon"] == 1.0
    assert m["privacy/delta"] == pytest.approx(1 / 150**2)
    for name in ("risk/pii_leakage", "risk/linkage_reid_rate", "risk/prosecutor_max", "test/auroc", "test/f1",
                 "raw/auroc"):
        assert math.isfinite(m[name]), name
    assert m["risk/pii_leakage"] == 0.0  # no raw identifier reached the release
    assert result.release.method == "dp_synthetic" and len(result.release.frame) == 150


def test_cached_release_reads_back_and_maps_new_records_the_same(tmp_path, cohort, releases):
    from privhealth.experiments.cache import ReleaseCache

    rel = releases["mst"]
    cache = ReleaseCache(tmp_path)
    cache.get_or_compute("ab" * 32, lambda: rel)
    back, hit = cache.get_or_compute("ab" * 32, lambda: pytest.fail("recomputed"))
    assert hit and back.details["dp"]["epsilon"] == 1.0
    pd.testing.assert_frame_equal(back.frame, rel.frame, check_index_type=False)
    mapped, again = rel.apply(cohort.frame), back.apply(cohort.frame)
    cols = [c for c in mapped.columns if c != cohort.schema.entity]  # fresh random codes each time
    pd.testing.assert_frame_equal(again[cols], mapped[cols])
