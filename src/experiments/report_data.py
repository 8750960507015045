"""What the paper report reads from the MLflow store: the latest paper sweep, its runs, their
metrics, step-metric histories and artifacts, and the latest trade-off study.

Everything comes from the tracking store (``MlflowClient.search_runs``, ``get_metric_history``,
``download_artifacts``), never from in-memory results, so a report can be rebuilt from any
store at any time. A missing run, metric or artifact is returned as None / NaN / an empty
frame and named by the caller as "not measured"; only an unreachable store raises.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from privhealth.experiments.artifacts import HISTORY_KEYS

log = logging.getLogger("privhealth.report")
RAW_TARGET = "NoAnonymization"
RAW_VARIANT = "none"
# release-level metric families: equal in every model run of a job (and in its invocation run)
RELEASE_PREFIXES = ("privacy/", "risk/", "utility/ncp", "utility/discernibility", "utility/aecs",
                    "utility/arx_loss", "utility/nonuniform_entropy")


class Store:
    """Read access to one MLflow experiment; artifacts are downloaded once into ``scratch``."""

    def __init__(self, uri: str, experiment: str, scratch: str | Path) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.uri = uri
        self.experiment = experiment
        self.client = MlflowClient(tracking_uri=uri)
        # MLflow 3 resolves a run's "model/" artifacts through the logged model "model", looked up
        # in the *global* tracking store, whatever the client's URI ("Logged model ... not found")
        mlflow.set_tracking_uri(uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id: str | None = exp.experiment_id if exp is not None else None
        self.scratch = Path(scratch)

    def search(self, filter_string: str = "", order_by: Sequence[str] | None = None,
               max_results: int = 10_000) -> list[Run]:
        """Runs of the experiment matching ``filter_string`` (none when the experiment is absent)."""
        if self.experiment_id is None:
            return []
        return list(self.client.search_runs([self.experiment_id], filter_string, order_by=list(order_by or []),
                                            max_results=max_results))

    def artifact(self, run_id: str, path: str) -> Path | None:
        """The local copy of one artifact of a run, or None (logged) when the run lacks it."""
        dst = self.scratch / run_id
        dst.mkdir(parents=True, exist_ok=True)
        try:
            return Path(self.client.download_artifacts(run_id, path, str(dst)))
        except (MlflowException, OSError) as exc:
            log.debug("artifact %s of run %s: %s", path, run_id, exc)
            return None

    def artifact_paths(self, run_id: str, folder: str) -> list[str]:
        """Artifact paths directly under ``folder`` of a run (empty when there is none)."""
        try:
            return [a.path for a in self.client.list_artifacts(run_id, folder) if not a.is_dir]
        except (MlflowException, OSError):
            return []

    def text(self, run_id: str, path: str) -> str | None:
        p = self.artifact(run_id, path)
        return p.read_text() if p is not None and p.is_file() else None

    def json(self, run_id: str, path: str) -> dict[str, Any] | None:
        text = self.text(run_id, path)
        try:
            return json.loads(text) if text is not None else None
        except ValueError:
            log.warning("artifact %s of run %s is not valid JSON", path, run_id)
            return None

    def csv(self, run_id: str, path: str) -> pd.DataFrame | None:
        p = self.artifact(run_id, path)
        if p is None or not p.is_file():
            return None
        try:
            return pd.read_csv(p)
        except (ValueError, OSError):
            log.warning("artifact %s of run %s is not a readable CSV", path, run_id)
            return None

    def history(self, run_id: str) -> pd.DataFrame:
        """Per-epoch step metrics (Fig. 9) as columns epoch, train_loss, val_loss, ...; empty if none."""
        cols: dict[str, pd.Series] = {}
        for column, key in HISTORY_KEYS.items():
            try:
                hist = self.client.get_metric_history(run_id, key)
            except MlflowException:
                hist = []
            if hist:
                s = pd.Series({int(m.step): float(m.value) for m in hist}, name=column)
                cols[column] = s
        if not cols:
            return pd.DataFrame(columns=["epoch", *HISTORY_KEYS])
        df = pd.DataFrame(cols).sort_index()
        df.index.name = "epoch"
        return df.reset_index()


@dataclass
class Sweep:
    """One sweep (or study) of jobs: its parent run and one row per model run.

    ``runs`` columns: run_id, job_run_id, variant, model, job, dataset, is_raw, then one column
    per logged metric (NaN where a run lacks it). ``jobs`` holds one row per job (the
    invocation run, or the model run itself for one-model jobs) with its release-level metrics.
    """

    sweep_id: str
    parent: Run | None
    runs: pd.DataFrame
    jobs: pd.DataFrame
    params: dict[str, dict[str, str]] = field(default_factory=dict)  # run_id -> params

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(self.jobs["variant"])) if len(self.jobs) else []

    def models(self, variant: str) -> pd.DataFrame:
        return self.runs[self.runs["variant"] == variant]

    def job(self, variant: str) -> pd.Series | None:
        rows = self.jobs[self.jobs["variant"] == variant]
        return rows.iloc[0] if len(rows) else None

    @property
    def raw_variant(self) -> str | None:
        raw = self.jobs[self.jobs["is_raw"]]
        return str(raw["variant"].iloc[0]) if len(raw) else None

    def metric(self, variant: str, key: str) -> float:
        """A release-level metric of a variant's job (NaN when not measured)."""
        job = self.job(variant)
        if job is None or key not in job.index:
            return float("nan")
        v = job[key]
        return float(v) if pd.notna(v) else float("nan")


def find_sweep(store: Store, experiment: str = "paper", sweep_id: str | None = None) -> Sweep | None:
    """The given sweep, else the latest sweep run tagged ``privhealth.experiment=<experiment>``."""
    parent = None
    if sweep_id is None:
        parents = store.search(
            f"tags.`privhealth.kind` = 'sweep' and tags.`privhealth.experiment` = '{experiment}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        if not parents:
            return None
        parent = parents[0]
        sweep_id = parent.data.tags["privhealth.sweep_id"]
    else:
        found = store.search(f"tags.`privhealth.sweep_id` = '{sweep_id}' and tags.`privhealth.kind` = 'sweep'")
        parent = found[0] if found else None
    members = store.search(f"tags.`privhealth.sweep_id` = '{sweep_id}'")
    if not [r for r in members if r.data.tags.get("privhealth.kind") in ("run", "invocation")]:
        return Sweep(sweep_id, parent, pd.DataFrame(columns=["run_id", "variant", "model"]),
                     pd.DataFrame(columns=["run_id", "variant", "is_raw"]))
    return sweep_from_runs(sweep_id, parent, members)


def variant_of(run: Run) -> str:
    """The anonymization a run's job used (its ``privhealth.anon_method`` tag; ``none`` for raw)."""
    name = run.data.tags.get("privhealth.anon_method", "unknown")
    return RAW_VARIANT if name == RAW_TARGET else name


def sweep_from_runs(sweep_id: str, parent: Run | None, members: Sequence[Run]) -> Sweep:
    """Model-run and job tables from a sweep's runs (FINISHED runs only; failed ones are logged)."""
    failed = [r for r in members if r.info.status != "FINISHED" and r.data.tags.get("privhealth.kind") != "sweep"]
    for r in failed:
        log.warning("run %s (%s) is %s: %s", r.info.run_id, r.info.run_name, r.info.status,
                    r.data.tags.get("error", "no error tag"))
    ok = [r for r in members if r.info.status == "FINISHED"]
    models = [r for r in ok if r.data.tags.get("privhealth.kind") == "run"]
    invocations = {r.info.run_id: r for r in ok if r.data.tags.get("privhealth.kind") == "invocation"}
    rows, jobs, params = [], {}, {}
    for r in models:
        tags = r.data.tags
        parent_id = tags.get("mlflow.parentRunId")
        job_run = invocations.get(parent_id or "", r)  # a one-model job is its own job run
        job = int(tags.get("privhealth.job_num", tags.get("privhealth.trial", -1)))
        target = r.data.params.get("anon._target_", "")
        row = {
            "run_id": r.info.run_id,
            "job_run_id": job_run.info.run_id,
            "variant": variant_of(r),
            "model": tags.get("privhealth.model", r.info.run_name),
            "job": job,
            "dataset": tags.get("privhealth.dataset", "unknown"),
            "is_raw": target.endswith(RAW_TARGET),
            **r.data.metrics,
        }
        rows.append(row)
        params[r.info.run_id] = dict(r.data.params)
        if job_run.info.run_id not in jobs:
            merged = {**{k: v for k, v in r.data.metrics.items() if k.startswith(RELEASE_PREFIXES)},
                      **{k: v for k, v in job_run.data.metrics.items() if k.startswith(RELEASE_PREFIXES)}}
            jobs[job_run.info.run_id] = {**{k: row[k] for k in ("variant", "job", "dataset", "is_raw")},
                                         "run_id": job_run.info.run_id, "first_model_run": r.info.run_id,
                                         **merged}
    runs = pd.DataFrame(rows).sort_values(["job", "model"], kind="stable").reset_index(drop=True)
    job_df = pd.DataFrame(list(jobs.values())).sort_values("job", kind="stable").reset_index(drop=True)
    dup = job_df["variant"].duplicated(keep=False)
    if dup.any():  # two jobs with one anonymizer name (e.g. anon.k=5,10): tell them apart by job number
        job_df.loc[dup, "variant"] = job_df.loc[dup, "variant"] + " (job " + job_df.loc[dup, "job"].astype(str) + ")"
        relabel = dict(zip(job_df["run_id"], job_df["variant"], strict=True))
        runs["variant"] = runs["job_run_id"].map(relabel)
    for frame in (runs, job_df):
        frame["is_raw"] = frame["is_raw"].astype(bool)
    return Sweep(sweep_id, parent, runs, job_df, params)


def find_study(store: Store, name: str | None = None) -> Run | None:
    """The latest trade-off study run (``privhealth.kind=study``), or the one named ``name``."""
    flt = "tags.`privhealth.kind` = 'study'"
    if name:
        flt += f" and tags.`privhealth.study` = '{name}'"
    found = store.search(flt, order_by=["attributes.start_time DESC"], max_results=1)
    return found[0] if found else None


def nan_if_missing(row: pd.Series | dict[str, Any] | None, key: str) -> float:
    """``row[key]`` as a float, NaN when the row or the value is missing."""
    if row is None:
        return float("nan")
    v = row.get(key, np.nan)
    return float(v) if v is not None and pd.notna(v) else float("nan")
