"""No run left RUNNING: signals, kill -9, a killed parallel job, invalid sweeps, failures counted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from pipeline_helpers import write_key

from privhealth.experiments.callbacks import MlflowSweepCallback
from privhealth.experiments.failed_jobs import record_failed_job
from privhealth.experiments.tracking import ensure_experiment

REPO = Path(__file__).resolve().parents[1]
SMALL = ["data.n_patients=250", "evaluation.n_bootstrap=30", "model=logreg"]


def start(root: Path, args: list[str], base: list[str] = SMALL) -> subprocess.Popen:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    with open(root / "cli.log", "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "privhealth.experiments.run", *args, *base], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def statuses(root: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """run id → (status, tags), read without writing; {} while the store is being created."""
    db = root / "mlflow.db"
    if not db.exists():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            runs = dict(con.execute("SELECT run_uuid, status FROM runs").fetchall())
            tags: dict[str, dict[str, str]] = {r: {} for r in runs}
            for rid, key, value in con.execute("SELECT run_uuid, key, value FROM tags"):
                tags.setdefault(rid, {})[key] = value
    except sqlite3.OperationalError:
        return {}
    return {r: (s, tags.get(r, {})) for r, s in runs.items()}


def wait_for(pred, proc: subprocess.Popen, root: Path, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred(statuses(root))
        if got:
            return got
        assert proc.poll() is None, (root / "cli.log").read_text()[-3000:]
        time.sleep(0.3)
    raise AssertionError("timed out: " + (root / "cli.log").read_text()[-3000:])


def running_job(runs):
    return [(r, t) for r, (s, t) in runs.items() if s == "RUNNING" and t.get("privhealth.kind") == "run"]


def test_sigterm_ends_the_run_killed(tmp_path):
    write_key(tmp_path)
    proc = start(tmp_path, [])
    wait_for(running_job, proc, tmp_path)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(120) != 0
    runs = statuses(tmp_path)
    assert [s for s, _ in runs.values()] == ["KILLED"], runs


def test_a_run_killed_with_sigkill_is_reaped_on_the_next_start(tmp_path):
    write_key(tmp_path)
    proc = start(tmp_path, [])
    rid, tags = wait_for(running_job, proc, tmp_path)[0]
    assert tags["privhealth.pid"] == str(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert statuses(tmp_path)[rid][0] == "RUNNING"  # nothing can catch SIGKILL
    ensure_experiment(f"sqlite:///{tmp_path}/mlflow.db", "privhealth")  # what every next start does
    status, tags = statuses(tmp_path)[rid]
    assert status == "KILLED" and "privhealth.reaped" in tags


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("launcher", ["local_parallel", "joblib"])
def test_a_killed_parallel_job_fails_that_job_not_the_sweep(tmp_path, launcher):
    """3 jobs, 2 at once; one job's process is SIGKILLed while its run is RUNNING. local_parallel
    (hydra_plugins/privhealth_launcher) runs each job in a worker of its own, so the killed process is
    the launcher's worker itself; under joblib it is the job's fork inside a loky worker."""
    write_key(tmp_path)
    proc = start(tmp_path, ["-m", "seed=2,3,4", f"hydra/launcher={launcher}", "hydra.launcher.n_jobs=2"])
    rid, tags = wait_for(running_job, proc, tmp_path)[0]
    victim = int(tags["privhealth.pid"])
    if launcher == "local_parallel":
        assert parent_pid(victim) == proc.pid  # the worker the launcher started, not a fork below it
    os.kill(victim, signal.SIGKILL)  # e.g. the kernel's OOM killer
    assert proc.wait(600) == 0, (tmp_path / "cli.log").read_text()[-3000:]
    log = (tmp_path / "cli.log").read_text()
    assert "failed: its process was killed by signal 9" in log
    failed = list((tmp_path / "multirun").glob("*/*/.privhealth_failed/*.txt"))
    assert [p.read_text() for p in failed] == ["process killed by signal 9"]
    assert failed[0].stem == tags["privhealth.job_num"]
    runs = statuses(tmp_path)
    jobs = {r: s for r, (s, t) in runs.items() if t.get("privhealth.kind") == "run"}
    assert jobs[rid] == "KILLED"
    assert sorted(jobs.values()) == ["FINISHED", "FINISHED", "KILLED"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    parent = next(r for r, (s, t) in runs.items() if t.get("privhealth.kind") == "sweep")
    assert runs[parent][0] == "FINISHED"
    assert client.get_run(parent).data.metrics["sweep/failed_runs"] == 1


def test_sigterm_to_a_parallel_sweep_ends_every_run_killed(tmp_path):
    """The launcher stops its running workers (SIGTERM: their runs end KILLED), the sweep's run ends KILLED."""
    write_key(tmp_path)
    proc = start(tmp_path, ["-m", "seed=2,3,4", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"])
    workers = [int(t["privhealth.pid"]) for _, t in wait_for(running_job, proc, tmp_path)]
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(180) != 0
    time.sleep(1)
    runs = statuses(tmp_path)
    kinds = sorted((t.get("privhealth.kind"), s) for s, t in runs.values())
    assert ("sweep", "KILLED") in kinds and ("run", "KILLED") in kinds, kinds
    assert all(s != "RUNNING" for s, _ in runs.values()), kinds
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "a job process outlived the sweep"


def test_an_invalid_sweep_option_fails_before_any_run(tmp_path):
    write_key(tmp_path)
    for bad, message in ((["model=logreg,nosuch"], "Could not find 'model/nosuch'"),
                         (["anon=optimal", "anon.k=5,0", "model=logreg"], "anon.k must be an integer ≥ 1, got 0"),
                         (["seed=2,3", "model=logreg", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=0"],
                          "hydra.launcher.n_jobs must be an integer ≥ 1 or -1 (all cores), got 0")):
        proc = start(tmp_path, ["-m", *bad], base=SMALL[:-1])
        assert proc.wait(300) == 2
        log = (tmp_path / "cli.log").read_text()
        assert message in log and "Traceback" not in log
        assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def test_jobs_failing_before_their_run_exists_count_as_failed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    exp = ensure_experiment(uri, "privhealth")
    client = MlflowClient(uri)
    parent = client.create_run(exp).info.run_id
    for num, status in ((0, "FINISHED"), (1, "FAILED")):
        child = client.create_run(exp, tags={"mlflow.parentRunId": parent, "privhealth.job_num": str(num)})
        client.set_terminated(child.info.run_id, status)
    record_failed_job(tmp_path, 2, "ConfigError: data.path is required")  # refused before its run existed
    cb = MlflowSweepCallback()
    cb._client, cb._run_id = client, parent
    cb.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert client.get_run(parent).data.metrics["sweep/failed_runs"] == 2
    assert client.get_run(parent).data.metrics["sweep/child_runs"] == 2
