"""The foundation loop end to end on a small cohort: data → anonymization → privacy → models → MLflow."""

from __future__ import annotations

import math

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.experiments.pipeline import run_pipeline

EXPECTED_METRICS = {
    # foundation
    "privacy/k", "privacy/l_distinct", "privacy/t_emd", "privacy/suppressed_fraction",
    "test/accuracy", "test/precision", "test/recall", "test/f1", "test/auroc",
    # engine
    "privacy/l_entropy", "privacy/t_kl", "utility/ncp", "utility/discernibility", "utility/aecs",
    "utility/arx_loss",
    # attacks
    "risk/pii_leakage", "risk/linkage_reid_rate", "risk/prosecutor_max", "risk/prosecutor_avg",
    "risk/records_at_risk", "risk/inference_rate",
    # models
    "test/auprc", "test/balanced_accuracy", "test/brier", "test/f1_ci_lo", "test/f1_ci_hi",
    "test/baseline_accuracy", "raw/f1", "raw/auroc", "utility/f1_retained", "utility/auroc_retained",
    # the simulated cohort's exact oracle ceiling (issue 14)
    "task/bayes_auroc", "task/bayes_f1", "task/bayes_accuracy",
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    write_key(root)
    cfg = compose_cfg(root)
    result = run_pipeline(cfg)
    return root, cfg, result


def test_one_run_per_model_with_expected_metrics_and_params(finished):
    root, cfg, result = finished
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    exp = client.get_experiment_by_name("privhealth")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`privhealth.kind` = 'run'")
    assert sorted(r.data.tags["privhealth.model"] for r in runs) == ["rf", "xgboost"]
    for r in runs:
        assert r.info.status == "FINISHED"
        assert EXPECTED_METRICS <= set(r.data.metrics), EXPECTED_METRICS - set(r.data.metrics)
        assert r.data.params["anon.name"] == "paper_rules"
        assert r.data.params["data.n_patients"] == "300"
        assert r.data.params["seed"] == str(cfg.seed)
        assert "privhealth.git_commit" in r.data.tags
        assert r.data.tags["mlflow.parentRunId"] == result.run_ids[0]
        for m in ("test/f1", "raw/f1", "utility/f1_retained"):
            assert math.isfinite(r.data.metrics[m])
        arts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"config.yaml", "release.json", "privacy", "model", "risk"} <= arts


def test_bayes_ceiling_logged_for_the_configured_cohort(finished):
    """The logged ceiling is the one of the configured frailty and window (docs/data.md)."""
    from privhealth.data.ceiling import bayes_ceiling
    from privhealth.data.simulator import chain_thetas

    _, cfg, result = finished
    expected = bayes_ceiling(chain_thetas(float(cfg.data.frailty)), int(cfg.task.window_blocs))
    assert result.metrics["task/bayes_auroc"] == pytest.approx(expected.auroc)
    assert result.metrics["task/bayes_f1"] == pytest.approx(expected.f1)
    assert 0.8 < expected.auroc < 0.9


def test_paper_rules_release_is_measured_per_patient(finished):
    _, _, result = finished
    assert result.privacy.n_entities == result.release.n_entities_out
    assert result.privacy.k >= 1
    assert 0 <= result.metrics["privacy/suppressed_fraction"] < 0.05


def test_models_beat_the_majority_baseline(finished):
    _, _, result = finished
    for o in result.models:
        # 60 test patients: only a sanity bound here; tests/test_models_* check the baseline properly
        assert o.anon.metrics["auroc"] > 0.5
        assert o.raw.metrics["auroc"] > 0.5


def test_params_never_hold_the_key(finished):
    root, cfg, result = finished
    key = (root / ".secrets" / "pseudonym.key").read_text()
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    for rid in result.run_ids:
        run = client.get_run(rid)
        assert all(key not in v for v in run.data.params.values())
    mlflow.set_tracking_uri(None)


def test_neural_models_log_curves_and_summary(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, ["data.n_patients=300", "evaluation.n_bootstrap=100", "evaluation.folds=2", "model=[lstm,dense]",
                                 "model.lstm.max_epochs=3", "model.dense.max_epochs=3",
                                 "model.lstm.progress_bar=false", "model.dense.progress_bar=false"], fast=False)
    result = run_pipeline(cfg)
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    for o in result.models:
        run = client.get_run(o.run_id)
        assert run.data.tags["privhealth.model"] == o.name
        assert len(client.get_metric_history(o.run_id, "val/loss")) == len(o.anon.history) >= 1
        assert len(client.get_metric_history(o.run_id, "train/accuracy")) >= 1
        summary = client.download_artifacts(o.run_id, "model/summary.txt", str(tmp_path))
        assert "params" in open(summary).read().lower()
    dense = next(o for o in result.models if o.name == "dense")
    assert dense.anon.n_parameters > 2945  # more inputs than the paper's 4
