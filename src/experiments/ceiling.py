"""The ``task/bayes_*`` metrics: the simulated cohort's exact Bayes ceiling for the run's task.

Logged with every run on simulated data so that a model's score can be read against the best any
model could reach (an oracle that knows the latent frailty and the true MDP states; the models
only see noisy values). Runs on other data log nothing here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from privhealth.data.ceiling import cached_ceiling
from privhealth.data.simulator import FRAILTY, chain_thetas, simulate_cohort
from privhealth.models.features import TaskConfig

SIMULATOR = f"{simulate_cohort.__module__}.{simulate_cohort.__name__}"


def ceiling_metrics(cfg: DictConfig) -> dict[str, float]:
    """``task/bayes_auroc``, ``task/bayes_f1`` and ``task/bayes_accuracy``; {} off simulated data."""
    data = cfg.get("data") or {}
    if data.get("_target_") != SIMULATOR or data.get("max_blocs", 20) < 1:
        return {}
    task = TaskConfig.from_mapping(cfg.get("task"))
    if task.bloc_length not in (None, 1) or task.time_column not in (None, "bloc"):
        return {}  # a window not counted in the simulator's blocs: no exact ceiling
    window = min(task.window_blocs, int(data.get("max_blocs", 20)))
    thetas = chain_thetas(float(data.get("frailty", FRAILTY)))
    cache = Path(str(cfg.paths.cache)) if cfg.get("paths") and cfg.cache.get("enabled", True) else None
    return cached_ceiling(thetas, window, cache).metrics()


def claim_ceiling(metric: str, claimed: float, row: Any, claims: dict[str, float]) -> tuple[float, str]:
    """The oracle bound for a paper claim on a model run's metrics, and whether the claim is reachable.

    Accuracy and F1 are bounded by ``task/bayes_accuracy`` / ``task/bayes_f1``; precision and recall
    are claimed together, so they are bounded through the F1 they imply (their harmonic mean).
    ``(nan, "")`` where the run logged no ceiling (not simulated data) or the claim has no bound.
    """
    key = {"accuracy": "task/bayes_accuracy"}.get(metric, "task/bayes_f1")
    if metric not in ("accuracy", "f1", "precision", "recall") or row is None:
        return float("nan"), ""
    v = row.get(key)
    if v is None or not np.isfinite(float(v)):
        return float("nan"), ""
    bound = float(v)
    if metric in ("precision", "recall"):
        p, r = claims.get("precision", claimed), claims.get("recall", claimed)
        implied = 2 * p * r / (p + r)
        if implied > bound:
            return bound, (f"; unreachable on this cohort: the claimed precision and recall imply F1 {implied:.3f}, "
                           f"above the Bayes ceiling's best F1 {bound:.3f}")
        return bound, f"; reachable in principle (implied F1 {implied:.3f}, Bayes best F1 {bound:.3f})"
    name = "best accuracy" if metric == "accuracy" else "best F1"
    if claimed > bound:
        return bound, f"; unreachable on this cohort: the Bayes ceiling's {name} is {bound:.3f}"
    return bound, f"; reachable in principle (Bayes ceiling's {name} {bound:.3f})"
