"""Content-addressed caches for anonymized releases, their risk assessments and raw-data model results.

Safe under parallel jobs and crashes.

Runs of a sweep that differ only in the model share one anonymization: the release is
stored under a fingerprint of (input data, anonymization config, key, seed, anonymizer
code), and its risk assessment (metrics and JSON report only) under that plus the attack
config and a hash of the attack code. Writers take a
per-entry file lock, so two jobs asking for the same entry compute it once; entries are
written to a temporary file and renamed into place (atomic on POSIX), so a job killed
mid-write never leaves a corrupt entry. Raw data is never cached: the cache refuses a
release produced without anonymization.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock

from privhealth.anon.recipe import recipe_from_dict
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset, TableSchema
from privhealth.models.evaluation import TaskResult
from privhealth.models.features import TaskConfig

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over a frame's column names, dtypes and values (row order included)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(json.dumps([str(t) for t in frame.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def dataset_fingerprint(dataset: Dataset) -> str:
    """Identifies the input data: its file hash when loaded from a file, else a hash of the frame."""
    if "sha256" in dataset.metadata and "fingerprint" not in dataset.metadata:
        base = dataset.metadata["sha256"]
    else:
        base = dataset.metadata.get("fingerprint") or frame_fingerprint(dataset.frame)
        dataset.metadata["fingerprint"] = base
    h = hashlib.sha256(base.encode())
    h.update(json.dumps(dataset.schema.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def config_fingerprint(*parts: Any) -> str:
    """SHA-256 of JSON-serialisable parts (configs, seeds, versions)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def cache_usable(root: Path) -> bool:
    """Whether the cache folder can be written; if not (read-only mount, permissions), warn and say no."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".probe.", delete=True):
            pass
    except OSError as exc:
        log.warning("the cache folder %s is not writable (%s): this run computes everything uncached",
                    root, exc.strerror or type(exc).__name__)
        return False
    return True


class ReleaseCache:
    """Stores releases as Parquet + JSON metadata under ``root/<key[:2]>/<key>``."""

    def __init__(self, root: str | Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.parquet", d / f"{key}.json", d / f"{key}.lock"

    def get_or_compute(self, key: str, compute: Callable[[], Release]) -> tuple[Release, bool]:
        """The cached release for ``key``, or ``compute()`` stored under it. Returns (release, hit)."""
        if not self.enabled:
            return compute(), False
        data_path, meta_path, lock_path = self._paths(key)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path), timeout=3600):
            cached = self._load(data_path, meta_path)
            if cached is not None:
                self.hits += 1
                return cached, True
            release = compute()
            self.misses += 1
            if release.method == "none" or not release.steps:
                return release, False  # raw data: never written to disk
            self._store(release, data_path, meta_path)
            return release, False

    def _load(self, data_path: Path, meta_path: Path) -> Release | None:
        if not (data_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != FORMAT_VERSION:
                return None
            frame = pd.read_parquet(data_path)
        except (OSError, ValueError):
            return None  # unreadable entry: recompute and overwrite
        return Release(
            frame=frame,
            schema=TableSchema.from_dict(meta["schema"]),
            method=meta["method"],
            steps=meta["steps"],
            n_entities_in=meta["n_entities_in"],
            n_rows_in=meta["n_rows_in"],
            details=meta.get("details", {}),
            recipe=recipe_from_dict(meta.get("recipe")),  # so cached releases can map new records
        )

    def _store(self, release: Release, data_path: Path, meta_path: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=data_path.parent, prefix=f".{data_path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            release.frame.to_parquet(tmp)
            os.replace(tmp, data_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        meta: Mapping[str, Any] = {
            "format": FORMAT_VERSION,
            "schema": release.schema.to_dict(),
            "method": release.method,
            "steps": release.steps,
            "n_entities_in": release.n_entities_in,
            "n_rows_in": release.n_rows_in,
            "details": release.details,
            "recipe": release.recipe.to_dict() if release.recipe is not None else None,
        }
        # metadata last: an entry counts only once both files are complete
        atomic_write_text(meta_path, json.dumps(meta, default=str))


# ---------------------------------------------------------------------- model results
def result_to_dict(result: TaskResult) -> dict[str, Any]:
    """A TaskResult as JSON-able data (metrics, CIs, curves, test probabilities; no model, no rows)."""
    return {
        "format": FORMAT_VERSION,
        "model_name": result.model_name,
        "metrics": result.metrics,
        "ci": {k: list(v) for k, v in result.ci.items()},
        "baseline": result.baseline,
        "threshold": result.threshold,
        "val_metrics": result.val_metrics,
        "history": result.history,
        "n_parameters": result.n_parameters,
        "summary": result.summary,
        "hparams": result.hparams,
        "y_true": result.y_true.tolist(),
        "y_prob": result.y_prob.tolist(),
        "fit_seconds": result.fit_seconds,
        "predict_seconds": result.predict_seconds,
        "n_patients": result.n_patients,
        "feature_names": list(result.feature_names),
        "task": asdict(result.task),
        "ci_level": result.ci_level,
        "n_bootstrap": result.n_bootstrap,
        "thresholds": None if result.thresholds is None else result.thresholds.tolist(),
        "patient_keys": None if result.patient_keys is None else result.patient_keys.tolist(),
        "fold_metrics": result.fold_metrics,
        "fold_val_metrics": result.fold_val_metrics,
        "n_suppressed": result.n_suppressed,
    }


def result_from_dict(d: Mapping[str, Any]) -> TaskResult:
    task = dict(d["task"])
    for k in ("exclude", "static_columns", "clip"):
        if task.get(k) is not None:
            task[k] = tuple(task[k])
    return TaskResult(
        model_name=d["model_name"],
        metrics=dict(d["metrics"]),
        ci={k: (float(v[0]), float(v[1])) for k, v in d["ci"].items()},
        baseline=dict(d["baseline"]),
        threshold=float(d["threshold"]),
        val_metrics=dict(d["val_metrics"]),
        history=list(d["history"]),
        n_parameters=int(d["n_parameters"]),
        summary=d["summary"],
        hparams=dict(d["hparams"]),
        y_true=np.asarray(d["y_true"], dtype=np.int8),
        y_prob=np.asarray(d["y_prob"], dtype=np.float64),
        fit_seconds=float(d["fit_seconds"]),
        predict_seconds=float(d["predict_seconds"]),
        n_patients=dict(d["n_patients"]),
        feature_names=tuple(d["feature_names"]),
        task=TaskConfig(**task),
        ci_level=float(d["ci_level"]),
        n_bootstrap=int(d["n_bootstrap"]),
        thresholds=None if d.get("thresholds") is None else np.asarray(d["thresholds"], dtype=np.float64),
        patient_keys=None if d.get("patient_keys") is None else np.asarray(d["patient_keys"], dtype=np.int64),
        fold_metrics=[dict(f) for f in d.get("fold_metrics", [])],
        fold_val_metrics=[dict(f) for f in d.get("fold_val_metrics", [])],
        n_suppressed=int(d.get("n_suppressed", 0)),
    )


class ResultCache:
    """Model results on the raw data, shared by every anonymization of a sweep (JSON, atomic, locked)."""

    def __init__(self, root: str | Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0

    def get_or_compute(self, key: str, compute: Callable[[], TaskResult]) -> tuple[TaskResult, bool]:
        if not self.enabled:
            return compute(), False
        result, hit = json_entry(self.root, key, _result_from_text, compute,
                                 lambda r: json.dumps(result_to_dict(r), default=float))
        self.hits += hit
        return result, hit


def _result_from_text(text: str) -> TaskResult | None:
    try:
        data = json.loads(text)
        return result_from_dict(data) if data.get("format") == FORMAT_VERSION else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def json_entry(root: Path, key: str, load: Callable[[str], Any], compute: Callable[[], Any],
               dump: Callable[[Any], str]) -> tuple[Any, bool]:
    """A JSON cache entry under ``root``: ``load`` of the stored text, or ``compute()`` written atomically.

    Locked per entry so concurrent jobs compute it once; an entry ``load`` rejects (``None``:
    unreadable, another format) is recomputed and overwritten. Returns (value, hit).
    """
    path = root / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock")), timeout=3600):
        if path.is_file():
            try:
                cached = load(path.read_text())
            except OSError:
                cached = None
            if cached is not None:
                return cached, True
        value = compute()
        atomic_write_text(path, dump(value))
        return value, False


# ---------------------------------------------------------------------- risk assessments
ANON_CODE = ("anon/*.py",)
RISK_CODE = ("anon/attacks/*.py", "anon/safe_harbor.py", "data/population.py", "data/identifiers.py")


@functools.cache
def code_fingerprint(patterns: tuple[str, ...]) -> str:
    """SHA-256 of the package sources matching ``patterns``, so cached entries follow code changes."""
    src = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(p for pattern in patterns for p in src.glob(pattern)):
        h.update(path.relative_to(src).as_posix().encode() + b"\x00" + path.read_bytes())
    return h.hexdigest()


class CachedRisk:
    """A risk assessment read back from the cache: what the pipeline logs of a ``RiskReport``."""

    def __init__(self, report: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self.report = dict(report)
        self.release_method = str(self.report.get("release_method", ""))
        self._metrics = {str(k): float(v) for k, v in metrics.items()}

    def metrics(self) -> dict[str, float]:
        """Flat ``risk/*`` figures, NaN where an attack could not run (as ``RiskReport.metrics``)."""
        return dict(self._metrics)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (as ``RiskReport.to_dict``): fields, counts and rates, no value."""
        return json.loads(json.dumps(self.report))


def risk_to_json(report: Any) -> str:
    """A risk assessment's metrics (NaN as null) and JSON report: counts and rates, never a value."""
    metrics = {k: (v if np.isfinite(v) else None) for k, v in report.metrics().items()}
    return json.dumps({"format": FORMAT_VERSION, "metrics": metrics, "report": report.to_dict()},
                      default=str)  # as mlflow.log_dict writes the report artifact


def risk_from_json(text: str) -> CachedRisk | None:
    """The assessment stored by ``risk_to_json``; None when the entry is unreadable or stale."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            return None
        metrics = {k: float("nan") if v is None else float(v) for k, v in data["metrics"].items()}
        if not isinstance(data["report"], dict):
            return None
        return CachedRisk(data["report"], metrics)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class RiskCache:
    """Risk assessments of releases as JSON (metrics and report only) under ``root/<key[:2]>/<key>.json``.

    Runs of a sweep that share a release (same data, anonymization, key, seed) and attack
    config share its assessment. Locked per entry and written atomically like ``ReleaseCache``.
    """

    def __init__(self, root: str | Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """The cached assessment for ``key``, or ``compute()`` stored under it. Returns (risk, hit)."""
        if not self.enabled:
            return compute(), False
        risk, hit = json_entry(self.root, key, risk_from_json, compute, risk_to_json)
        self.hits += hit
        self.misses += not hit
        return risk, hit
