"""The ``task/bayes_*`` metrics: the simulated cohort's exact Bayes ceiling for the run's task.

Logged with every run on simulated data so that a model's score can be read against the best any
model could reach (an oracle that knows the latent frailty and the true MDP states; the models
only see noisy values). Runs on other data log nothing here.
"""

from __future__ import annotations

from pathlib import Path

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
