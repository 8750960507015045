"""The sweeper Hydra instantiates by default (``conf/hydra/sweeper/privhealth.yaml``): Hydra's basic grid,
with settings a job ignores dropped and identical jobs launched once (``privhealth.experiments.sweep_plan``)."""

from __future__ import annotations

from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override
from hydra.plugins.sweeper import Sweeper


class PrivhealthSweeper(BasicSweeper):
    """BasicSweeper whose job list is the planned one: no job runs a setting that does nothing, none twice."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        # BasicSweeper.__init__ calls super(BasicSweeper, self), and Hydra's plugin scan may re-execute its
        # module, rebinding that name to a new class this one does not derive from: set up the same state here.
        Sweeper.__init__(self)
        self.overrides = None
        self.batch_index = 0
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.hydra_context = None
        self.config = None
        self.launcher = None

    def split_arguments(self, overrides: list[Override], max_batch_size: int | None) -> list[list[list[str]]]:  # type: ignore[override]
        from hydra import compose

        from privhealth.experiments.sweep_plan import plan_sweep

        assert self.config is not None
        name = str(self.config.hydra.job.config_name)
        grid = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
        jobs: list[Any] = plan_sweep(grid, lambda ov: compose(config_name=name, overrides=ov, return_hydra_config=True), memo_key=name).jobs
        return [list(chunk) for chunk in BasicSweeper.split_overrides_to_chunks(jobs, max_batch_size)]
