"""The launcher class Hydra instantiates (plugins must live under ``hydra_plugins``); the work is in
``privhealth.experiments.launcher``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class PrivhealthParallelLauncher(Launcher):
    """Jobs in parallel processes, one per job: a job whose process is killed fails alone."""

    def __init__(self, **kwargs: Any) -> None:
        from privhealth.experiments.launcher import settings_of

        self.settings = settings_of(kwargs)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from privhealth.experiments.launcher import launch

        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        return launch(self.settings, self.hydra_context, self.task_function, self.config, job_overrides,
                      initial_job_idx)
