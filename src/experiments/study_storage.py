"""The trade-off study's Optuna storage: SQLite/RDB with heartbeats or a journal file, and the gate
that serialises 'count the trials, then start one' across workers sharing a file-based store."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import sqlalchemy
import sqlalchemy.exc
from filelock import FileLock
from omegaconf import DictConfig

STORAGE_ATTEMPTS = 5  # openings of an RDB store retried after a schema-creation race


def make_storage(study: DictConfig, root: Path) -> optuna.storages.BaseStorage:
    """SQLite/RDB storage (with heartbeats, so a dead worker's trial is retried) or a journal file."""
    url = str(study.storage)
    if url.startswith("journal:///"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    hb = study.get("heartbeat_interval")
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=int(hb) if hb else None,
                grace_period=int(study.get("grace_period") or 0) or None if hb else None,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2) if hb else None,
            )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as exc:
            # Optuna creates the schema check-then-create: a second process (another worker, a
            # dashboard, a script reading the study) opening a fresh store at the same moment makes
            # this one fail with "table ... already exists" or a duplicate schema-version row.
            # The schema is there now: open again.
            if attempt == STORAGE_ATTEMPTS or not _creation_race(exc):
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable: the last attempt re-raises")


def _creation_race(exc: Exception) -> bool:
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return True  # the only rows written on opening are the schema version's
    msg = str(exc).lower()
    return "already exists" in msg or "database is locked" in msg


class Gate:
    """Serialises 'count the trials, then start one' across workers sharing a file-based storage.

    Servers (PostgreSQL, MySQL) get no gate: there the study may overshoot ``n_trials`` by
    at most the number of workers minus one (see docs/sweeps.md).
    """

    def __init__(self, study: DictConfig) -> None:
        url = str(study.storage)
        self.lock: FileLock | None = None
        # not "<journal>.lock": Optuna's journal backend takes that name for its own lock, waits
        # for it, and after 30 s breaks it as stale (every trial then waited 30 s, unserialised)
        for prefix, suffix in (("sqlite:///", ".gate.lock"), ("journal:///", ".gate.lock")):
            if url.startswith(prefix):
                Path(url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
                self.lock = FileLock(url[len(prefix):] + suffix, timeout=3600)
        self.held = False

    def acquire(self) -> None:
        if self.lock is not None and not self.held:
            self.lock.acquire()
            self.held = True

    def release(self) -> None:
        if self.lock is not None and self.held:
            self.lock.release()
            self.held = False
