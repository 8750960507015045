"""Registers ``hydra/launcher=privhealth_parallel``: one process per job, a killed job fails only itself."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class PrivhealthParallelLauncherConf:
    _target_: str = "hydra_plugins.privhealth_launcher.privhealth_launcher.PrivhealthParallelLauncher"
    # jobs running at once (-1: one per CPU core)
    n_jobs: int = 2
    # how job processes start: spawn (fresh interpreter, safest), forkserver or fork
    start_method: str = "spawn"


ConfigStore.instance().store(
    group="hydra/launcher", name="privhealth_parallel", node=PrivhealthParallelLauncherConf,
    provider="privhealth",
)
