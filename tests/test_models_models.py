"""The five models: configs, parameter counts, learning beyond the baseline, determinism, errors."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml
from synthetic_cohort import anonymize_like, cached_cohort

from privhealth.errors import ConfigError
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models import patient_split, retained_utility, train_and_evaluate
from privhealth.models.features import ModelInput
from privhealth.models.neural import DenseNet, DenseNetModel, LSTMModel
from privhealth.models.tabular import RandomForestModel

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf" / "model"
# small, fast settings for the 2-core CI machine
FAST = {
    "logreg": {},
    "rf": {"n_estimators": 60, "n_jobs": 1},
    "xgboost": {"n_estimators": 150, "n_jobs": 1},
    "dense": {"max_epochs": 25, "batch_size": 32, "progress_bar": False},
    "lstm": {
        "max_epochs": 20,
        "batch_size": 32,
        "hidden_size": 32,
        "learning_rate": 3e-3,
        "progress_bar": False,
    },  # fmt: skip
}


def _conf(name: str) -> dict:
    return yaml.safe_load((CONF / f"{name}.yaml").read_text())


@pytest.fixture(scope="module")
def cohort():
    df, schema = cached_cohort(400, seed=0)
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    return df, schema, folds


def test_dense_net_has_2945_parameters_on_4_inputs():
    assert sum(p.numel() for p in DenseNet(4).parameters()) == 2945
    rng = np.random.default_rng(0)
    X = rng.random((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(np.int8)
    data = ModelInput(X, y, ("a", "b", "c", "d"), "tabular")
    model = DenseNetModel(max_epochs=1, progress_bar=False).fit(data, data)
    assert model.n_parameters == 2945
    text = model.summary()
    for line in ("(None, 64)", "320", "2,080", "528", "17", "Total params: 2,945 (11.50 KB)"):
        assert line in text
    assert DenseNet(10).dense.weight.numel() + 64 + 2080 + 528 + 17 == 3329  # count follows width


@pytest.mark.parametrize("name", list(FAST))
def test_model_beats_baseline_and_is_deterministic(cohort, name):
    df, schema, folds = cohort
    runs = [
        train_and_evaluate(
            instantiate_model(_conf(name), **FAST[name]), df, schema, folds, seed=0, n_bootstrap=200
        )
        for _ in range(2)
    ]
    r = runs[0]
    assert r.baseline["auroc"] == 0.5
    assert r.metrics["auroc"] > 0.7, r.metrics  # baseline: 0.5
    assert r.ci["auroc"][0] > 0.55  # clearly: the 95% interval excludes chance
    assert r.metrics["f1"] > r.baseline["f1"] + 0.3
    assert runs[0].metrics == runs[1].metrics  # same seed → identical on CPU
    np.testing.assert_array_equal(runs[0].y_prob, runs[1].y_prob)
    assert r.n_parameters > 0 and str(r.n_parameters.__class__.__name__) == "int"
    assert r.summary and r.hparams["seed"] == 0
    assert set(r.flat_metrics("test/")) >= {"test/f1", "test/f1_ci_lo", "test/baseline_f1"}
    if name in ("dense", "lstm", "xgboost"):
        assert r.history and set(r.history[0]) == {
            "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
        }  # fmt: skip


def test_seed_changes_the_network(cohort):
    df, schema, folds = cohort
    a, b = (
        train_and_evaluate(LSTMModel(**FAST["lstm"] | {"max_epochs": 2}), df, schema, folds, seed=s)
        for s in (0, 1)
    )
    assert not np.array_equal(a.y_prob, b.y_prob)


def test_raw_and_anonymized_runs_share_folds(cohort):
    df, schema, folds = cohort
    model = instantiate_model(_conf("logreg"))
    raw = train_and_evaluate(model, df, schema, folds, seed=0, n_bootstrap=100)
    anon = train_and_evaluate(model, anonymize_like(df), schema, folds, seed=0, n_bootstrap=100)
    assert anon.n_patients["test"] == raw.n_patients["test"]  # row suppression keeps patients
    assert raw.model is not anon.model and model.estimator_ is None  # caller's model untouched
    assert raw.model.n_parameters == raw.n_parameters
    kept = retained_utility(anon, raw)
    assert 0.7 < kept["auroc_retained"] < 1.2


def test_yaml_configs_instantiate_with_hydra_and_list_their_target():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    expected = {
        "logreg": "LogisticRegressionModel",
        "rf": "RandomForestModel",
        "xgboost": "XGBoostModel",
        "lstm": "LSTMModel",
        "dense": "DenseNetModel",
    }
    for name, cls in expected.items():
        model = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
        assert type(model).__name__ == cls and model.name == name
        assert instantiate_model(OmegaConf.load(CONF / f"{name}.yaml")).hparams() == model.hparams()
    assert instantiate(OmegaConf.load(CONF / "lstm.yaml")).num_layers == 3


def test_unknown_or_bad_parameters_are_config_errors_naming_them():
    with pytest.raises(ConfigError, match="'hiden_size' \\(did you mean 'hidden_size'\\?\\)"):
        instantiate_model(_conf("lstm") | {"hiden_size": 8})
    with pytest.raises(ConfigError, match="n_estimators"):
        instantiate_model(_conf("rf") | {"n_estimators": 0})
    with pytest.raises(ConfigError, match="dropout"):
        DenseNetModel(dropout=1.5)
    with pytest.raises(ConfigError, match="_target_"):
        instantiate_model({"_target_": "privhealth.models.nope.Model"})

    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    with pytest.raises(InstantiationException) as err:
        instantiate(_conf("xgboost") | {"max_dept": 3})
    assert isinstance(err.value.__cause__, ConfigError) and "max_dept" in str(err.value)


def test_input_kind_mismatch_is_a_config_error():
    data = ModelInput(
        np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]), ("a", "b", "c"), "tabular"
    )
    with pytest.raises(ConfigError, match="sequence"):
        LSTMModel(progress_bar=False).fit(data, data)


def test_lightning_never_creates_a_logger_but_uses_one_given(cohort, tmp_path, monkeypatch):
    from pytorch_lightning.loggers import CSVLogger

    monkeypatch.chdir(tmp_path)
    df, schema, folds = cohort
    fast = FAST["dense"] | {"max_epochs": 2}
    train_and_evaluate(DenseNetModel(**fast), df, schema, folds, n_bootstrap=10)
    assert list(tmp_path.iterdir()) == []  # no lightning_logs, no checkpoints
    logger = CSVLogger(tmp_path / "given")
    train_and_evaluate(DenseNetModel(**fast, logger=logger), df, schema, folds, n_bootstrap=10)
    text = next((tmp_path / "given").rglob("metrics.csv")).read_text()
    assert "train_loss" in text and "val_loss" in text


def test_models_package_imports_no_anonymization_tracking_or_hydra():
    banned = ("privhealth.anon", "mlflow", "hydra", "omegaconf", "optuna")
    for path in (REPO / "src" / "models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(banned), f"{path.name} imports {n}"


def test_progress_bar_setting_is_checked():
    assert DenseNetModel(progress_bar="auto").progress_bar in (True, False)
    assert DenseNetModel(progress_bar=True).progress_bar is True
    with pytest.raises(ConfigError, match="progress_bar"):
        DenseNetModel(progress_bar="sometimes")


def test_forest_predictions_are_bit_identical_across_calls_and_threads():
    """sklearn sums tree votes in thread-finishing order; ours must not depend on threads at all."""
    rng = np.random.default_rng(3)
    X = rng.random((4000, 12)).astype(np.float32)
    y = (X[:, 0] + rng.random(4000) > 1).astype(np.int8)
    data = ModelInput(X, y, tuple(f"f{i}" for i in range(12)), "tabular")
    many = RandomForestModel(n_estimators=80, n_jobs=-1).fit(data, data, seed=0)
    one = RandomForestModel(n_estimators=80, n_jobs=1).fit(data, data, seed=0)
    first = many.predict_proba(data)
    for _ in range(3):
        assert np.array_equal(many.predict_proba(data), first)
    assert np.array_equal(one.predict_proba(data), first)
    assert many.estimator_.n_jobs == -1  # restored after predicting
