"""MLflow plumbing: one store and experiment created safely, configs flattened into params, secrets kept out.

Parallel jobs writing to one SQLite store race on its schema migration and on creating
the experiment; ``ensure_experiment`` does both under a file lock, and sweeps call it
once before their jobs start. Params are the composed config flattened to dotted keys;
values longer than MLflow's limit are shortened with a hash suffix (the full config is
logged as an artifact), and keys that look like secrets are redacted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock
from mlflow.tracking import MlflowClient

from privhealth.experiments.liveness import interrupt_taken, process_tags, reap_stale_runs

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_KEY = 250
SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key|credential|(^|[._])key$)", re.I)
REDACTED = "<redacted>"


def sqlite_path(uri: str) -> Path | None:
    """The database file behind a ``sqlite:///`` URI, else None."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    return None


def quiet_urls(uri: str) -> None:
    """MLflow prints "View run at <uri>…" when a run ends: not when the URI carries a password."""
    if redact_uri_password(uri) != uri:
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"


def ensure_experiment(uri: str, name: str, artifact_root: str | Path | None = None) -> str:
    """Create (once, under a file lock) the tracking store and the experiment; return its id.

    Runs of the experiment left RUNNING by a dead process of this host are marked KILLED here.
    """
    quiet_urls(uri)
    db = sqlite_path(uri)
    if db is not None:
        lock_path = db.parent / f".{db.name}.lock"
    else:  # a server serialises itself; the lock only spares this host's jobs a race (not the cwd: no stray file)
        digest = hashlib.sha256(redact_uri_password(uri).encode()).hexdigest()[:12]
        lock_path = Path(tempfile.gettempdir()) / f"privhealth-mlflow-{digest}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=600):
        client = MlflowClient(tracking_uri=uri)  # the first client migrates a new SQLite schema
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            reap_stale_runs(client, exp.experiment_id)
            return exp.experiment_id
        location = None
        if artifact_root is not None:
            root = Path(artifact_root).resolve()
            root.mkdir(parents=True, exist_ok=True)
            location = root.as_uri()
        return client.create_experiment(name, artifact_location=location)


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping → {dotted.key: value}; lists are kept as one value."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key.rsplit(".", 1)[-1])) or bool(SECRET_KEY.search(key))


def safe_params(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Flattened, redacted and length-safe params for ``mlflow.log_params``."""
    params: dict[str, str] = {}
    for key, value in flatten(cfg).items():
        if is_secret_key(key) and value not in (None, ""):
            text = REDACTED
        else:
            text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
            text = redact_uri_password(text)
        if len(text) > MAX_PARAM_VALUE:
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            text = text[: MAX_PARAM_VALUE - 40] + f"…[truncated sha256:{digest}]"
        if len(key) > MAX_KEY:
            digest = hashlib.sha256(key.encode()).hexdigest()[:8]
            key = key[: MAX_KEY - 10] + "~" + digest
        params[key] = text
    return params


def redact_uri_password(text: str) -> str:
    """postgresql://user:pw@host/db → postgresql://user:<redacted>@host/db."""
    return re.sub(r"(://[^:/@\s]+:)[^@/\s]+@", rf"\1{REDACTED}@", text)


def log_params_batched(params: Mapping[str, str]) -> None:
    items = list(params.items())
    for i in range(0, len(items), 100):  # MLflow's batch limit
        mlflow.log_params(dict(items[i : i + 100]))


def git_commit(cwd: str | Path | None = None) -> str:
    """The checkout's commit (with '-dirty' if modified), or 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def start_run(
    uri: str,
    experiment_id: str,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run that ends FAILED (with the error as a tag) if the body raises."""
    mlflow.set_tracking_uri(uri)
    quiet_urls(uri)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        tags={**process_tags(), **dict(tags or {})},
        parent_run_id=parent_run_id,
        nested=mlflow.active_run() is not None,
    )
    try:
        yield run
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            interrupt_taken()
        mlflow.set_tag("error", f"{type(exc).__name__}: {str(exc)[:4000]}")
        mlflow.end_run(status="FAILED" if not isinstance(exc, KeyboardInterrupt) else "KILLED")
        raise
    else:
        mlflow.end_run(status="FINISHED")


def redact_config(node: Any, path: str = "") -> Any:
    """A copy of a config container with secret-looking keys and URI passwords redacted."""
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            key = f"{path}.{k}" if path else str(k)
            if is_secret_key(key) and not isinstance(v, Mapping) and v not in (None, ""):
                out[k] = REDACTED
            else:
                out[k] = redact_config(v, key)
        return out
    if isinstance(node, list | tuple):
        return [redact_config(v, path) for v in node]
    if isinstance(node, str):
        return redact_uri_password(node)
    return node
