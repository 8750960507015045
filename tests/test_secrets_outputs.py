"""Credentials never reach Hydra's output folders, multirun.yaml or the console."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pipeline_helpers import write_key

from privhealth.experiments.guard import credential_overrides

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "hunter2-s3cret"
SMALL = ["data.n_patients=200", "evaluation.n_bootstrap=20", "model=logreg"]


def cli(root: Path, args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    return subprocess.run([sys.executable, "-m", "privhealth.experiments.run", *args, *SMALL], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def hits(root: Path, text: str) -> list[str]:
    """Files under Hydra's output folders (.hydra/*.yaml, multirun.yaml, job logs) containing ``text``."""
    found = []
    for folder in ("outputs", "multirun"):
        for p in (root / folder).rglob("*"):
            if p.is_file() and text.encode() in p.read_bytes():
                found.append(str(p.relative_to(root)))
    return found


def test_credentials_in_overrides_are_recognised():
    assert credential_overrides(["tracking.uri=http://u:pw@host:5000", "study.storage=postgresql://u:p@h/db",
                                 "+db.password=abc", "anon.k=5"]) == ["tracking.uri", "study.storage", "db.password"]
    assert credential_overrides(["tracking.uri=${oc.env:URI}", "tracking.uri=http://host:5000",
                                 "db.password="]) == []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An MLflow tracking server on 127.0.0.1 (SQLite backend), stopped at the end."""
    root = tmp_path_factory.mktemp("server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "mlflow server did not start"
                time.sleep(1)
        yield f"http://ph:{PASSWORD}@127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_a_password_on_the_command_line_is_refused_before_hydra_writes(tmp_path, server):
    write_key(tmp_path)
    for args in (["tracking=server", f"tracking.uri={server}"],
                 ["-m", "tracking=server", f"tracking.uri={server}", "seed=2,3"]):
        proc = cli(tmp_path, args)
        assert proc.returncode == 2
        assert "tracking.uri" in proc.stderr and "oc.env" in proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr
        assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_a_password_in_the_tracking_uri_reaches_no_hydra_output(tmp_path, server):
    """A run and a sweep with the tracking URI (password included) in the environment."""
    write_key(tmp_path)
    env = {"MLFLOW_TRACKING_URI": server}
    single = cli(tmp_path, ["tracking=server"], env)
    assert single.returncode == 0, single.stderr[-3000:]
    sweep = cli(tmp_path, ["-m", "tracking=server", "seed=2,3"], env)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert list((tmp_path / "outputs").rglob(".hydra/config.yaml"))
    assert list((tmp_path / "multirun").rglob("multirun.yaml"))
    assert hits(tmp_path, PASSWORD) == []
    for proc in (single, sweep):
        assert PASSWORD not in proc.stdout + proc.stderr
    assert "ph:<redacted>@127.0.0.1" in single.stdout  # the UI hint names the server, not its password
