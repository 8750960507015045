"""Hydra callbacks: one MLflow parent run per multirun sweep, created before any job starts.

Creating the SQLite store and the experiment once, in the launching process, before the
jobs start, avoids the races parallel jobs otherwise hit (schema migration, experiment
creation, ``database is locked``). The parent run's id is written into the sweep
folder, where every job (whatever process or host runs it) finds it and nests under it.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

from hydra import compose
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from privhealth.errors import ConfigError, PrivHealthError
from privhealth.experiments.cache import atomic_write_text
from privhealth.experiments.failed_jobs import failed_job_nums
from privhealth.experiments.liveness import (
    close_run,
    install_signal_handlers,
    process_tags,
    reap_stale_runs,
    track_open_run,
)
from privhealth.experiments.sweep_plan import SweepPlan, plan_sweep
from privhealth.experiments.tracking import ensure_experiment, git_commit

log = logging.getLogger("privhealth")
SWEEP_FILE = ".privhealth_sweep.json"


def sweep_info(sweep_dir: str | Path) -> dict[str, Any] | None:
    """The parent run and sweep id recorded by ``MlflowSweepCallback`` in ``sweep_dir``."""
    p = Path(sweep_dir) / SWEEP_FILE
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def current_sweep() -> dict[str, Any] | None:
    """Sweep info for the running Hydra job, when it is part of a multirun."""
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if str(hc.mode) != "RunMode.MULTIRUN":
        return None
    info = sweep_info(hc.sweep.dir)
    if info is not None:
        info = {**info, "job_num": int(hc.job.num), "sweep_dir": str(hc.sweep.dir)}
    return info


def experiment_choice(config: DictConfig) -> str | None:
    """The ``experiment=…`` config a sweep was launched with (``experiment=paper``), else None.

    The sweep run and every job run are tagged ``privhealth.experiment`` with it, so a
    report finds the latest sweep of an experiment.
    """
    choice = OmegaConf.select(config, "hydra.runtime.choices.experiment", default=None)
    return str(choice) if choice else None


class MlflowSweepCallback(Callback):
    """Creates the MLflow store, experiment and a parent run when a multirun starts; closes it at the end."""

    def __init__(self, run_name: str | None = None) -> None:
        self.run_name = run_name
        self._client: MlflowClient | None = None
        self._run_id: str | None = None
        self._sweep_id: str | None = None
        self._notes: list[str] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            preflight(config)
        except PrivHealthError as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            sys.exit(2)
        uri = str(config.tracking.uri)
        exp_id = ensure_experiment(uri, str(config.tracking.experiment), config.tracking.get("artifact_root"))
        sweep_id = uuid.uuid4().hex[:12]
        client = MlflowClient(tracking_uri=uri)
        # the sweep's command line (what multirun.yaml holds): HydraConfig is not set yet here
        overrides = [str(o) for o in (OmegaConf.select(config, "hydra.overrides.task") or [])]
        overrides += [str(o) for o in (OmegaConf.select(config, "hydra.overrides.hydra") or [])
                      if not str(o).startswith("hydra.mode=")]  # e.g. hydra/launcher=joblib
        experiment = experiment_choice(config)
        plan = sweep_plan(config) if is_grid_sweeper(config) else None
        self._notes = plan.warnings() if plan else []
        tags = {
            "privhealth.sweep_id": sweep_id,
            "privhealth.kind": "sweep",
            "privhealth.git_commit": git_commit(),
            "privhealth.overrides": " ".join(overrides)[:7000],
            "mlflow.note.content": f"Sweep over {' '.join(overrides) or 'the default config'}; "
                                   "sweep_summary.md compares its jobs.",
        }
        if experiment:
            tags["privhealth.experiment"] = experiment
        if self._notes:  # settings dropped from jobs that ignore them, grid jobs merged (sweep_plan.py)
            tags["privhealth.merged_jobs"] = "\n".join(self._notes)[:7000]
        run = client.create_run(
            exp_id, run_name=self.run_name or f"{experiment or 'sweep'}-{sweep_id}", tags={**process_tags(), **tags}
        )
        if plan is not None:
            client.log_metric(run.info.run_id, "sweep/grid_jobs", len(plan.grid))
            client.log_metric(run.info.run_id, "sweep/jobs", len(plan.jobs))
        install_signal_handlers()
        track_open_run(uri, run.info.run_id)  # ended KILLED if the sweep dies before its end
        self._client, self._run_id, self._sweep_id = client, run.info.run_id, sweep_id
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            sweep_dir / SWEEP_FILE,
            json.dumps({"parent_run_id": run.info.run_id, "sweep_id": sweep_id, "experiment_id": exp_id,
                        "swept": swept_keys(config),
                        **({"experiment": experiment} if experiment else {})}),
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._client is None or self._run_id is None:
            return
        exp_id = self._client.get_run(self._run_id).info.experiment_id
        reap_stale_runs(self._client, exp_id)  # jobs whose process was killed: KILLED, not RUNNING
        children = self._client.search_runs(
            [exp_id], filter_string=f"tags.mlflow.parentRunId = '{self._run_id}'", max_results=10000,
        )
        failed_jobs = {str(r.data.tags.get("privhealth.job_num", r.info.run_id))
                       for r in children if r.info.status in ("FAILED", "KILLED")}
        failed_jobs |= failed_job_nums(Path(str(config.hydra.sweep.dir)))  # bad settings: no run at all
        self._client.log_metric(self._run_id, "sweep/child_runs", len(children))
        self._client.log_metric(self._run_id, "sweep/failed_runs", len(failed_jobs))
        self._client.set_terminated(self._run_id, status="FINISHED")
        close_run(self._run_id)
        report_sweep(config, self._client, self._run_id, self._sweep_id, self._notes)


def report_sweep(config: DictConfig, client: MlflowClient, run_id: str, sweep_id: str | None,
                 notes: list[str] | None = None) -> None:
    """Print (and log on the parent run) the table of the sweep's jobs, then the link to the runs."""
    from rich.console import Console

    from privhealth.experiments.runs_view import link_from_cfg
    from privhealth.experiments.sweep_summary import rich_table, summarize_sweep

    sort_by = str(OmegaConf.select(config, "sweep_summary.sort_by", default="test/f1"))
    ascending = bool(OmegaConf.select(config, "sweep_summary.ascending", default=False))
    console = Console(width=max(200, Console().width))
    try:
        df = summarize_sweep(client, run_id, sweep_id or "", sort_by, ascending, notes or [])
        if not df.empty:
            console.print(rich_table(df, sort_by))
        for line in notes or []:
            console.print(line, soft_wrap=True)
    except Exception as exc:  # a summary must not turn a finished sweep into a failure
        log.warning("sweep summary not written: %s: %s", type(exc).__name__, exc)
    link = link_from_cfg(config)
    if link:
        console.print(f"Open the runs in MLflow (`make ui` first):  {link}", soft_wrap=True)


GRID_SWEEPERS = ("BasicSweeper", "PrivhealthSweeper")


def is_grid_sweeper(config: DictConfig) -> bool:
    """Whether the sweep's jobs are a grid fixed before launch (Hydra's basic sweeper or ours)."""
    return str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith(GRID_SWEEPERS)


def swept_keys(config: DictConfig) -> list[str]:
    """The config keys whose value differs between the sweep's jobs (``anon.k`` of ``anon.k=2,5``)."""
    if not is_grid_sweeper(config):
        return []
    values: dict[str, set[str]] = {}
    try:
        jobs = sweep_jobs(config)
    except HydraException:
        return []
    for job in jobs:
        for ov in job:
            key, _, value = ov.partition("=")
            values.setdefault(key.lstrip("+~"), set()).add(value)
    return [k for k, v in values.items() if len(v) > 1]


def grid_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the sweep's grid (params + command line), as Hydra crosses them."""
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(OmegaConf.select(config, "hydra.overrides.task") or [])
    parsed = OverridesParser.create().parse_overrides(args)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def sweep_plan(config: DictConfig) -> SweepPlan:
    """The grid with ignored settings dropped and identical jobs merged (what ``PrivhealthSweeper`` launches)."""
    name = str(OmegaConf.select(config, "hydra.job.config_name"))
    grid = grid_jobs(config)
    if not str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith("PrivhealthSweeper"):
        return SweepPlan(grid=grid, jobs=grid)  # Hydra's own basic sweeper launches the grid as it is
    return plan_sweep(grid, lambda ov: compose(config_name=name, overrides=ov, return_hydra_config=True),
                       memo_key=name)


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job the multirun will launch."""
    return sweep_plan(config).jobs


def preflight(config: DictConfig) -> None:
    """Compose and validate every job of the sweep before its parent run exists (ConfigError on the first bad one)."""
    from privhealth.experiments.anon_settings import refuse_ignored
    from privhealth.experiments.guard import credential_keys, refuse_credentials
    from privhealth.experiments.launcher import check_launcher
    from privhealth.experiments.pipeline import validate_job

    check_launcher(config)  # hydra/launcher=local_parallel's settings

    if not is_grid_sweeper(config):
        return  # another sweeper decides its jobs as it goes
    name = str(OmegaConf.select(config, "hydra.job.config_name"))
    for i, job in enumerate(sweep_jobs(config)):
        where = f"sweep job #{i} ({' '.join(job)})"
        try:
            cfg = compose(config_name=name, overrides=job)
        except HydraException as exc:
            raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
        try:
            refuse_credentials(credential_keys(cfg), "in the config")
            validate_job(cfg)
            refuse_ignored(cfg, job)  # a job's anon.k with anon=paper_rules does nothing: refused
        except PrivHealthError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except Exception as exc:  # instantiation of a bad value deep in a library
            raise ConfigError(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


