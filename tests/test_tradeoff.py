"""The trade-off search (Eq. 9-10): R and U, the Pareto front and λ table, resumption, shared workers."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.distributions import IntDistribution
from pipeline_helpers import write_key

from privhealth.errors import ConfigError
from privhealth.experiments.samplers import duplicate_of, make_sampler
from privhealth.experiments.tradeoff import (
    attribute_risk,
    combine_risk,
    fold_utilities,
    lambda_table,
    make_storage,
    pareto_front,
    risk_score,
    utility_score,
)

REPO = Path(__file__).resolve().parents[1]
# Dead local workers are found by pid, not by heartbeat: a short grace period would only fail
# live trials whose heartbeat thread is starved on a loaded CI machine.
TINY = ["data.n_patients=200", "evaluation.n_bootstrap=30", "evaluation.folds=2", "model=logreg", "study.startup_trials=3",
        "study.heartbeat_interval=2", "study.grace_period=30"]


def tradeoff(root: Path, args: list[str], wait: bool = True, timeout: int = 600):
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    cmd = [sys.executable, "-m", "privhealth.experiments.tradeoff", *TINY, *args]
    if not wait:  # stderr to a file: an unread pipe would block a chatty child once it fills
        with open(root / "tradeoff.stderr", "wb") as err:
            return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def load(root: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root}/optuna.db")


def trial_states(root: Path, name: str) -> list[str] | None:
    """The study's trial states read without writing (an Optuna ``load_study`` may create the schema)."""
    db = root / "optuna.db"
    if not db.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            rows = con.execute(
                "SELECT t.state FROM trials t JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = ?",
                (name,)).fetchall()
    except sqlite3.OperationalError:  # no tables yet, or the child holds the write lock
        return None
    return [r[0] for r in rows]


def test_utility_and_risk_definitions():
    assert utility_score(0.75, 0.80, 0.5) == pytest.approx(0.25 / 0.30)
    assert utility_score(0.45, 0.80, 0.5) == 0.0  # worse than chance: nothing kept
    assert utility_score(0.85, 0.80, 0.5) == 1.0  # clipped
    assert utility_score(0.6, 0.5, 0.5) == 1.0  # raw has no skill to lose
    assert risk_score({"a": 0.1, "b": 0.4}, ["a", "b"]) == 0.4
    with pytest.raises(ConfigError, match="were not measured"):
        risk_score({"a": 0.1}, ["a", "risk/x"])
    with pytest.raises(ConfigError, match="were not measured"):
        risk_score({"a": float("nan")}, ["a"])
    # attribute disclosure: the inference attack's gain over the prior attacker, never below 0
    m = {"risk/inference_rate": 0.30, "risk/inference_base_rate": 0.10}
    assert attribute_risk(m, "risk/inference_rate", "risk/inference_base_rate") == pytest.approx(0.2)
    m["risk/inference_base_rate"] = 0.5
    assert attribute_risk(m, "risk/inference_rate", "risk/inference_base_rate") == 0.0
    # R: either disclosure (union), or the larger
    assert combine_risk(0.2, 0.5, "union") == pytest.approx(1 - 0.8 * 0.5)
    assert combine_risk(0.2, 0.5, "max") == 0.5
    assert combine_risk(0.0, 0.0, "union") == 0.0
    with pytest.raises(ConfigError, match="objective.combine"):
        combine_risk(0.1, 0.1, "sum")


def test_u_is_the_mean_of_per_fold_retained_skill():
    class R:  # the fields of a TaskResult that U reads
        def __init__(self, folds):
            self.fold_metrics = [{"auroc": a} for a in folds]
            self.metrics = {"auroc": sum(folds) / len(folds)}

    u = fold_utilities(R([0.70, 0.62, 0.66]), R([0.75, 0.70, 0.66]), "auroc", 0.5)
    assert u == pytest.approx([0.2 / 0.25, 0.12 / 0.2, 1.0])


def test_front_and_lambda_table_by_hand():
    df = pd.DataFrame({"trial": [0, 1, 2, 3], "R": [0.1, 0.5, 0.3, 0.6], "U": [0.2, 0.9, 0.5, 0.8]})
    front = pareto_front(df)
    assert front["trial"].tolist() == [0, 2, 1]  # trial 3 is dominated by trial 1
    lam = lambda_table(front, [0.0, 0.5, 1.0])
    # trial 2 is on the front but not on its convex hull: no λ of Eq. 10 ever picks it
    assert lam["trial"].tolist() == [1, 1, 0]
    # each λ's pick minimises λR − (1−λ)U over *all* trials, not only the front
    for _, row in lam.iterrows():
        obj = row["lambda"] * df["R"] - (1 - row["lambda"]) * df["U"]
        assert row["objective"] == pytest.approx(obj.min())


@pytest.fixture(scope="module")
def study10(tmp_path_factory):
    root = tmp_path_factory.mktemp("study10")
    write_key(root)
    proc = tradeoff(root, ["study.name=s10", "study.n_trials=10"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc


def test_ten_trial_study_yields_front_and_lambda_table(study10):
    root, proc = study10
    study = load(root, "s10")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) + sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials) == 10
    assert len(done) >= 8
    assert study.metric_names == ["R", "U"]
    for t in done:
        assert 0 <= t.user_attrs["R"] <= 1 and 0 <= t.user_attrs["U"] <= 1
        assert t.user_attrs["tradeoff/u"] == t.user_attrs["U"] and t.user_attrs["tradeoff/u_se"] >= 0
        r_id, r_attr = t.user_attrs["tradeoff/r_identity"], t.user_attrs["tradeoff/r_attribute"]
        assert t.user_attrs["R"] == pytest.approx(1 - (1 - r_id) * (1 - r_attr))
    out = root / "reports" / "tradeoff" / "s10"
    front = pd.read_csv(out / "pareto_front.csv")
    lam = pd.read_csv(out / "lambda_table.csv")
    assert len(front) >= 1 and len(lam) == 11
    assert set(lam["trial"]) <= set(front["trial"])
    assert (out / "frontier.png").stat().st_size > 1000
    assert "best configuration per λ" in proc.stdout
    # one MLflow run per trial, nested under the study's run, tagged with its trial number
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    parent = client.search_runs([exp.experiment_id], "tags.`privhealth.kind` = 'study'")
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    kids = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent[0].info.run_id}'")
    assert sorted(int(r.data.tags["privhealth.trial"]) for r in kids) == list(range(10))
    # run names show each trial's sampled settings: distinct parameters, distinct names
    done_kids = [r for r in kids if r.data.tags["privhealth.trial"] in {str(t.number) for t in done}]
    assert len({r.info.run_name for r in done_kids}) == len({json.dumps(t.params, sort_keys=True) for t in done})


def test_interrupted_study_resumes(tmp_path):
    write_key(tmp_path)
    args = ["study.name=resume", "study.n_trials=4"]
    proc = tradeoff(tmp_path, args, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        states = trial_states(tmp_path, "resume") or []
        if "COMPLETE" in states and "RUNNING" in states and owned_running(tmp_path, "resume"):
            break  # killed mid-trial, after the objective named its worker (the ownerless case: below)
    assert proc.poll() is None, (proc.returncode, (tmp_path / "tradeoff.stderr").read_text()[-3000:])
    os.killpg(proc.pid, signal.SIGKILL)  # mid-trial
    proc.wait()
    s = load(tmp_path, "resume")
    assert any(t.state == optuna.trial.TrialState.RUNNING for t in s.trials), (
        [t.state for t in s.trials], (tmp_path / "tradeoff.stderr").read_text()[-3000:])
    again = tradeoff(tmp_path, args)
    assert again.returncode == 0, again.stderr[-3000:]
    s = load(tmp_path, "resume")
    states = [t.state for t in s.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    assert optuna.trial.TrialState.RUNNING not in states
    stale = [t for t in s.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(stale) == 1 and stale[0].user_attrs.get("stale")


def owned_running(root: Path, name: str) -> bool:
    """Whether a RUNNING trial already carries its worker's ``owner`` attribute (read-only)."""
    with closing(sqlite3.connect(f"file:{root / 'optuna.db'}?mode=ro", uri=True, timeout=1)) as con:
        return con.execute(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
            "WHERE s.study_name = ? AND t.state = 'RUNNING' AND a.key = 'owner'", (name,)
        ).fetchone()[0] > 0


def test_a_trial_orphaned_before_its_owner_was_written_is_failed_after_a_while():
    """A worker killed between Optuna creating a trial and the objective naming its owner leaves a
    RUNNING trial without an owner: left alone for ORPHAN_S (a live worker writes it within
    milliseconds), then failed as stale and re-enqueued with its parameters, like a dead worker's."""
    import datetime

    from privhealth.experiments.tradeoff import ORPHAN_S, fail_dead_local_trials

    study = optuna.create_study()
    t = study.ask({"k": optuna.distributions.IntDistribution(2, 10)})
    start = study.trials[0].datetime_start
    assert fail_dead_local_trials(study, now=start + datetime.timedelta(seconds=ORPHAN_S - 1)) == 0
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING
    assert fail_dead_local_trials(study, now=start + datetime.timedelta(seconds=ORPHAN_S + 1)) == 1
    failed, retry = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL and failed.user_attrs["stale"]
    assert retry.state == optuna.trial.TrialState.WAITING and retry.system_attrs["fixed_params"] == t.params
    assert retry.user_attrs["retry_of"] == 0


def stored_trials(root: Path, storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    if storage == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        store = JournalStorage(JournalFileBackend(str(root / "optuna.log")))
        return optuna.load_study(study_name=name, storage=store).trials
    return load(root, name).trials


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_workers_share_one_study(tmp_path, storage):
    """Two workers with one study.seed draw different parameters (they once ran every set twice)."""
    write_key(tmp_path)
    extra = [f"study.storage=journal:///{tmp_path}/optuna.log"] if storage == "journal" else []
    proc = tradeoff(tmp_path, ["study.name=shared", "study.n_trials=4", "study.workers=2",
                               "study.sampler=random", *extra])
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = stored_trials(tmp_path, storage, "shared")
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 4
    assert all(t.user_attrs.get("duplicate_of") is not None for t in trials if t not in done)
    owners = {t.user_attrs["owner"] for t in done}
    assert len(owners) == 2  # both workers ran trials
    runs = {t.user_attrs["run_id"] for t in done}
    assert len(runs) == 4  # no trial run twice
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == 4, params  # and no parameter set run twice


def test_workers_with_one_seed_sample_distinct_parameters(tmp_path):
    """Two workers' samplers built from one study.seed, taking turns on one storage: no set repeats."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cfg = OmegaConf.create({"sampler": "random", "seed": 42, "startup_trials": 3})
    url = f"sqlite:///{tmp_path}/s.db"
    workers = [optuna.create_study(study_name="w", storage=url, sampler=make_sampler(cfg, "lambda"),
                                   load_if_exists=True) for _ in range(2)]
    for i in range(8):
        trial = workers[i % 2].ask()
        trial.suggest_int("anon.k", 2, 50)
        trial.suggest_categorical("anon", ["optimal", "mondrian"])
        workers[i % 2].tell(trial, float(i))
    params = [tuple(sorted(t.params.items())) for t in workers[0].trials]
    assert len(set(params)) == 8, params
    # the same seed gives the same draw for the same trial number (a rerun is reproducible)
    again = optuna.create_study(storage=f"sqlite:///{tmp_path}/again.db", sampler=make_sampler(cfg, "lambda"))
    t0 = again.ask()
    assert t0.suggest_int("anon.k", 2, 50) == workers[0].trials[0].params["anon.k"]


def test_a_duplicate_parameter_set_is_found_but_a_stale_retry_is_not(tmp_path):
    dist = {"k": IntDistribution(2, 9)}
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={"k": 5}, distributions=dist, value=1.0))
    assert duplicate_of(study, 1, {"k": 5}) == 0
    assert duplicate_of(study, 1, {"k": 6}) is None
    stale = optuna.create_study()  # the worker died: its retry runs these parameters on purpose
    stale.add_trial(optuna.trial.create_trial(params={"k": 5}, distributions=dist, user_attrs={"stale": True},
                                              state=optuna.trial.TrialState.FAIL))
    assert duplicate_of(stale, 1, {"k": 5}) is None


def _open_fresh_store(url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cfg = OmegaConf.create({"storage": url, "heartbeat_interval": None})
    optuna.create_study(study_name="race", storage=make_storage(cfg, Path(".")), load_if_exists=True)


def test_processes_opening_a_fresh_store_together_all_succeed(tmp_path):
    """Optuna creates the schema check-then-create; a reader opening the store at that moment must not kill a worker."""
    ctx = multiprocessing.get_context("fork")
    for i in range(8):
        url = f"sqlite:///{tmp_path}/store{i}.db"
        procs = [ctx.Process(target=_open_fresh_store, args=(url,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 4, f"store {i}"
