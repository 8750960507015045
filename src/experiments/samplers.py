"""Samplers for a study shared by several workers: one search, no parameter set run twice.

Every worker builds its sampler with the same ``study.seed``; seeded once per process, they
would all draw the same sequence (trial 1 = trial 0, 3 = 2 …). ``TrialSeededSampler``
instead re-seeds the sampler before each trial from (seed, trial number): trial numbers are
unique in a storage, so workers draw different parameters, and a rerun with the same seed
draws the same ones for the same trial numbers. ``duplicate_of`` catches the remaining
collisions (a small categorical space, a model-based sampler converging), which the
trade-off loop prunes instead of running again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from privhealth.errors import ConfigError

SAMPLERS = ("tpe", "nsga2", "random")


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number``: a hash of (study seed, trial number); None stays unseeded."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"privhealth-trial\x00{seed}\x00{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class TrialSeededSampler(BaseSampler):
    """Delegates to a sampler rebuilt before every trial with that trial's own seed."""

    def __init__(self, factory: Callable[[int | None], BaseSampler], seed: int | None) -> None:
        self._factory = factory
        self._seed = seed
        self._inner = factory(seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._inner = self._factory(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def make_sampler(study: DictConfig, mode: str) -> BaseSampler:
    """The configured sampler (``study.sampler``), seeded per trial from ``study.seed``."""
    name = str(study.sampler)
    if name not in SAMPLERS:
        raise ConfigError(f"study.sampler: unknown sampler '{name}' ({', '.join(SAMPLERS)})")
    seed = None if study.get("seed") is None else int(study.seed)
    constraints = (lambda t: t.user_attrs.get("constraint", [1.0])) if mode == "constrained" else None
    startup = int(study.get("startup_trials", 5))

    def build(s: int | None) -> BaseSampler:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=s, constraints_func=constraints, n_startup_trials=startup)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=s, constraints_func=constraints)
        return optuna.samplers.RandomSampler(seed=s)

    return TrialSeededSampler(build, seed)


# states whose parameters are not sampled again: done, running, or failed for a reason that would recur
TAKEN = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING)


def duplicate_of(study: optuna.Study, number: int, params: Mapping[str, Any]) -> int | None:
    """The number of an earlier live or finished trial with exactly ``params``, else None.

    Trials failed as stale (their worker died) are left out: their retry carries the same
    parameters on purpose. So are trials pruned as duplicates themselves.
    """
    for t in study.get_trials(deepcopy=False, states=TAKEN):
        if t.number == number or t.user_attrs.get("stale") or t.user_attrs.get("duplicate_of") is not None:
            continue
        if t.params == dict(params):
            return t.number
    return None
