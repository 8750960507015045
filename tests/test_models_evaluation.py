"""Metrics against hand computation and scikit-learn, bootstrap CIs, threshold rule, retained utility."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from privhealth.models.evaluation import (
    METRICS,
    bootstrap_ci,
    classification_metrics,
    majority_baseline,
    retained_fraction,
    retained_utility,
    select_threshold,
    weighted_metrics,
)

# TP=3, FN=1, FP=2, TN=4 at threshold 0.5
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.55, 0.4, 0.3, 0.1, 0.05])


def _scored(n: int, seed: int, prevalence: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * y - 1.5)))
    return y, np.round(p, 2)  # rounding makes ties


def test_fixed_confusion_matrix_matches_hand_computation_and_sklearn():
    m = classification_metrics(Y, P, 0.5)
    hand = {
        "accuracy": 7 / 10,
        "precision": 3 / 5,
        "recall": 3 / 4,
        "f1": 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4),
        "balanced_accuracy": (3 / 4 + 4 / 6) / 2,
        "brier": float(np.mean((P - Y) ** 2)),
        "auroc": 20 / 24,  # positive-negative pairs ranked correctly
    }
    for k, v in hand.items():
        assert m[k] == pytest.approx(v), k
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(Y, P))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(Y, P))
    vec = weighted_metrics(np.ones((1, len(Y))), Y, P, 0.5)
    for k in METRICS:
        assert vec[k][0] == pytest.approx(m[k]), k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_resample_metrics_equal_sklearn_on_the_resample(seed):
    y, p = _scored(300, seed)
    rng = np.random.default_rng(seed)
    W = np.bincount(rng.integers(0, 300, 300), minlength=300).astype(float)[None, :]
    vec = weighted_metrics(W, y, p, 0.35)
    idx = np.repeat(np.arange(300), W[0].astype(int))
    ref = classification_metrics(y[idx], p[idx], 0.35)
    for k in METRICS:
        assert vec[k][0] == pytest.approx(ref[k], abs=1e-12), k


def test_bootstrap_ci_contains_estimate_and_narrows_with_more_patients():
    widths = []
    for n in (200, 2000):
        y, p = _scored(n, seed=3)
        point = classification_metrics(y, p, 0.4)
        ci = bootstrap_ci(y, p, 0.4, n_resamples=500, seed=0)
        for k in METRICS:
            assert ci[k][0] <= point[k] <= ci[k][1], k
        widths.append({k: ci[k][1] - ci[k][0] for k in METRICS})
    for k in METRICS:
        assert widths[1][k] < widths[0][k], k


def test_bootstrap_is_seeded():
    """Same seed, same interval (its speed is timed by benchmarks/bootstrap_speed.py)."""
    y, p = _scored(2000, seed=4)
    a = bootstrap_ci(y, p, 0.4, n_resamples=1000, seed=1)
    assert a == bootstrap_ci(y, p, 0.4, n_resamples=1000, seed=1)
    assert a != bootstrap_ci(y, p, 0.4, n_resamples=1000, seed=2)


def test_threshold_maximises_validation_f1():
    t = select_threshold(Y, P)
    f1 = classification_metrics(Y, P, t)["f1"]
    grid = max(classification_metrics(Y, P, s)["f1"] for s in np.r_[P, 1.1])
    assert f1 == pytest.approx(grid)
    assert t == pytest.approx(0.65)  # halfway from the chosen score (0.7) to the next lower
    assert select_threshold(np.zeros(5), np.linspace(0, 1, 5)) == 0.5


def test_majority_baseline_shows_accuracy_is_misleading():
    y_train = np.r_[np.ones(20), np.zeros(80)]
    b = majority_baseline(y_train, Y)
    assert b["accuracy"] == pytest.approx(0.6)
    assert b["f1"] == 0.0 and b["recall"] == 0.0 and b["auroc"] == 0.5
    assert b["auprc"] == pytest.approx(0.4)


def test_retained_fraction_edge_cases():
    assert retained_fraction(0.6, 0.8) == pytest.approx(0.75)
    assert retained_fraction(0.9, 0.8) == pytest.approx(1.125)
    assert retained_fraction(0.0, 0.0) == 1.0
    assert np.isnan(retained_fraction(0.3, 0.0))
    assert np.isnan(retained_fraction(float("nan"), 0.5))
    got = retained_utility({"f1": 0.5, "auroc": 0.7}, {"f1": 0.6, "auroc": 0.8})
    assert got == {"f1_retained": pytest.approx(5 / 6), "auroc_retained": pytest.approx(7 / 8)}
