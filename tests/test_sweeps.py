"""Sweeps: Hydra multirun grids under one MLflow parent, failures isolated, the release cache shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import write_key

REPO = Path(__file__).resolve().parents[1]
SMALL = ["data.n_patients=250", "evaluation.n_bootstrap=50", "evaluation.folds=2"]


def run_cli(root: Path, module: str, args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    return client.search_runs([exp.experiment_id], max_results=1000)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    write_key(root)
    proc = run_cli(root, "privhealth.experiments.run", [
        "-m", "anon=paper_rules,optimal", "model=logreg,xgboost", *SMALL,
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, runs(root)


def test_grid_yields_one_child_run_per_job_under_one_parent(grid):
    _, all_runs = grid
    parents = [r for r in all_runs if r.data.tags.get("privhealth.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in all_runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 4
    combos = {(r.data.tags["privhealth.anon_method"], r.data.tags["privhealth.model"]) for r in children}
    assert combos == {(a, m) for a in ("paper_rules", "optimal") for m in ("logreg", "xgboost")}
    sweep_id = parents[0].data.tags["privhealth.sweep_id"]
    for r in children:
        assert r.info.status == "FINISHED"
        assert r.data.tags["privhealth.sweep_id"] == sweep_id
        assert "privhealth.job_num" in r.data.tags
        assert {"privacy/k", "privacy/l_distinct", "privacy/t_emd", "test/f1", "test/auroc"} <= set(r.data.metrics)
    assert parents[0].data.metrics["sweep/child_runs"] == 4


def test_anonymization_cache_hit_on_the_second_model(grid):
    root, all_runs = grid
    children = [r for r in all_runs if r.data.tags.get("privhealth.kind") == "run"]
    for anon in ("paper_rules", "optimal"):
        hits = sorted(r.data.metrics["cache/release_hit"] for r in children
                      if r.data.tags["privhealth.anon_method"] == anon)
        assert hits == [0.0, 1.0]  # computed once, reused by the other model
    entries = list((root / ".cache" / "privhealth" / "releases").rglob("*.parquet"))
    # per anonymization: its release, and anonymeter's release of fold 0's training patients alone
    # (attack.anonymeter, on by default), each computed once and reused by the other model
    assert len(entries) == 2 * 2
    assert not list((root / ".cache").rglob("*.tmp"))


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=local_parallel"]], ids=["basic", "local_parallel"])
def test_a_failing_job_is_marked_failed_and_the_sweep_goes_on(tmp_path, launcher):
    write_key(tmp_path)
    proc = run_cli(tmp_path, "privhealth.experiments.run",
                   ["-m", "anon=optimal", "anon.k=3,100000", "model=logreg", *SMALL, *launcher])
    assert proc.returncode == 0, proc.stderr[-3000:]
    parent = next(r for r in runs(tmp_path) if r.data.tags.get("privhealth.kind") == "sweep")
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep/failed_runs"] == 1
    children = [r for r in runs(tmp_path) if r.data.tags.get("privhealth.kind") == "run"]
    status = {r.data.params["anon.k"]: r.info.status for r in children}
    assert status == {"3": "FINISHED", "100000": "FAILED"}
    failed = next(r for r in children if r.info.status == "FAILED")
    assert "k=100000" in failed.data.tags["error"] or "100000" in failed.data.tags["error"]
