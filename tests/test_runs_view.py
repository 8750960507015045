"""The runs link (saved MLflow table view), run names and descriptions, the sweep summary table."""

from __future__ import annotations

import json

import pandas as pd
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg

from privhealth.experiments import naming, runs_view, sweep_summary


def test_view_state_has_the_ui_shapes():
    state = runs_view.view_state(["privacy/k", "test/f1"], order_by="test/f1")
    assert state == {
        "orderByKey": "metrics.`test/f1`",
        "orderByAsc": False,
        "selectedColumns": ["tags.`privhealth.anon_method`", "tags.`privhealth.model`",
                            "metrics.`test/f1`", "metrics.`privacy/k`"],
    }


def test_runs_url_opens_the_machine_learning_runs_tab():
    assert runs_view.runs_url("http://127.0.0.1:5000/", "7", "privhealth-abc") == (
        "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=privhealth-abc")
    assert runs_view.ui_base("https://mlflow.example.org", None) == "https://mlflow.example.org"
    assert runs_view.ui_base("https://u:pw@mlflow.example.org", None) is None  # no credentials in a link
    assert runs_view.ui_base("postgresql+psycopg://db/x", None) is None


def test_the_view_is_stored_on_the_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("privhealth")
    link = runs_view.link_for(uri, "privhealth", "http://127.0.0.1:5001")
    key = runs_view.share_key(runs_view.view_state())
    assert link == runs_view.runs_url("http://127.0.0.1:5001", exp_id, key)
    tags = client.get_experiment(exp_id).tags
    assert json.loads(tags[f"mlflow.sharedViewState.{key}"]) == runs_view.view_state()
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert runs_view.link_for(uri, "absent", "http://127.0.0.1:5001") is None


def test_run_names_carry_what_tells_runs_apart(tmp_path):
    cfg = compose_cfg(tmp_path, ["anon=optimal", "anon.k=5", "anon.l=2", "anon.t=0.2"])
    assert naming.run_name(cfg, "optimal", "rf") == "optimal·k5·l2·t0.2·rf"
    assert naming.run_name(cfg, "optimal", "rf", ["anon.k", "seed", "model"]) == "optimal·k5·l2·t0.2·seed42·rf"
    cfg = compose_cfg(tmp_path, ["anon=paper_rules"])
    assert naming.run_name(cfg, "paper_rules", "rf") == "paper_rules·rf"  # its k/l/t are targets, not settings
    assert naming.run_name(cfg, "paper_rules", None) == "paper_rules"


def test_description_says_what_was_released_and_trained(tmp_path):
    cfg = compose_cfg(tmp_path, ["anon=optimal", "anon.k=5", "anon.t=0.2"])
    assert naming.describe(cfg, "optimal", ["rf", "xgboost"]) == (
        "optimal release of simulate_cohort enforcing k=5, t=0.2, suppressing at most 2% of patients "
        "(300 patients); rf, xgboost (one child run each) trained on the release and on the raw data, "
        "2-fold by patient, seed 42.")
    cfg = compose_cfg(tmp_path, ["anon=paper_rules"])
    assert naming.describe(cfg, "paper_rules", ["rf"]).startswith(
        "paper_rules rule set applied to simulate_cohort (k, l, t measured, not enforced)")


def test_summary_sorts_by_the_metric_with_cis_and_missing_last(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp_id = client.create_experiment("privhealth")
    parent = client.create_run(exp_id, run_name="sweep")
    figures = {"a·rf": 0.30, "b·rf": None, "c·rf": 0.41234}
    for i, (name, f1) in enumerate(figures.items()):
        r = client.create_run(exp_id, run_name=name, tags={"privhealth.sweep_id": "s1", "privhealth.kind": "run",
                                                            "privhealth.job_num": str(i)})
        client.log_metric(r.info.run_id, "privacy/k", 5 + i)
        if f1 is not None:
            client.log_metric(r.info.run_id, "test/f1", f1)
            client.log_metric(r.info.run_id, "test/f1_ci_lo", f1 - 0.05)
            client.log_metric(r.info.run_id, "test/f1_ci_hi", f1 + 0.05)
    other = client.create_run(exp_id, run_name="other", tags={"privhealth.sweep_id": "s2", "privhealth.kind": "run"})
    client.log_metric(other.info.run_id, "test/f1", 0.9)
    df = sweep_summary.summarize_sweep(client, parent.info.run_id, "s1")
    assert list(df["run"]) == ["c·rf", "a·rf", "b·rf"]
    md = client.download_artifacts(parent.info.run_id, "sweep_summary.md", str(tmp_path))
    lines = open(md).read().splitlines()
    assert lines[4].startswith("| 1 | c·rf | 2 | RUNNING | 0.412 [0.362, 0.462] | – | – | 7 |")
    assert lines[6].startswith("| 3 | b·rf | 1 | RUNNING | – | – | – | 6 |")
    csv = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep_summary.csv", str(tmp_path)))
    assert list(csv["run"]) == ["c·rf", "a·rf", "b·rf"]
    assert csv["test/f1"].iloc[0] == 0.41234 and csv["privacy/k"].tolist() == [7, 5, 6]
    by_k = sweep_summary.summary_frame(sweep_summary.sweep_runs(client, exp_id, "s1"), "privacy/k", ascending=True)
    assert list(by_k["run"]) == ["a·rf", "b·rf", "c·rf"]


def test_prosecutor_risk_is_shown_for_declared_qis_beside_the_figure_with_fragments():
    from privhealth.experiments.run import prosecutor_line

    m = {"risk/prosecutor_max": 1.0, "risk/prosecutor_avg": 0.25,
         "risk/prosecutor_max_declared": 0.0385, "risk/prosecutor_avg_declared": 0.012}
    assert prosecutor_line(m) == ("prosecutor risk  declared QIs only: max=0.038 avg=0.012  |  "
                                  "QIs + identifier fragments: max=1.000 avg=0.250")
    assert prosecutor_line({}) is None
