"""Hydra callbacks: one MLflow parent run per multirun sweep, created before any job starts.

Creating the SQLite store and the experiment once, in the launching process, before the
jobs start, avoids the races parallel jobs otherwise hit (schema migration, experiment
creation, ``database is locked``). The parent run's id is written into the sweep
folder, where every job (whatever process or host runs it) finds it and nests under it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from privhealth.experiments.cache import atomic_write_text
from privhealth.experiments.tracking import ensure_experiment, git_commit

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
        info = {**info, "job_num": int(hc.job.num)}
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

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        uri = str(config.tracking.uri)
        exp_id = ensure_experiment(uri, str(config.tracking.experiment), config.tracking.get("artifact_root"))
        sweep_id = uuid.uuid4().hex[:12]
        client = MlflowClient(tracking_uri=uri)
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        experiment = experiment_choice(config)
        tags = {
            "privhealth.sweep_id": sweep_id,
            "privhealth.kind": "sweep",
            "privhealth.git_commit": git_commit(),
            "privhealth.overrides": " ".join(overrides)[:7000],
        }
        if experiment:
            tags["privhealth.experiment"] = experiment
        run = client.create_run(
            exp_id, run_name=self.run_name or f"{experiment or 'sweep'}-{sweep_id}", tags=tags
        )
        self._client, self._run_id = client, run.info.run_id
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            sweep_dir / SWEEP_FILE,
            json.dumps({"parent_run_id": run.info.run_id, "sweep_id": sweep_id, "experiment_id": exp_id,
                        **({"experiment": experiment} if experiment else {})}),
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._client is None or self._run_id is None:
            return
        children = self._client.search_runs(
            [self._client.get_run(self._run_id).info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self._run_id}'",
            max_results=10000,
        )
        failed = sum(r.info.status == "FAILED" for r in children)
        self._client.log_metric(self._run_id, "sweep/child_runs", len(children))
        self._client.log_metric(self._run_id, "sweep/failed_runs", failed)
        self._client.set_terminated(self._run_id, status="FINISHED")
