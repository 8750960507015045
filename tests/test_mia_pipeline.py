"""The experiment loop logs membership inference and the DP training budget for every model run."""

from __future__ import annotations

import math

import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.errors import ConfigError
from privhealth.experiments.pipeline import run_pipeline, validate_job

SMALL = ["data.n_patients=300", "evaluation.n_bootstrap=50", "evaluation.folds=2"]


def test_every_model_run_logs_mia_and_the_training_budget(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, [*SMALL, "model=[dense,logreg]", "model.dense.max_epochs=2",
                                 "model.dense.progress_bar=false", "model.dense.dp=true",
                                 "model.dense.dp_epsilon=2", "attack.mia.n_bootstrap=50"], fast=False)
    result = run_pipeline(cfg)
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    for o in result.models:
        m = client.get_run(o.run_id).data.metrics
        for prefix in ("", "raw/"):
            assert 0.0 <= m[f"{prefix}risk/mia_auc"] <= 1.0
            assert m[f"{prefix}risk/mia_auc_lo"] <= m[f"{prefix}risk/mia_auc"] <= m[f"{prefix}risk/mia_auc_hi"]
            assert 0.0 <= m[f"{prefix}risk/mia_tpr_at_1pct_fpr"] <= 1.0
        # members: the first fold's training patients; non-members: its test patients
        assert m["risk/mia_members"] == o.anon.n_patients["train"]
        assert m["risk/mia_nonmembers"] == len(o.anon.test_input)
        if o.name == "dense":  # DP-SGD: the accountant's ε, at most the target
            for prefix in ("", "raw/"):
                assert m[f"{prefix}privacy/train_epsilon_target"] == 2.0
                assert 0 < m[f"{prefix}privacy/train_epsilon"] <= 2.0 + 1e-9
                assert 0 < m[f"{prefix}privacy/train_delta"] < 1 / o.anon.n_patients["train"]
        else:
            assert not any(k.startswith("privacy/train_") for k in m)
        assert "privacy/epsilon" not in m  # the DP-release metric belongs to dp_synthetic
    # a second run with the raw results cached still logs the raw model's attack (stored beside them)
    again = run_pipeline(cfg)
    for o in again.models:
        m = client.get_run(o.run_id).data.metrics
        assert math.isfinite(m["raw/risk/mia_auc"]) and again.metrics["cache/raw_result_hits"] == 2.0


def test_dp_on_a_model_without_dp_path_is_refused_before_anything_runs(tmp_path):
    cfg = compose_cfg(tmp_path, ["model=xgboost", "model.xgboost.dp=true"], fast=False)
    with pytest.raises(ConfigError, match="'xgboost' has no differentially private"):
        validate_job(cfg)


def test_mia_can_be_switched_off(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, [*SMALL, "model=logreg", "attack.mia.enabled=false"], fast=False)
    result = run_pipeline(cfg)
    m = MlflowClient(tracking_uri=str(cfg.tracking.uri)).get_run(result.models[0].run_id).data.metrics
    assert not any("mia" in k for k in m)
    assert "risk/linkage_reid_rate" in m  # the release's own attacks still run


def test_synthetic_release_is_attacked_on_real_patients_membership(tmp_path):
    """anon=synthetic trains on synthetic rows: the MIA members must be the *real* training-fold
    patients (whose records the synthesizer saw), coded as the deploy protocol codes real patients,
    and the non-members the real test patients; the oracle below rebuilds that coding by hand
    (pipeline fitted on the release's training rows, raw records through ``Release.apply``)."""
    import numpy as np
    from omegaconf import OmegaConf

    from privhealth.experiments import mia
    from privhealth.experiments.pipeline import load_dataset
    from privhealth.experiments.protocol import make_plan
    from privhealth.models.crossval import with_keys
    from privhealth.models.features import FeaturePipeline, TaskConfig
    from privhealth.models.split import align_folds

    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, [*SMALL, "anon=synthetic", "model=rf", "model.rf.n_estimators=50",
                                 "model.rf.n_jobs=1", "evaluation.protocol=deploy", "attack.mia.n_bootstrap=50",
                                 "evaluation.inference_timing=null", "release.export=false"], fast=False)
    result = run_pipeline(cfg)
    o = result.models[0]
    m = MlflowClient(tracking_uri=str(cfg.tracking.uri)).get_run(o.run_id).data.metrics
    assert m["risk/mia_members_real"] == 1.0 and m["raw/risk/mia_members_real"] == 0.0

    # oracle: fold 0's real training patients, mapped and coded by hand
    plan = make_plan(cfg, load_dataset(cfg))
    task = OmegaConf.to_container(cfg.task, resolve=True)
    rel, entity, folds = result.release, result.release.schema.entity, plan.splits[0]
    released = with_keys(rel.frame, entity, plan.keys)
    pipe = FeaturePipeline(rel.schema, TaskConfig.from_mapping(task))
    pipe.fit(released.loc[(align_folds(folds, released, entity) == "train").to_numpy()])
    raw_train = plan.dataset.frame.loc[(folds == "train").to_numpy()]
    want = pipe.transform(with_keys(rel.apply(raw_train), entity, plan.keys), o.anon.model.input_kind)
    n_real = pipe._window(with_keys(raw_train, entity, plan.keys)).n_patients  # labelled real patients
    assert len(want) == n_real and m["risk/mia_members"] == n_real
    assert m["risk/mia_nonmembers"] == len(o.anon.test_input)  # deploy: the real test patients

    settings = mia.settings_of(cfg)
    real = mia.real_candidates(plan, rel, task, o.anon.model.input_kind)
    pool, n_in = mia.candidates(o.anon, settings, int(cfg.seed), real)
    assert n_in == n_real
    np.testing.assert_array_equal(pool.X[:n_in], want.X)
    np.testing.assert_array_equal(pool.y[:n_in], want.y)
    np.testing.assert_array_equal(pool.X[n_in:], o.anon.test_input.X)  # same coding as deploy/ scores
    assert not np.array_equal(pool.X[:n_in], o.anon.train_input.X)  # not the synthetic rows
    # a model trained on synthetic rows cannot tell the real training patients from the test ones
    assert 0.35 < m["risk/mia_auc"] < 0.65
    assert m["risk/mia_auc_lo"] < 0.5 < m["risk/mia_auc_hi"]
