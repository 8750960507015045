"""A content-addressed cache for anonymized releases, safe under parallel jobs and crashes.

Runs of a sweep that differ only in the model share one anonymization: the release is
stored under a fingerprint of (input data, anonymization config, seed). Writers take a
per-entry file lock, so two jobs asking for the same entry compute it once; entries are
written to a temporary file and renamed into place (atomic on POSIX), so a job killed
mid-write never leaves a corrupt entry. Raw data is never cached: the cache refuses a
release produced without anonymization.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset, TableSchema

FORMAT_VERSION = 1


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
        }
        # metadata last: an entry counts only once both files are complete
        atomic_write_text(meta_path, json.dumps(meta, default=str))
