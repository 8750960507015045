"""Paired differences between two models scored on the same patients (anonymized minus raw).

Both models' predictions are resampled with the *same* patient bootstrap resamples, so the
interval of the difference carries the correlation between them (the same hard and easy
patients); two separate intervals would overstate the noise. The p-value of an AUROC
difference is DeLong's test for two correlated ROC curves (DeLong et al. 1988, in the fast
form of Sun and Xu 2014); for the other metrics it is the paired bootstrap's two-sided
percentile p-value (twice the share of resampled differences on the far side of 0), the
smallest level at which the percentile interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from privhealth.models.evaluation import (
    bootstrap_chunk,
    check_level,
    classification_metrics,
    percentile_interval,
    resample_weights,
    weighted_metrics,
)


def paired_bootstrap(
    y_true: np.ndarray,
    p_a: np.ndarray,
    thr_a: float | np.ndarray,
    p_b: np.ndarray,
    thr_b: float | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per metric, the difference a − b on each of ``n_resamples`` patient resamples (shared)."""
    y = np.asarray(y_true).astype(bool)
    n = len(y)
    if n == 0:
        raise ValueError("paired bootstrap of an empty test set")
    if len(p_a) != n or len(p_b) != n:
        raise ValueError("paired predictions must hold one score per patient, in the same order")
    rng = np.random.default_rng(seed)
    chunk = bootstrap_chunk(n)
    parts = []
    for start in range(0, n_resamples, chunk):
        W = resample_weights(rng, min(chunk, n_resamples - start), n)
        a, b = (weighted_metrics(W, y, np.asarray(p, dtype=np.float64), t) for p, t in ((p_a, thr_a), (p_b, thr_b)))
        parts.append({k: a[k] - b[k] for k in a})
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def delong_test(y_true: np.ndarray, p_a: np.ndarray, p_b: np.ndarray) -> tuple[float, float, float]:
    """DeLong's test of AUROC(a) − AUROC(b) on the same patients: (difference, its SE, p-value)."""
    y = np.asarray(y_true).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan"), float("nan")
    v10, v01 = [], []
    for p in (np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)):
        pos, neg = p[y], p[~y]
        rank_all = stats.rankdata(np.r_[pos, neg])  # midranks: ties count one half
        v10.append((rank_all[:m] - stats.rankdata(pos)) / n)  # per positive: share of negatives below
        v01.append(1.0 - (rank_all[m:] - stats.rankdata(neg)) / m)  # per negative: share of positives above
    auc = np.array([v.mean() for v in v10])
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    delta = float(auc[0] - auc[1])
    if var <= 1e-300:
        return delta, 0.0, 1.0 if delta == 0 else 0.0
    se = float(np.sqrt(var))
    return delta, se, float(2 * stats.norm.sf(abs(delta) / se))


def paired_deltas(
    y_true: np.ndarray,
    p_a: np.ndarray,
    thr_a: float | np.ndarray,
    p_b: np.ndarray,
    thr_b: float | np.ndarray,
    metrics: Sequence[str] = ("auroc", "f1"),
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per metric: ``delta`` (a − b on all patients), percentile ``ci_lo``/``ci_hi`` and ``p``."""
    check_level(level)
    point_a = classification_metrics(y_true, p_a, thr_a)
    point_b = classification_metrics(y_true, p_b, thr_b)
    boot = paired_bootstrap(y_true, p_a, thr_a, p_b, thr_b, n_resamples, seed)
    out = {}
    for k in metrics:
        d = boot[k][~np.isnan(boot[k])]
        lo, hi = percentile_interval(d, level)
        p_boot = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))) if len(d) else float("nan")
        p = delong_test(y_true, p_a, p_b)[2] if k == "auroc" else float(p_boot)
        out[k] = {"delta": point_a[k] - point_b[k], "ci_lo": float(lo), "ci_hi": float(hi), "p": p}
    return out
