"""Throwaway servers for the scale-out tests: a private PostgreSQL cluster and an MLflow server.

Both listen on 127.0.0.1 at a free port, live in a temporary folder and are stopped (and the
folder removed) by the fixture that started them; no system service is used. Outside CI a
missing component skips the test with the reason; under ``CI=true`` it fails, because
``.ci/run`` installs every component these tests need.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
USER = "privhealth"


def missing(reason: str) -> None:
    """Skip outside CI; fail under CI=true, where a missing component is a broken set-up."""
    if CI:
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so this is a failure, not a skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: on PATH, else Debian/Ubuntu's newest /usr/lib/postgresql/N/bin."""
    exe = shutil.which("initdb")
    if exe and shutil.which("pg_ctl"):
        return Path(exe).resolve().parent
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


@dataclass
class Postgres:
    port: int
    password: str

    def url(self, db: str) -> str:
        """The URL form docs/sweeps.md names: SQLAlchemy's psycopg (3) driver."""
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres"):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                               dbname=db, autocommit=True)

    def create_db(self, name: str) -> str:
        with self.connect() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temp folder (as user ``postgres`` when run as root: initdb refuses root)."""
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg (3) is not installed: pip install -e '.[cluster]'")
    run_as = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root, and no 'postgres' user to run initdb as")
    base = Path(tempfile.mkdtemp(prefix="privhealth-pg-"))
    password = secrets.token_hex(12)
    (base / "pw").write_text(password + "\n")
    if run_as is not None:
        for p in (base, base / "pw"):
            os.chown(p, run_as.pw_uid, run_as.pw_gid)
    user = run_as.pw_name if run_as else None
    data, log = base / "data", base / "server.log"
    port = free_port()

    def pg(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(bindir / args[0]), *args[1:]], user=user, capture_output=True,
                              text=True, timeout=timeout, cwd=base)
        if proc.returncode:
            server_log = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}\n{server_log}")
        return proc

    started = False
    try:
        pg("initdb", "-D", str(data), "-U", USER, f"--pwfile={base / 'pw'}", "--auth=scram-sha-256",
           "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        pg("pg_ctl", "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")
        started = True
        yield Postgres(port, password)
    finally:
        if started:
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(backend_uri: str, workdir: Path, timeout: float = 180) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 with the given backend store; yields its http:// URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "mlflow-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
             "--artifacts-destination", (workdir / "mlartifacts").as_uri(),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir)
    try:
        deadline = time.time() + timeout
        while not _healthy(url):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"mlflow server did not come up (exit {proc.poll()}):\n"
                                   f"{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL what is left of it (its workers too)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
