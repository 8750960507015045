"""Scale-out set-ups of docs/sweeps.md run for real: a study on PostgreSQL, an MLflow server with
a PostgreSQL backend, journal storage, and a Hydra sweep through the submitit launcher.

PostgreSQL is a throwaway cluster (initdb + pg_ctl in a temp folder, 127.0.0.1, a free port) and
the MLflow server a child process on 127.0.0.1; both are stopped by their fixtures. Outside CI a
missing component skips with the reason; under CI=true it fails (see tests/scaleout_servers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState
from pipeline_helpers import write_key
from scaleout_servers import missing, mlflow_server, postgres_cluster

from privhealth.experiments.tradeoff import parent_run

pytestmark = pytest.mark.slow
TINY = ["data.n_patients=200", "evaluation.n_bootstrap=30", "model=logreg"]
STUDY = ["study.startup_trials=3", "study.heartbeat_interval=2", "study.grace_period=30"]


def cli(root: Path, module: str, args: list[str], env: dict[str, str] | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess:
    """A privhealth command in its own folder (nothing is written beside the checkout)."""
    write_key(root)
    full_env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=root, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def study_runs(client: MlflowClient, name: str) -> tuple[list, list]:
    """The study's parent runs and all runs of the experiment."""
    exp = client.get_experiment_by_name("privhealth")
    every = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in every if r.data.tags.get("privhealth.kind") == "study"
               and r.data.tags.get("privhealth.study") == name]
    return parents, every


def check_one_parent(client: MlflowClient, study: optuna.Study) -> list:
    """Exactly one study run; every completed trial's run is its child, none twice; returns the trials."""
    parents, every = study_runs(client, study.study_name)
    assert len(parents) == 1, [p.info.run_id for p in parents]
    done = study.get_trials(states=(TrialState.COMPLETE,))
    kids = [r for r in every if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.info.run_id for r in kids) == sorted(t.user_attrs["run_id"] for t in done)
    assert all(r.info.status == "FINISHED" for r in kids)
    assert study.user_attrs["mlflow_parent_run_id"] == parents[0].info.run_id
    return done


@pytest.fixture(scope="module")
def pg():
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(pg, tmp_path_factory):
    with mlflow_server(pg.create_db("mlflow"), tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def test_run_tracked_on_an_mlflow_server_with_a_postgresql_backend(pg, server, tmp_path):
    cli(tmp_path, "privhealth.experiments.run", ["tracking=server", *TINY],
        env={"MLFLOW_TRACKING_URI": server})
    client = MlflowClient(server)
    exp = client.get_experiment_by_name("privhealth")
    (run,) = client.search_runs([exp.experiment_id], "tags.`privhealth.kind` != 'study'")
    assert run.info.status == "FINISHED"
    assert {"privacy/k", "test/auroc", "risk/linkage_reid_rate"} <= set(run.data.metrics)
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    # the server stored it in PostgreSQL, and nothing was left beside the run's folder
    with pg.connect("mlflow") as con:
        row = con.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,)).fetchone()
    assert row == ("FINISHED",)
    assert not (tmp_path / "mlflow.db").exists()


def test_workers_racing_on_postgresql_create_one_study_run(pg, server, tmp_path, monkeypatch):
    """Workers that start together (other hosts) check-then-create the parent run under one lock."""
    monkeypatch.chdir(tmp_path)
    url = pg.create_db("race")
    optuna.create_study(study_name="race", storage=url, directions=["minimize", "maximize"])
    cfg = OmegaConf.create({
        "study": {"name": "race", "mode": "multi", "storage": url},
        "tracking": {"uri": server, "experiment": "privhealth", "artifact_root": None},
    })
    n = 6
    studies = [optuna.load_study(study_name="race", storage=url) for _ in range(n)]  # own connections
    barrier, ids, errors = threading.Barrier(n), [], []

    def worker(study: optuna.Study) -> None:
        try:
            barrier.wait(timeout=60)
            ids.append(parent_run(cfg, study))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in studies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(ids) == n and len(set(ids)) == 1
    parents, _ = study_runs(MlflowClient(server), "race")
    assert [p.info.run_id for p in parents] == ids[:1]


def test_two_worker_study_on_postgresql_tracked_on_the_server(pg, server, tmp_path):
    url = pg.create_db("optuna")
    assert url.startswith("postgresql+psycopg://")  # the form docs/sweeps.md names
    cli(tmp_path, "privhealth.experiments.tradeoff",
        [*TINY, *STUDY, "study.name=pg", "study.n_trials=4", "study.workers=2",
         "study.storage=${oc.env:PRIVHEALTH_STUDY_STORAGE}", "tracking=server"],  # passwords only from the env
        env={"MLFLOW_TRACKING_URI": server, "PRIVHEALTH_STUDY_STORAGE": url})
    study = optuna.load_study(study_name="pg", storage=url)
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    done = check_one_parent(MlflowClient(server), study)
    # a database server has no count-then-start lock: at most workers − 1 trials over (docs/sweeps.md)
    assert 4 <= len(done) <= 5
    assert len({t.user_attrs["owner"] for t in done}) == 2  # both workers ran trials
    with pg.connect("optuna") as con:  # the trials live in PostgreSQL
        (count,) = con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    assert count == len(done)
    # the storage password reaches neither MLflow params nor tags
    _, every = study_runs(MlflowClient(server), "pg")
    for r in every:
        assert all(pg.password not in str(v) for v in (*r.data.params.values(), *r.data.tags.values()))


def test_two_worker_study_on_journal_storage(tmp_path):
    log = tmp_path / "shared" / "optuna.log"
    cli(tmp_path, "privhealth.experiments.tradeoff",
        [*TINY, *STUDY, "study.name=journal", "study.n_trials=4", "study.workers=2",
         f"study.storage=journal:///{log}"])
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name="journal", storage=JournalStorage(JournalFileBackend(str(log))))
    done = check_one_parent(MlflowClient(f"sqlite:///{tmp_path}/mlflow.db"), study)
    assert len(study.trials) == 4 and len(done) == 4  # the file lock stops the study at exactly n_trials
    assert len({t.user_attrs["owner"] for t in done}) == 2


def test_sweep_through_the_submitit_local_launcher(tmp_path):
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        missing("hydra-submitit-launcher is not installed: pip install -e '.[cluster]'")
    cli(tmp_path, "privhealth.experiments.run",
        ["-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=15", "anon=optimal", "anon.k=2,5", *TINY])
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    every = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in every if r.data.tags.get("privhealth.kind") == "sweep"]
    kids = [r for r in every if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.params["anon.k"] for r in kids) == ["2", "5"]
    assert sorted(r.data.tags["privhealth.job_num"] for r in kids) == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in kids)
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep/child_runs"] == 2
    # the jobs ran as submitit jobs: each left its submission and result pickles
    results = list(tmp_path.rglob(".submitit/*/*_result.pkl"))
    assert len(results) == 2, sorted(str(p) for p in tmp_path.rglob(".submitit/*"))
