"""The 95 % bootstrap interval against independent computations (sklearn per resample + numpy
percentiles, scipy.stats.bootstrap, scipy's t interval), so a wrong percentile step fails.

Resampling is documented in ``resample_weights``: row b of ``rng.integers(0, n, (B, n))`` with
``rng = np.random.default_rng(seed)`` (one chunk while B * n <= 4,000,000). The oracle below
redraws those rows, scores each resample with scikit-learn and takes ``np.percentile`` at
2.5 and 97.5 of the defined values.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from privhealth.errors import ConfigError
from privhealth.models.evaluation import (
    METRICS,
    bootstrap_ci,
    bootstrap_metrics,
    fold_summary,
    percentile_interval,
)


def _scored(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * y - 1.0)))
    return y, np.round(p, 2)


def _sklearn(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, float]:
    pred = (p >= t).astype(int)
    two = 0 < y.sum() < len(y)
    nan = float("nan")
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred) if two else nan,
        "brier": skm.brier_score_loss(y, p) if two else float(np.mean((p - y) ** 2)),
        "auroc": skm.roc_auc_score(y, p) if two else nan,
        "auprc": skm.average_precision_score(y, p) if y.sum() else nan,
    }


def _oracle(y, p, t, b, seed):
    idx = np.random.default_rng(seed).integers(0, len(y), size=(b, len(y)))
    rows = [_sklearn(y[i], p[i], t) for i in idx]
    return {k: np.array([r[k] for r in rows]) for k in METRICS}


def test_95_percent_interval_equals_sklearn_per_resample_and_numpy_percentiles():
    """Kills the mutant "the 95 % bootstrap interval computed as 90 %" (``src/models/evaluation.py``,
    percentile step: ``100 * (1 - level) / 2`` turned into ``100 * (1 - level)`` or the levels
    swapped): every endpoint must equal np.percentile(..., [2.5, 97.5]) of the oracle's values."""
    y, p = _scored(120, seed=7)
    b, seed, t = 400, 3, 0.45
    want = _oracle(y, p, t, b, seed)
    got_values = bootstrap_metrics(y, p, t, n_resamples=b, seed=seed)
    ci = bootstrap_ci(y, p, t, n_resamples=b, seed=seed)
    for k in METRICS:
        np.testing.assert_allclose(got_values[k], want[k], rtol=0, atol=1e-12, err_msg=k)
        v = want[k][~np.isnan(want[k])]
        lo, hi = np.percentile(v, [2.5, 97.5])
        assert ci[k] == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12)), k
        lo90, hi90 = np.percentile(v, [5, 95])
        assert (lo90, hi90) != pytest.approx(ci[k]), k  # the test data tells the levels apart
    ci90 = bootstrap_ci(y, p, t, n_resamples=b, level=0.90, seed=seed)
    assert ci90["accuracy"] == pytest.approx(tuple(np.percentile(want["accuracy"], [5, 95])), abs=1e-12)


def test_accuracy_interval_agrees_with_scipy_bootstrap():
    """scipy.stats.bootstrap (percentile method, 20,000 resamples) of the mean correctness gives
    the accuracy interval up to Monte-Carlo error (about 0.002 here); a 90 % interval is 0.008
    narrower on each side and fails."""
    y, p = _scored(400, seed=11)
    t = 0.5
    correct = ((p >= t).astype(int) == y).astype(float)
    res = stats.bootstrap((correct,), np.mean, confidence_level=0.95, n_resamples=20_000,
                          method="percentile", random_state=np.random.default_rng(0))
    lo, hi = bootstrap_ci(y, p, t, n_resamples=20_000, seed=5)["accuracy"]
    assert lo == pytest.approx(res.confidence_interval.low, abs=0.004)
    assert hi == pytest.approx(res.confidence_interval.high, abs=0.004)


def test_percentile_interval_on_a_known_sample():
    """0, 1, ..., 100: the p-th percentile (linear interpolation) is p itself."""
    v = np.arange(101.0)
    assert percentile_interval(v, 0.95) == pytest.approx((2.5, 97.5), abs=1e-12)
    assert percentile_interval(v, 0.90) == pytest.approx((5.0, 95.0), abs=1e-12)
    assert percentile_interval(v, 0.50) == pytest.approx((25.0, 75.0), abs=1e-12)
    with_nan = np.r_[v, np.nan, np.nan]  # undefined resamples are left out, not counted
    assert percentile_interval(with_nan, 0.95) == pytest.approx((2.5, 97.5), abs=1e-12)
    lo, hi = percentile_interval(np.array([np.nan]), 0.95)
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, 1.5])
def test_level_outside_the_unit_interval_is_refused(level):
    y, p = _scored(20, seed=1)
    with pytest.raises(ConfigError, match="confidence level"):
        bootstrap_ci(y, p, 0.5, n_resamples=10, level=level)


def test_fold_summary_equals_scipy_t_interval():
    """Five folds 0.70, 0.72, 0.75, 0.71, 0.77: mean 0.73, sd sqrt(0.00085) by hand."""
    v = [0.70, 0.72, 0.75, 0.71, 0.77]
    s = fold_summary(v + [float("nan")])  # a NaN fold is left out
    assert s["mean"] == pytest.approx(0.73)
    assert s["sd"] == pytest.approx(np.sqrt(0.0034 / 4))
    assert s["se"] == pytest.approx(np.sqrt(0.0034 / 4) / np.sqrt(5))
    lo, hi = stats.t.interval(0.95, 4, loc=0.73, scale=stats.sem(v))
    assert (s["ci_lo"], s["ci_hi"]) == pytest.approx((lo, hi))
    one = fold_summary([0.8])
    assert one["mean"] == 0.8 and np.isnan(one["sd"]) and np.isnan(one["ci_lo"])
    assert np.isnan(fold_summary([])["mean"])
