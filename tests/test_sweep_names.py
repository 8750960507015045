"""A real 2×2 grid: distinct run names, one-line descriptions, the parent's overrides and its summary table."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import write_key
from test_sweeps import SMALL, run_cli

GRID = ["anon=optimal", "anon.k=2,5", "anon.suppression=0.02,0.05", "model=logreg"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    write_key(root)
    proc = run_cli(root, "privhealth.experiments.run",
                   ["-m", *GRID, *SMALL, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    return root, client, client.search_runs([exp.experiment_id], max_results=100), proc.stdout


def test_every_job_of_the_grid_has_its_own_name_and_description(grid):
    _, _, runs, _ = grid
    jobs = [r for r in runs if r.data.tags.get("privhealth.kind") == "run"]
    assert sorted(r.info.run_name for r in jobs) == sorted(
        f"optimal·k{k}·suppression{s}·logreg" for k in (2, 5) for s in (0.02, 0.05))
    for r in jobs:
        k, s = r.data.params["anon.k"], float(r.data.params["anon.suppression"])
        note = r.data.tags["mlflow.note.content"]
        assert "\n" not in note
        assert note.startswith(f"optimal release of simulated enforcing k={k}, suppressing at most {s:.0%} of patients")
        assert "logreg trained on the release and on the raw data, 2-fold by patient" in note


def test_the_parent_holds_the_overrides_and_the_summary_table(grid):
    root, client, runs, stdout = grid
    parent = next(r for r in runs if r.data.tags.get("privhealth.kind") == "sweep")
    assert parent.data.tags["privhealth.overrides"] == " ".join(
        [*GRID, *SMALL, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    jobs = {r.info.run_name: r for r in runs if r.data.tags.get("privhealth.kind") == "run"}
    csv = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep_summary.csv", str(root)))
    assert set(csv["run"]) == set(jobs) and len(csv) == 4
    assert csv["test/f1"].tolist() == sorted(csv["test/f1"], reverse=True)
    for _, row in csv.iterrows():
        m = jobs[row["run"]].data.metrics
        assert row["test/f1"] == pytest.approx(m["test/f1"]) and row["privacy/k"] == m["privacy/k"]
        assert row["test/f1_ci_lo"] == pytest.approx(m["test/f1_ci_lo"])
    md = open(client.download_artifacts(parent.info.run_id, "sweep_summary.md", str(root))).read()
    best = csv.iloc[0]
    assert f"| 1 | {best['run']} |" in md
    assert f"{best['test/f1']:.3f} [{best['test/f1_ci_lo']:.3f}, {best['test/f1_ci_hi']:.3f}]" in md
    assert "Sweep summary · sorted by test/f1" in stdout and best["run"] in stdout
