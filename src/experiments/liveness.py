"""No run left RUNNING: signals end the open runs, and dead processes' runs are reaped on the next start.

Every run the framework creates is tagged with the host, pid and start time of the process
that owns it. A SIGTERM, SIGINT or SIGHUP raises ``Interrupted`` in the main thread, so the
``with start_run`` blocks end their runs KILLED, and runs created through a client (a
sweep's or a study's parent) are ended KILLED at exit. A ``kill -9`` cannot be caught:
the next start on the same host (any job, sweep or study touching the experiment) finds
RUNNING runs whose owning process is gone and marks them KILLED (tag ``privhealth.reaped``).
Runs owned by other hosts are left alone: their liveness cannot be checked from here.
"""

from __future__ import annotations

import _thread
import atexit
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
HOST, PID, START = "privhealth.host", "privhealth.pid", "privhealth.pid_start"
SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None)
REDELIVER_S = 2.0
_open: dict[str, str] = {}  # run id → tracking URI, for runs created through a client


class Interrupted(KeyboardInterrupt):
    """A termination signal, raised where the main thread is so that open runs end KILLED."""


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), "" where unknown; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        pass
    try:  # no procfs: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


def process_tags() -> dict[str, str]:
    """Tags naming the process that owns a run (host, pid, the pid's start time against pid reuse)."""
    return {HOST: socket.gethostname(), PID: str(os.getpid()), START: _started(os.getpid()) or ""}


def owner_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process named by a run's tags still runs; None when it ran on another host."""
    if tags.get(HOST) != socket.gethostname() or not str(tags.get(PID, "")).isdigit():
        return None
    started = _started(int(tags[PID]))
    return started is not None and (not tags.get(START) or not started or started == tags[START])


def reap_stale_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of this host whose owning process has died; return their ids."""
    host = socket.gethostname().replace("'", "")
    stale = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'",
        max_results=5000,
    )
    reaped = []
    for run in stale:
        if owner_alive(run.data.tags) is False:
            client.set_tag(run.info.run_id, "privhealth.reaped", "owner process died while the run was RUNNING")
            client.set_terminated(run.info.run_id, status="KILLED")
            reaped.append(run.info.run_id)
    if reaped:
        log.warning("marked %d run(s) KILLED whose process died while RUNNING: %s", len(reaped), ", ".join(reaped))
    return reaped


def reown_run(uri: str, run_id: str) -> None:
    """Tag a shared run (a study's) with this process and make it RUNNING again if it was reaped."""
    client = MlflowClient(uri)
    for key, value in process_tags().items():
        client.set_tag(run_id, key, value)
    if client.get_run(run_id).info.status == "KILLED":
        client.update_run(run_id, status="RUNNING")


def track_open_run(uri: str, run_id: str) -> None:
    """Remember a client-created run: it is ended KILLED if the process exits before ``close_run``."""
    _open[run_id] = uri


def close_run(run_id: str) -> None:
    _open.pop(run_id, None)


def _end_open_runs() -> None:
    for run_id, uri in list(_open.items()):
        try:
            MlflowClient(uri).set_terminated(run_id, status="KILLED")
        except Exception:  # at exit, one unreachable store must not hide the others
            log.warning("could not mark run %s KILLED at exit", run_id)
        _open.pop(run_id, None)


atexit.register(_end_open_runs)


_pending: dict[str, int | bool] = {}


def _raise(signum: int, frame: Any) -> None:
    if not _pending:
        _pending["signum"] = signum
        threading.Thread(target=_redeliver, name="privhealth-redeliver", daemon=True).start()
    raise Interrupted(f"received {signal.Signals(signum).name}")


def _redeliver() -> None:
    """Raise again every 2 s until some cleanup took the interrupt (one raised inside a finalizer is lost)."""
    while not _pending.get("delivered"):
        time.sleep(REDELIVER_S)
        if not _pending.get("delivered"):
            _thread.interrupt_main(signal.Signals(int(_pending["signum"])))


def interrupt_taken() -> None:
    """Called by the code that ends runs on an interrupt: no further re-delivery may disturb it."""
    if _pending:
        _pending["delivered"] = True


def install_signal_handlers() -> None:
    """SIGTERM/SIGINT/SIGHUP raise ``Interrupted`` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, _raise)
