"""Issue 18's kind of sweep runs: settings a job ignores are dropped with one warning line, jobs that
become identical run once, ``model.dp`` reaches every selected model (src/experiments/sweep_plan.py).

A real multirun: 4 anonymizations × ``anon.epsilon=1`` × ``anon.k=2,5`` × ``model.dp=false,true`` is a
16-job grid. ``anon.k`` is a key of optimal only and ``anon.epsilon`` of MST only, so for none, the
copula and MST the k=2 and k=5 jobs are the same job: 10 distinct jobs, one MLflow run each. One MST
release (ε=1) serves both of its jobs through the release cache. The same store then feeds the
frontier report's families section (src/experiments/report/families.py): every family is present
(raw, k/l/t, DP-SGD, MST, copula). Takes 3-6 minutes on 2 shared cores (MST's JAX compilation dominates).
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import write_key
from test_sweeps import run_cli

from privhealth.experiments.sweep_plan import prepare_argv

pytestmark = pytest.mark.slow

GRID = ["anon=none,optimal,synthetic,dp_synthetic", "anon.epsilon=1", "anon.k=2,5", "model=logreg", "model.dp=false,true"]
TINY = ["data.n_patients=120", "evaluation.folds=2", "evaluation.n_bootstrap=30", "attack.mia.n_bootstrap=30",
        "anon.iters=30", "release.export=false", "tracking.log_models=false", "evaluation.protocol=[release,deploy]"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    write_key(root)
    proc = run_cli(root, "privhealth.experiments.run", ["-m", *GRID, *TINY])
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    return client, client.search_runs([exp.experiment_id], max_results=100), proc.stdout + proc.stderr, root


def test_grid_jobs_that_become_identical_run_once(sweep):
    client, runs, out, _ = sweep
    parent = next(r for r in runs if r.data.tags.get("privhealth.kind") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 10 and all(r.info.status == "FINISHED" for r in children)
    assert parent.data.metrics["sweep/grid_jobs"] == 16 and parent.data.metrics["sweep/jobs"] == 10
    assert parent.data.metrics["sweep/child_runs"] == 10 and parent.data.metrics["sweep/failed_runs"] == 0
    assert "Launching 10 jobs locally" in out
    # one warning line per dropped key, naming each anonymization that ignores it and why
    assert ("sweep: anon.epsilon dropped from the jobs where it would do nothing (anon=none has no setting "
            "'epsilon'; anon=optimal has no setting 'epsilon'; anon=synthetic reads it only with method=mst "
            "(anon=dp_synthetic); the copula has no privacy budget)") in out
    assert ("sweep: anon.k dropped from the jobs where it would do nothing (anon=none has no setting 'k'; "
            "anon=synthetic has no setting 'k'; anon=dp_synthetic has no setting 'k')") in out
    assert out.count("[HYDRA] sweep: anon.k dropped") == 1  # once as a warning (again under the summary table)
    # grid order: anon × epsilon × k × dp, so grid jobs #0 (k=2, dp=false) and #2 (k=5, dp=false) merge
    assert ("sweep: grid jobs #0, #2 are the same job once those settings are dropped: run once as job #0 "
            "(anon=none model=logreg model.logreg.dp=false data.n_patients=120") in out
    assert ("sweep: grid jobs #13, #15 are the same job once those settings are dropped: run once as job #9 "
            "(anon=dp_synthetic anon.epsilon=1 model=logreg model.logreg.dp=true") in out
    assert "grid jobs #4" not in out  # optimal reads k: its four jobs all run
    assert "sweep: 16 grid jobs, 10 distinct jobs launched" in out
    tag = parent.data.tags["privhealth.merged_jobs"]
    assert tag.count("\n") == 3 + 6 + 1 - 1 and "16 grid jobs, 10 distinct jobs launched" in tag
    md = open(client.download_artifacts(parent.info.run_id, "sweep_summary.md", str(sweep[3]))).read()
    assert "- sweep: 16 grid jobs, 10 distinct jobs launched" in md


def test_each_job_logs_epsilon_only_where_it_exists(sweep):
    _, runs, _, _ = sweep
    jobs = [r for r in runs if r.data.tags.get("privhealth.kind") == "run"]
    seen = set()
    for r in jobs:
        m, p = r.data.metrics, r.data.params
        anon, dp = p["anon._target_"].rsplit(".", 1)[-1], p["model.logreg.dp"]
        method = p.get("anon.method", "none")
        seen.add((method, dp))
        assert "risk/mia_auc" in m and "test/f1" in m and "risk/linkage_reid_rate" in m, r.info.run_name
        if method == "mst":
            assert m["privacy/epsilon"] == 1.0 and m["privacy/delta"] == pytest.approx(1 / 120**2)
        else:
            assert "privacy/epsilon" not in m, (anon, method)
        if dp == "True":  # diffprivlib's logistic regression: the training budget, spent
            assert m["privacy/train_epsilon"] == pytest.approx(1.0)
        else:
            assert "privacy/train_epsilon" not in m
    assert seen == {(a, d) for a in ("none", "optimal", "copula", "mst") for d in ("True", "False")}


def test_model_dp_shorthand_on_the_command_line():
    """A single run expands model.dp per selected model; a multirun's one-value model.dp or missing anon
    key becomes a one-value sweep so that Hydra composes the sweep's parent config."""
    conf = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf")
    assert prepare_argv(["model=[rf,dense]", "model.dp=true"], conf) == [
        "model=[rf,dense]", "model.rf.dp=true", "model.dense.dp=true"]
    assert prepare_argv(["-m", "anon=none,dp_synthetic", "anon.epsilon=1", "model.dp=true"], conf) == [
        "-m", "anon=none,dp_synthetic", "anon.epsilon=choice(1)", "model.dp=choice(true)"]
    assert prepare_argv(["-m", "anon=optimal,paper_rules", "anon.k=2"], conf) == [
        "-m", "anon=optimal,paper_rules", "anon.k=2"]  # paper_rules (the default) has k: left as given


def _expected_family(params: dict[str, str]) -> str:
    """The family each grid cell must get, written out from the grid (an oracle independent of family_of)."""
    if params["model.logreg.dp"] == "True":
        return "DP-SGD"
    return {"none": "raw", "optimal": "k/l/t", "copula": "synthetic (copula)",
            "mst": "DP synthetic (MST)"}[params.get("anon.method", "none")]


def test_the_frontier_report_on_the_sweep_the_pipeline_wrote(sweep, tmp_path):
    """The families section: exact family per run, one table per family whose values are the MLflow metrics."""
    import pandas as pd

    from privhealth.experiments.report import build_report

    client, runs, _, root = sweep
    parent = next(r for r in runs if r.data.tags.get("privhealth.kind") == "sweep")
    risk = ["risk/mia_auc", "risk/linkage_reid_rate"]
    rep = build_report(f"sqlite:///{root}/mlflow.db", tmp_path, sweep_id=parent.data.tags["privhealth.sweep_id"],
                       log_run=False, families=True, frontier_risk=risk, frontier_utility="deploy/auroc")
    assert not [e for e in rep.errors if e.startswith("families")], rep.errors
    assert (tmp_path / "families_frontier.png").stat().st_size > 10_000
    by_id = {r.info.run_id: r for r in runs if r.data.tags.get("privhealth.kind") == "run"}
    points = pd.read_csv(tmp_path / "families_points.csv", na_values=["not measured"])
    assert sorted(points["run_id"]) == sorted(by_id)
    counts = points["family"].value_counts().to_dict()
    assert counts == {"DP-SGD": 5, "k/l/t": 2, "raw": 1, "synthetic (copula)": 1, "DP synthetic (MST)": 1}
    slugs = {"raw": "raw", "k/l/t": "klt", "DP-SGD": "dpsgd", "DP synthetic (MST)": "mst", "synthetic (copula)": "copula"}
    for family, slug in slugs.items():
        table = pd.read_csv(tmp_path / f"family_{slug}.csv", na_values=["not measured"])
        assert len(table) == counts[family]
        for _, row in table.iterrows():
            run = by_id[row["run_id"]]
            assert _expected_family(run.data.params) == family, run.info.run_name
            m = run.data.metrics
            for key in (*risk, "deploy/auroc"):
                assert row[key] == pytest.approx(m[key], abs=1e-12), (key, run.info.run_name)
            assert row["risk/mia_auc_lo"] == pytest.approx(m["risk/mia_auc_lo"])
            eps = m.get("privacy/train_epsilon") if family == "DP-SGD" else m.get("privacy/epsilon")
            assert (pd.isna(row["epsilon"]) and eps is None) or row["epsilon"] == pytest.approx(eps)
    md = (tmp_path / "paper_report.md").read_text()
    assert "## One frontier: k/l/t, DP-SGD, DP synthetic and synthetic releases" in md
    assert "![families_frontier](families_frontier.png)" in md
