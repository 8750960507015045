"""A sweep's jobs in parallel processes, one process per job: a killed job fails that job, not the sweep.

Hydra's joblib launcher runs jobs in a loky pool; when one worker dies (``kill -9``, the
kernel's OOM killer) loky breaks the pool and the whole multirun aborts. Here each job runs
in a process of its own, at most ``n_jobs`` at once. A job whose process dies is noted in
the sweep folder (``sweep/failed_runs`` counts it), its MLflow run, left RUNNING by the dead
process, is marked KILLED at once (the pid check of ``liveness.reap_stale_runs``), and the
other jobs go on. The job's ``JobReturn`` is COMPLETED with the value ``None``, as for every
failed sweep job (``run.sweep_job``): a FAILED one would make Hydra's basic sweeper raise
after the batch, skipping the sweep callback that ends the parent run.

The Hydra plugin class (``hydra/launcher=privhealth_parallel``, also ``local_parallel``) lives
in ``hydra_plugins/privhealth_launcher/``, as Hydra requires; the work is done here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from privhealth.errors import ConfigError

log = logging.getLogger(__name__)
# Set in a job's own process: the job needs no further isolation (run.hydra_main then skips its fork).
JOB_PROCESS_ENV = "PRIVHEALTH_JOB_PROCESS"
START_METHODS = ("spawn", "forkserver", "fork")
STOP_GRACE_S = 60.0


@dataclass(frozen=True)
class LauncherSettings:
    """``hydra.launcher``'s settings, validated: ``n_jobs`` processes at once, started by ``start_method``."""

    n_jobs: int
    start_method: str

    @classmethod
    def of(cls, n_jobs: Any, start_method: Any) -> LauncherSettings:
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (n_jobs >= 1 or n_jobs == -1):
            raise ConfigError(f"hydra.launcher.n_jobs must be an integer ≥ 1 or -1 (all cores), got {n_jobs!r}")
        if start_method not in START_METHODS:
            raise ConfigError(f"hydra.launcher.start_method must be one of {START_METHODS}, got {start_method!r}")
        return cls((os.cpu_count() or 1) if n_jobs == -1 else n_jobs, str(start_method))


def _job_main(payload: bytes, conn: Connection) -> None:
    """A job's process: run one Hydra job and send its JobReturn back; never the parent's exit hooks."""
    code = 0
    try:
        os.environ[JOB_PROCESS_ENV] = "1"
        idx, overrides, hydra_context, config, task_function, singleton_state = cloudpickle.loads(payload)
        setup_globals()
        Singleton.set_state(singleton_state)
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        ret = run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        try:
            conn.send_bytes(cloudpickle.dumps(ret))
        except Exception as exc:  # an unpicklable exception inside a FAILED return: send its text
            ret.return_value = RuntimeError(f"{type(exc).__name__} while returning the job's result: {exc}")
            ret.hydra_cfg = None
            conn.send_bytes(cloudpickle.dumps(ret))
    except BaseException:  # an interrupt: the job's run already ended KILLED
        logging.getLogger("privhealth").exception("job process failed")
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)  # with fork, the parent's atexit hooks (ending the sweep's run) must not run here


def failed_return(overrides: Sequence[str], config: DictConfig, why: str) -> JobReturn:
    """The JobReturn of a job whose process died: COMPLETED with the value None (see the module doc)."""
    ret = JobReturn(overrides=list(overrides), cfg=config, status=JobStatus.COMPLETED)
    ret.return_value = None
    return ret


def job_died(config: DictConfig, idx: int, why: str) -> None:
    """Note the dead job in the sweep folder and mark its RUNNING run KILLED (its owner pid is gone)."""
    from privhealth.experiments.failed_jobs import record_failed_job
    from privhealth.experiments.tracking import ensure_experiment

    log.error("job %d failed: its process was %s", idx, why)
    record_failed_job(str(config.hydra.sweep.dir), idx, f"process {why}")
    tracking = config.get("tracking")
    if tracking is not None:
        try:  # what every start does: reap this host's RUNNING runs whose process died
            ensure_experiment(str(tracking.uri), str(tracking.experiment), tracking.get("artifact_root"))
        except Exception as exc:  # the sweep's end reaps them again
            log.warning("could not mark job %d's run KILLED now (%s); the sweep's end will", idx, type(exc).__name__)


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {-exitcode}"
    return f"ended with exit status {exitcode} before returning a result"


def launch(
    settings: LauncherSettings,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
) -> list[JobReturn]:
    """Run the jobs, at most ``settings.n_jobs`` processes at once; one JobReturn per job, in order."""
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log.info("privhealth_parallel (%d processes, %s) is launching %d jobs in %s", settings.n_jobs,
             settings.start_method, len(job_overrides), sweep_dir)
    for i, overrides in enumerate(job_overrides):
        log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(overrides)))
    ctx: Any = multiprocessing.get_context(settings.start_method)
    state = Singleton.get_state()
    todo = list(enumerate(job_overrides))
    results: dict[int, JobReturn] = {}
    running: dict[int, tuple[Any, Connection]] = {}
    try:
        while todo or running:
            while todo and len(running) < settings.n_jobs:
                i, overrides = todo.pop(0)
                payload = cloudpickle.dumps(
                    (initial_job_idx + i, list(overrides), hydra_context, config, task_function, state)
                )
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_job_main, args=(payload, send), name=f"privhealth-job-{initial_job_idx + i}")
                proc.start()
                send.close()
                running[i] = (proc, recv)
            ready = wait([p.sentinel for p, _ in running.values()] + [c for _, c in running.values()])
            for i, (proc, recv) in list(running.items()):
                if proc.sentinel not in ready and recv not in ready:
                    continue
                ret = None
                try:
                    if recv.poll():
                        ret = cloudpickle.loads(recv.recv_bytes())
                except (EOFError, OSError):  # the process died before or while sending
                    ret = None
                if ret is None and proc.is_alive():
                    continue  # the result was not complete yet
                proc.join()
                recv.close()
                del running[i]
                if ret is None or not isinstance(ret, JobReturn):
                    why = _describe(proc.exitcode)
                    job_died(config, initial_job_idx + i, why)
                    ret = failed_return(job_overrides[i], config, why)
                results[i] = ret
    except BaseException:  # an interrupt of the sweep: stop the jobs, whose runs end KILLED
        from privhealth.experiments.liveness import interrupt_taken

        interrupt_taken()  # no re-delivery while the jobs are stopped
        stop(running.values())
        raise
    return [results[i] for i in range(len(job_overrides))]


def stop(running: Any) -> None:
    """SIGTERM every running job (its signal handler ends its run KILLED), then SIGKILL the stragglers."""
    procs = [p for p, _ in running]
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(STOP_GRACE_S)
        if p.is_alive():
            p.kill()
            p.join()


def settings_of(launcher_cfg: Any) -> LauncherSettings:
    """The launcher's settings from its Hydra config (``hydra.launcher``) or keyword arguments."""
    cfg: dict[Any, Any] = (OmegaConf.to_container(launcher_cfg, resolve=True)  # type: ignore[assignment]
                           if isinstance(launcher_cfg, DictConfig) else dict(launcher_cfg))
    return LauncherSettings.of(cfg.get("n_jobs", 2), cfg.get("start_method", "spawn"))


def check_launcher(config: DictConfig) -> None:
    """A sweep's ``hydra.launcher`` settings, when it is this launcher (ConfigError before any run exists)."""
    launcher = OmegaConf.select(config, "hydra.launcher", default=None)
    if launcher is not None and str(launcher.get("_target_", "")).endswith(".PrivhealthParallelLauncher"):
        settings_of({k: v for k, v in launcher.items() if k != "_target_"})


def register_launcher() -> None:
    """Make ``hydra/launcher=privhealth_parallel`` known to Hydra.

    Hydra finds plugins by walking the ``hydra_plugins`` namespace package on ``sys.path``; under
    ``pip install -e .`` setuptools maps the package through an import hook that walk cannot list,
    so the entry point registers the plugin (config and class) itself. Idempotent.
    """
    from hydra.core.plugins import Plugins

    import hydra_plugins.privhealth_launcher.config  # noqa: F401  (stores the config group entry)
    from hydra_plugins.privhealth_launcher.privhealth_launcher import PrivhealthParallelLauncher
    from hydra_plugins.privhealth_launcher.privhealth_sweeper import PrivhealthSweeper

    Plugins.instance().register(PrivhealthParallelLauncher)
    Plugins.instance().register(PrivhealthSweeper)  # hydra/sweeper=privhealth, the default (conf/config.yaml)
