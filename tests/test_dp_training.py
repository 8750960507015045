"""Training-level differential privacy (models/dp.py, models/dp_tabular.py): DP-SGD with a tiny ε
degrades an overfitting net and its membership exposure; the logged ε is the accountant's own;
diffprivlib models spend exactly their budget; a model without a DP path is refused by name."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from privhealth.errors import ConfigError
from privhealth.experiments.mia import MIASettings, attack_model
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models.dp import rdp_epsilon
from privhealth.models.features import ModelInput

# deliberately overfitting: no dropout, a high rate, 60 epochs on 100 patients
DENSE = {"_target_": "privhealth.models.neural.DenseNetModel", "dropout": 0.0, "max_epochs": 60,
         "batch_size": 50, "learning_rate": 0.03, "patience": 60, "accelerator": "cpu",
         "progress_bar": False}


def cohort(n: int, p: int = 10, seed: int = 0, flip: float = 0.15) -> ModelInput:
    """[0, 1] features, a label from two of them with some flipped: learnable, and memorisable."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, p)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] > 1.0) ^ (rng.random(n) < flip)).astype(np.float32)
    return ModelInput(X, y, tuple(f"f{i}" for i in range(p)), "tabular")


def sequences(n: int, seed: int = 0) -> ModelInput:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 5, 3)).astype(np.float32)
    y = (X[:, :, 0].mean(axis=1) > 0.5).astype(np.float32)
    return ModelInput(X, y, ("a", "b", "c"), "sequence", np.full(n, 5, dtype=np.int64))


@pytest.fixture(scope="module")
def overfit_pair():
    train, test = cohort(100, seed=1), cohort(300, seed=2)
    out = {}
    for name, extra in (("plain", {}), ("dp", {"dp": True, "dp_epsilon": 0.05})):
        cfg = {**DENSE, **extra}
        # validated on its own training patients, so the best-epoch restore keeps the most
        # memorised weights (the overfitting the test needs); DP training ignores it
        model = instantiate_model(cfg).fit(train, train)
        res = SimpleNamespace(model=model, train_input=train, test_input=test)
        out[name] = {
            "model": model,
            "auroc": roc_auc_score(test.y, model.predict_proba(test)),
            "mia": attack_model(res, cfg, MIASettings(n_bootstrap=200), seed=0),  # type: ignore[arg-type]
        }
    return train, out


def test_tiny_epsilon_degrades_utility_and_membership_exposure(overfit_pair):
    _, out = overfit_pair
    plain, dp = out["plain"], out["dp"]
    # the plain net memorises the flipped labels: a clear membership signal (measured 0.655)
    assert plain["mia"]["mia_auc_lo"] > 0.55, plain["mia"]
    # ε = 0.05: the attack is at chance (its interval covers 0.5) and well below the plain net's
    assert dp["mia"]["mia_auc_lo"] <= 0.5 <= dp["mia"]["mia_auc_hi"], dp["mia"]
    assert dp["mia"]["mia_auc"] < plain["mia"]["mia_auc"] - 0.1
    # utility: the plain net learns the signal (test AUROC 0.73), the ε = 0.05 net does not (0.43)
    assert plain["auroc"] > 0.65
    assert dp["auroc"] < plain["auroc"] - 0.15, (dp["auroc"], plain["auroc"])


def test_logged_epsilon_is_the_accountants_own(overfit_pair):
    train, out = overfit_pair
    model = out["dp"]["model"]
    spent = model.privacy_spent
    m = spent.metrics()
    assert m["privacy/train_epsilon_target"] == 0.05
    assert m["privacy/train_delta"] == pytest.approx(1 / (10 * len(train)))  # δ = 1/(10 n) < 1/n
    # Poisson sampling at q = batch/n, for the planned epochs × 1/q steps
    assert spent.sample_rate == pytest.approx(50 / 100)
    assert spent.steps == 60 * 2
    # Opacus' RDP analysis recomputed from the logged settings gives the logged ε ...
    oracle = rdp_epsilon(spent.noise_multiplier, spent.sample_rate, spent.steps, spent.delta)
    assert m["privacy/train_epsilon"] == pytest.approx(oracle, rel=1e-9)
    # ... which reaches the target from below (Opacus' search tolerance is 0.01)
    assert 0.05 - 0.011 <= m["privacy/train_epsilon"] <= 0.05 + 1e-9
    assert model.hparams()["dp"] is True and model.hparams()["dp_epsilon"] == 0.05
    assert out["plain"]["model"].privacy_spent is None and "dp" not in out["plain"]["model"].hparams()


def test_dp_lstm_trains_with_dplstm():
    cfg = {"_target_": "privhealth.models.neural.LSTMModel", "hidden_size": 8, "num_layers": 2,
           "max_epochs": 2, "batch_size": 16, "accelerator": "cpu", "progress_bar": False,
           "dp": True, "dp_epsilon": 2.0}
    model = instantiate_model(cfg).fit(sequences(80, 0), sequences(40, 1))
    p = model.predict_proba(sequences(40, 2))
    assert p.shape == (40,) and ((p >= 0) & (p <= 1)).all()
    assert type(model.net_.lstm).__name__ == "DPLSTM"
    s = model.privacy_spent
    assert s.epsilon == pytest.approx(rdp_epsilon(s.noise_multiplier, s.sample_rate, s.steps, s.delta))
    assert len(model.history) == 2


@pytest.mark.parametrize("name", ["logreg", "rf"])
def test_diffprivlib_models_spend_their_budget(name):
    target = {"logreg": "LogisticRegressionModel", "rf": "RandomForestModel"}[name]
    cfg = {"_target_": f"privhealth.models.tabular.{target}", "dp": True, "dp_epsilon": 0.5}
    if name == "rf":
        cfg |= {"n_estimators": 10, "n_jobs": 1, "max_depth": 4}
    train = cohort(300, p=6, seed=3, flip=0.1)
    model = instantiate_model(cfg).fit(train, cohort(50, p=6, seed=4))
    p = model.predict_proba(cohort(100, p=6, seed=5))
    assert p.shape == (100,) and ((p >= 0) & (p <= 1)).all()
    import diffprivlib.models as dpm

    want = {"logreg": dpm.LogisticRegression, "rf": dpm.RandomForestClassifier}[name]
    assert isinstance(model.estimator_, want)
    m = model.privacy_spent.metrics()
    assert m == {"privacy/train_epsilon": 0.5, "privacy/train_epsilon_target": 0.5,
                 "privacy/train_delta": 0.0}


def test_dp_is_refused_by_name_for_a_model_without_a_dp_path():
    with pytest.raises(ConfigError, match="'xgboost' has no differentially private"):
        instantiate_model({"_target_": "privhealth.models.tabular.XGBoostModel", "dp": True})
    with pytest.raises(ConfigError, match="dp_epsilon"):
        instantiate_model({**DENSE, "dp": True, "dp_epsilon": 0})
    with pytest.raises(ConfigError, match="dp_accountant"):
        instantiate_model({**DENSE, "dp": True, "dp_accountant": "moments"})


def test_sklearn_shim_restores_only_the_missing_aliases():
    """diffprivlib 0.6.6 beside scikit-learn >= 1.8: two dtype aliases and a constructor argument."""
    import sklearn.tree._tree as tree_module

    from privhealth.models.sklearn_compat import dp_logistic_regression, patch_for_diffprivlib

    patch_for_diffprivlib()
    assert tree_module.DTYPE is np.float32 and tree_module.DOUBLE is np.float64
    assert patch_for_diffprivlib() == []  # idempotent: nothing added twice
    import diffprivlib.models as dpm

    cls = dp_logistic_regression()
    assert issubclass(cls, dpm.LogisticRegression)
    est = cls(epsilon=1.0, data_norm=1.0, random_state=0)
    assert est.get_params()["epsilon"] == 1.0 and est.get_params()["data_norm"] == 1.0
    X = np.random.default_rng(0).random((50, 1)) * 0.9
    est.fit(X, (X[:, 0] > 0.45).astype(int))
    assert est.accountant.total()[0] == 1.0 and est.coef_.shape == (1, 1)


def test_benchmark_smoke():
    """benchmarks/dp_mia.py runs end to end at tiny sizes (the figures are not checked here)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import dp_mia

    section = dp_mia.run(dp_mia.parse(["--patients", "40", "--epochs", "2", "--epsilons", "4"]))
    text = section.markdown()
    assert "| no DP |" in text and "| 4 |" in text and "MIA AUC" in text
