"""The paper report: Figs. 4-6 on the toy table equal the paper's printout; on a tiny paper-like
sweep in a temporary store the report writes every file, the claims rows and its MLflow run;
missing runs, metrics and artifacts are reported as "not measured", never as a crash."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import write_key

from privhealth.errors import SchemaError
from privhealth.experiments import toy
from privhealth.experiments.report import NOT_MEASURED, PAPER_CLAIMS, UTILITY_CLAIMS, build_report
from privhealth.experiments.report_data import Store
from privhealth.experiments.tradeoff import lambda_table, pareto_front

REPO = Path(__file__).resolve().parents[1]
TINY_SWEEP = [
    "experiment=paper", "anon=none,paper_rules", "model=[logreg,dense]", "data.n_patients=200",
    "evaluation.n_bootstrap=50", "evaluation.folds=2", "model.dense.max_epochs=3", "model.dense.progress_bar=false",
    "evaluation.inference_timing.sizes=[50,200]", "evaluation.inference_timing.repeats=1",
]
EXPECTED = [
    "paper_report.md", "manifest.json", "claims.csv", "claims.md", "claims.tex", "claims_by_model.csv",
    "fig4_original.csv", "fig4_anonymized.md", "fig4_printout.txt", "fig5_feature_matrix.tex",
    "fig5_implied_table.csv", "fig5_vs_fig4.md", "fig5_printout.txt", "fig6_toy_classes.csv",
    "fig6_toy_printout.txt", "fig6_cohort.csv", "fig6_cohort.tex", "fig6_cohort_attributes.csv",
    "table2_before_after.csv", "table2_before_after.md", "table2_before_after.tex", "release_metrics.csv",
    "fig7_model_summary.txt", "fig7_parameters.csv", "fig8_inference_time.png", "fig8_inference_time.csv",
    "fig9_history_dense.png", "fig9_history.csv", "fig10_metrics.png", "fig10_metrics.csv",
    "fig10_metrics_long.csv", "frontier.png", "frontier_lambda.csv", "frontier_pareto.md",
]
VERDICTS = ("reproduced", "not reproduced", "exceeded", "not measured", "undecided")


def cli(root: Path, module: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


# ---------------------------------------------------------------------- toy table (Figs. 4-6)
def test_fig4_equals_the_paper_printout():
    original, anon = toy.fig4_tables()
    pd.testing.assert_frame_equal(anon, toy.PAPER_FIG4_ANONYMIZED)
    assert original["Age"].tolist() == [25, 40, 35, 60]
    text = toy.fig4_printout()
    assert "0        P1  XXXX    0-30  123XX           Flu" in text
    assert "3        P4  XXXX  51-100  123XX  Hypertension" in text


# Fig. 5 as the paper prints it (6 x 6; columns Age 0-30, 31-50, 51-100, then Diagnosis Diabetes,
# Flu, Hypertension). Worked out from the implied table below, one 1 per block and row:
#   (0-30, Diabetes)      -> 1 0 0 | 1 0 0      (31-50, Diabetes)     -> 0 1 0 | 1 0 0
#   (31-50, Flu)          -> 0 1 0 | 0 1 0      (51-100, Hypertension) -> 0 0 1 | 0 0 1
#   (0-30, Diabetes)      -> 1 0 0 | 1 0 0      (31-50, Flu)          -> 0 1 0 | 0 1 0
FIG5_IMPLIED = [("0-30", "Diabetes"), ("31-50", "Diabetes"), ("31-50", "Flu"), ("51-100", "Hypertension"),
                ("0-30", "Diabetes"), ("31-50", "Flu")]
FIG5_PRINTED = np.array([[1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0],
                         [0, 0, 1, 0, 0, 1], [1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0]], dtype=float)


def test_fig5_matrix_and_shapes_reproduced_from_the_implied_table():
    """The paper's printed matrix (written out above, not read from src) decodes to the implied
    table, and encoding that table gives the printed matrix back; 6 rows split 4/2."""
    np.testing.assert_array_equal(toy.PAPER_FIG5_MATRIX, FIG5_PRINTED)
    implied = toy.implied_fig5_table(FIG5_PRINTED)
    assert list(zip(implied["Age"], implied["Diagnosis"], strict=True)) == FIG5_IMPLIED
    table = pd.DataFrame([(a, "123XX", d) for a, d in FIG5_IMPLIED], columns=["Age", "ZIP", "Diagnosis"])
    f5 = toy.fig5(table)
    np.testing.assert_array_equal(f5.features.to_numpy(), FIG5_PRINTED)
    assert (f5.train_shape, f5.test_shape) == ((4, 6), (2, 6))
    assert list(f5.features.columns) == ["Age_0-30", "Age_31-50", "Age_51-100", "Diagnosis_Diabetes",
                                         "Diagnosis_Flu", "Diagnosis_Hypertension"]
    assert f5.table["Diagnosis"].tolist() == [d for _, d in FIG5_IMPLIED]
    assert "[[1. 0. 0. 1. 0. 0.]\n [0. 1. 0. 1. 0. 0.]" in f5.printout()
    # the Fig. 4 table itself: four rows, so never train (4, 6) + test (2, 6); only row 1 disagrees
    f4 = toy.fig5(toy.fig4_tables()[1])
    assert f4.features.shape == (4, 6) and f4.train_shape[0] + f4.test_shape[0] == 4
    assert toy.fig5_row_comparison()["agrees"].tolist() == ["no", "yes", "yes", "yes", "no patient", "no patient"]
    with pytest.raises(SchemaError, match=r"rows \[0\]"):
        toy.implied_fig5_table(np.array([[1, 1, 0, 1, 0, 0]]))


def test_fig6_equals_the_paper_printout_and_per_class_values():
    p6 = toy.fig6()
    assert p6.paper_verdicts() == toy.PAPER_FIG6
    text = p6.printout()
    for line in ("k-Anonymity satisfied: False", "123XX    3", "l-Diversity satisfied: True",
                 "KL Divergence (t-Closeness): 0.0", "t-Closeness satisfied (threshold=0.2): True"):
        assert line in text
    classes = p6.class_table()
    assert classes["size"].tolist() == [1, 2, 1] and classes["l_distinct"].tolist() == [1, 2, 1]
    assert classes["t_kl"].max() == pytest.approx(math.log(4))
    assert "NOT satisfied" in p6.honest_printout()


# ---------------------------------------------------------------------- a tiny paper sweep
def fake_study(uri: str) -> None:
    """A study run holding tradeoff/*.csv artifacts, as privhealth-tradeoff writes them."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("privhealth")
    run = client.create_run(exp.experiment_id, run_name="study-fake",
                            tags={"privhealth.kind": "study", "privhealth.study": "fake", "privhealth.mode": "multi"})
    trials = pd.DataFrame({"trial": [0, 1, 2, 3], "R": [0.1, 0.5, 0.3, 0.6], "U": [0.2, 0.9, 0.5, 0.8],
                           "param:anon.k": [50, 2, 10, 3]})
    front = pareto_front(trials)
    lam = lambda_table(front, [0.0, 0.5, 1.0])
    for name, df in (("trials", trials), ("pareto_front", front), ("lambda_table", lam)):
        client.log_text(run.info.run_id, df.to_csv(index=False), f"tradeoff/{name}.csv")
    client.set_terminated(run.info.run_id, "FINISHED")


def job_metrics(uri: str, key: str) -> list[dict]:
    """A release-level metric of each job (invocation run) with the job's release name."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("privhealth")
    jobs = client.search_runs([exp.experiment_id], "tags.`privhealth.kind` = 'invocation'")
    name = {"NoAnonymization": "none"}
    return [{"variant": name.get(j.data.tags["privhealth.anon_method"], "paper_rules"), "pii": j.data.metrics[key]}
            for j in jobs]


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    write_key(root)
    proc = cli(root, "privhealth.experiments.run", TINY_SWEEP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    uri = f"sqlite:///{root}/mlflow.db"
    fake_study(uri)
    report = cli(root, "privhealth.experiments.report", [])
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-3000:]
    return root, uri, report


def test_sweep_and_its_runs_are_tagged_paper(paper_store):
    _, uri, _ = paper_store
    client = MlflowClient(uri)
    # MLflow 3 lists "model/" through the logged model "model", looked up in the global store
    mlflow.set_tracking_uri(uri)
    exp = client.get_experiment_by_name("privhealth")
    runs = client.search_runs([exp.experiment_id], "tags.`privhealth.experiment` = 'paper'")
    kinds = sorted(r.data.tags["privhealth.kind"] for r in runs)
    assert kinds == ["invocation"] * 2 + ["run"] * 4 + ["sweep"]
    for r in runs:
        if r.data.tags["privhealth.kind"] == "run":
            arts = {a.path for a in client.list_artifacts(r.info.run_id, "model")}
            assert "model/inference_time.csv" in arts


def test_report_writes_every_expected_file_and_claims(paper_store):
    root, uri, proc = paper_store
    out = root / "reports" / "paper"
    missing = [f for f in EXPECTED if not (out / f).is_file()]
    assert not missing, missing
    claims = pd.read_csv(out / "claims.csv")
    assert claims["claim"].tolist() == [c.label for c in PAPER_CLAIMS] + [label for label, _ in UTILITY_CLAIMS]
    assert claims["claimed"].tolist() == pytest.approx([0.0, 0.946, 0.938, 0.925, 0.931, 0.0, 0.0])
    assert all(v.startswith(VERDICTS) for v in claims["verdict"])
    by_model = pd.read_csv(out / "claims_by_model.csv")
    assert len(by_model) == 1 + 4 * 2 + 2 * 2  # leakage per release, four metrics and two deltas per model
    # "utility preserved" is read off the paired difference anonymized − raw and its interval
    for v in by_model.loc[by_model["claim"].str.startswith("utility preserved"), "verdict"]:
        assert v.startswith(("reproduced: no detectable loss", "reproduced: utility gained",
                             "not reproduced: utility lost")) and "p=" in v
    acc = by_model[by_model["claim"] == "accuracy 94.6%"]
    assert set(acc["model"]) == {"logreg", "dense"}
    assert acc["measured"].astype(float).between(0, 1).all()
    assert acc["baseline"].astype(float).between(0.5, 1).all()  # majority class at ~20% prevalence
    # simulated data: every model run logged the Bayes ceiling; the paper's 93-95 % lie above it
    assert "Bayes ceiling" in claims.columns
    ceil = pd.to_numeric(claims.set_index("claim")["Bayes ceiling"], errors="coerce")  # NaN: "not measured"
    assert 0.7 < ceil["accuracy 94.6%"] < 0.946 and 0.4 < ceil["F1-score 93.1%"] < 0.931
    assert np.isnan(ceil["0% PII leakage (Eq. 15)"])
    for label in ("accuracy 94.6%", "precision 93.8%", "recall 92.5%", "F1-score 93.1%"):
        assert "unreachable on this cohort" in claims.set_index("claim").loc[label, "verdict"], label
    # the attack module's own risk/* metrics and risk/report.json, as the pipeline logged them
    leak = {job["variant"]: job["pii"] for job in job_metrics(uri, "risk/pii_leakage")}
    word = "reproduced on this release" if leak["paper_rules"] <= 0 else "not reproduced"
    assert claims["verdict"][0].startswith(f"{word}: pii_leakage {leak['paper_rules']:.3f}")
    assert f"the raw data leaks {leak['none']:.3f}" in claims["verdict"][0]
    for variant in ("none", "paper_rules"):
        harbor = pd.read_csv(out / f"risk_{variant}_report_safe_harbor.csv")
        # one row per HIPAA Safe Harbor category, 45 CFR 164.514(b)(2)(i)(A)-(R), with status and evidence
        assert harbor.columns.tolist() == ["category", "identifier", "status", "evidence"]
        assert harbor["category"].tolist() == list("ABCDEFGHIJKLMNOPQR")
        assert set(harbor["status"]) <= {"PASS", "FAIL", "NOT APPLICABLE"}
        assert harbor.loc[0, "identifier"] == "names"
    raw = pd.read_csv(out / "risk_none_report_safe_harbor.csv").set_index("category")
    # the raw cohort holds names, SSNs and phone numbers in clear: those categories fail, naming the column
    for cat, col in (("A", "name"), ("G", "ssn"), ("D", "phone")):
        assert raw.loc[cat, "status"] == "FAIL" and f"columns: {col}" in raw.loc[cat, "evidence"], raw.loc[cat].tolist()
    assert "the release fails in" in (out / "paper_report.md").read_text()
    table2 = pd.read_csv(out / "table2_before_after.csv")
    assert {"measured: none", "measured: paper_rules"} <= set(table2.columns)
    row = table2.set_index("aspect").loc["Quasi-identifiers", "measured: paper_rules"]
    assert "age 10-wide bands" in row and "zip first 3 digits" in row
    cohort = pd.read_csv(out / "fig6_cohort.csv")
    assert cohort["release"].tolist() == ["none", "paper_rules"]
    lam = pd.read_csv(out / "frontier_lambda.csv")
    assert lam["trial"].tolist() == [1, 1, 0]
    for tex in out.glob("*.tex"):  # compiles with plain pdflatex: Unicode written as LaTeX commands
        assert tex.read_text().isascii(), tex.name
    md = (out / "paper_report.md").read_text()
    assert "Fig. 5" in md and "Discrepancy" in md and "accuracy 94.6%" in md
    assert "verdict" in proc.stdout and "paper_report.md" in proc.stdout


def test_report_is_logged_as_an_mlflow_run(paper_store):
    _, uri, _ = paper_store
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("privhealth")
    reports = client.search_runs([exp.experiment_id], "tags.`privhealth.kind` = 'report'")
    assert len(reports) == 1 and reports[0].info.status == "FINISHED"
    arts = {a.path for a in client.list_artifacts(reports[0].info.run_id, "paper")}
    assert {"paper/claims.csv", "paper/paper_report.md", "paper/fig10_metrics.png"} <= arts


def test_missing_artifacts_and_a_failing_section_do_not_crash(paper_store, tmp_path, monkeypatch):
    _, uri, _ = paper_store
    monkeypatch.setattr(Store, "csv", lambda self, run_id, path: None)  # no CSV artifact anywhere
    rep = build_report(uri, tmp_path / "out", log_run=False)
    assert any("model/inference_time.csv" in m for m in rep.missing)
    assert any("trials.csv" in m for m in rep.missing)
    assert not rep.errors
    assert "Fig. 8" in (tmp_path / "out" / "paper_report.md").read_text()

    def broken(*args, **kwargs):
        raise KeyError("test/f1")

    monkeypatch.setattr("privhealth.experiments.report.build.model_sections", broken)
    rep = build_report(uri, tmp_path / "out", log_run=False)
    assert len(rep.errors) == 1 and "KeyError" in rep.errors[0]
    assert (tmp_path / "out" / "claims.csv").is_file()


def test_empty_store_reports_not_measured(tmp_path):
    rep = build_report(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "out", log_run=False)
    assert not rep.errors and rep.sweep_id is None
    assert any("no finished model run" in m for m in rep.missing)
    claims = rep.tables["claims"]
    assert all(v.startswith("not measured") for v in claims["verdict"])
    assert (tmp_path / "out" / "fig4_anonymized.csv").is_file()
    assert NOT_MEASURED in (tmp_path / "out" / "claims.md").read_text()


def test_report_store_reads_model_artefacts_in_process(paper_store, tmp_path):
    """The report's Store reads a run's ``model/`` files whatever the process's global tracking
    store: MLflow 3 resolves ``model/`` through the logged model "model", looked up globally."""
    from privhealth.experiments.artifacts import INFERENCE_TIME_CSV
    from privhealth.experiments.report_data import Store

    _, uri, _ = paper_store
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/elsewhere.db")  # e.g. a notebook's own store
    store = Store(uri, "privhealth", tmp_path / "scratch")
    runs = store.search("tags.`privhealth.kind` = 'run'")
    assert len(runs) == 4
    for r in runs:
        assert INFERENCE_TIME_CSV in store.artifact_paths(r.info.run_id, "model")  # a listing
        timing = store.csv(r.info.run_id, INFERENCE_TIME_CSV)
        assert timing is not None and {"n_patients", "seconds"} <= set(timing.columns)
