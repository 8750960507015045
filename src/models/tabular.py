"""Tabular models on per-patient window summaries: logistic regression, Random Forest, XGBoost."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Self

import numpy as np

from privhealth.models.base import ClinicalModel, check_choice, check_float, check_int
from privhealth.models.features import ModelInput

CLASS_WEIGHTS = (None, "balanced")


class _EstimatorModel(ClinicalModel):
    """A scikit-learn style estimator behind the ClinicalModel interface."""

    input_kind = "tabular"

    def __init__(self, **common: Any) -> None:
        super().__init__(**common)
        self.estimator_: Any = None
        self.feature_names_: tuple[str, ...] = ()

    @abstractmethod
    def _make(self, seed: int) -> Any:
        """A fresh, unfitted estimator."""

    def _fit(self, train: ModelInput, val: ModelInput) -> None:
        if self.dp_settings is not None:
            from privhealth.models.dp_tabular import fit_private

            self.estimator_, self.privacy_spent = fit_private(
                self.name, self._dp_kwargs(), train, self.dp_settings, self._fit_seed
            )
            return
        self.estimator_.fit(train.X, train.y)

    def _dp_kwargs(self) -> dict[str, Any]:
        """The hyper-parameters the diffprivlib estimator takes (DP models only)."""
        return {}

    def fit(self, train: ModelInput, val: ModelInput, seed: int | None = None) -> Self:
        self._check_input(train, "training")
        self._check_input(val, "validation")
        self._fit_seed = self._seed_for(seed)
        self.estimator_ = self._make(self._fit_seed)
        self.history = []
        self._fit(train, val)
        self.feature_names_ = train.feature_names
        return self

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        if self.estimator_ is None:
            raise RuntimeError(f"model '{self.name}' predicted before fit")
        self._check_input(data, "prediction")
        return self._proba(data.X)

    def _proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X)[:, 1], dtype=np.float64)

    def _describe(self, what: str) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self._hparams.items())
        return (
            f"{type(self.estimator_).__name__ if self.estimator_ is not None else self.name}: {what}\n"
            f"inputs: {len(self.feature_names_)} features (window summaries, statics, one-hot QIs)\n"
            f"parameters: {self.n_parameters:,}\n"
            f"hyper-parameters: {hp}"
        )


class LogisticRegressionModel(_EstimatorModel):
    """L2-regularised logistic regression: the linear baseline."""

    name = "logreg"

    def __init__(
        self,
        *,
        C: float = 1.0,
        max_iter: int = 1000,
        class_weight: str | None = None,
        **common: Any,  # seed, logger
    ) -> None:
        super().__init__(**common)
        self.C = check_float(self.name, "C", C, 1e-12, float("inf"), high_open=True)
        self.max_iter = check_int(self.name, "max_iter", max_iter)
        self.class_weight = check_choice(self.name, "class_weight", class_weight, CLASS_WEIGHTS)
        self._hparams.update(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight)

    supports_dp = True

    def _make(self, seed: int) -> Any:
        if self.dp_settings is not None:
            return None  # built in _fit: diffprivlib needs the feature count for its norm bound
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, random_state=seed
        )

    def _dp_kwargs(self) -> dict[str, Any]:
        return {"C": self.C, "max_iter": self.max_iter}

    @property
    def n_parameters(self) -> int:
        if self.estimator_ is None:
            return 0
        return int(self.estimator_.coef_.size + self.estimator_.intercept_.size)

    def summary(self) -> str:
        return self._describe("one weight per feature plus an intercept")


class RandomForestModel(_EstimatorModel):
    """scikit-learn Random Forest (the paper's Fig. 2): bagged trees, probability = mean vote."""

    name = "rf"

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        max_depth: int | None = None,
        min_samples_leaf: int = 5,
        max_features: str | float = "sqrt",
        class_weight: str | None = None,
        n_jobs: int | None = None,
        **common: Any,  # seed, logger
    ) -> None:
        super().__init__(**common)
        n = self.name
        self.n_estimators = check_int(n, "n_estimators", n_estimators)
        self.max_depth = None if max_depth is None else check_int(n, "max_depth", max_depth)
        self.min_samples_leaf = check_int(n, "min_samples_leaf", min_samples_leaf)
        if isinstance(max_features, str):
            self.max_features: str | float = check_choice(
                n, "max_features", max_features, ("sqrt", "log2")
            )
        else:
            self.max_features = check_float(n, "max_features", max_features, 1e-9, 1.0)
        self.class_weight = check_choice(
            n, "class_weight", class_weight, (*CLASS_WEIGHTS, "balanced_subsample")
        )
        self.n_jobs = None if n_jobs is None else check_int(n, "n_jobs", n_jobs, minimum=-1)
        self._hparams.update(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
        )

    supports_dp = True

    def _make(self, seed: int) -> Any:
        if self.dp_settings is not None:
            return None  # built in _fit (diffprivlib)
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            random_state=seed,
        )

    @property
    def n_parameters(self) -> int:
        if self.estimator_ is None:
            return 0
        return int(sum(t.tree_.node_count for t in self.estimator_.estimators_))

    def _dp_kwargs(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "max_depth": self.max_depth, "n_jobs": self.n_jobs}

    def _proba(self, X: np.ndarray) -> np.ndarray:
        if self.dp_settings is not None:
            return np.asarray(self.estimator_.predict_proba(X)[:, 1], dtype=np.float64)
        return forest_proba(self.estimator_, X, self.n_jobs)

    def summary(self) -> str:
        return self._describe(f"{self.n_estimators} trees; parameters = tree nodes in all")


def forest_proba(forest: Any, X: np.ndarray, n_jobs: int | None) -> np.ndarray:
    """P(y=1) from a fitted forest, the same bits on every call.

    scikit-learn adds the trees' votes from several threads in whatever order they finish, so
    two predictions of one fitted forest differ in the last bit (and a threshold can flip on
    it). Here each thread takes a slice of rows and sums all trees in their fixed order.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    workers = min(effective_n_jobs(n_jobs), max(1, len(X) // 1000))
    saved = forest.n_jobs
    forest.n_jobs = 1
    try:
        if workers <= 1:
            proba = forest.predict_proba(X)
        else:
            parts = Parallel(n_jobs=workers, prefer="threads")(
                delayed(forest.predict_proba)(part) for part in np.array_split(X, workers)
            )
            proba = np.concatenate(parts)
    finally:
        forest.n_jobs = saved
    return np.asarray(proba[:, 1], dtype=np.float64)


class XGBoostModel(_EstimatorModel):
    """Gradient-boosted trees (XGBoost, hist), early-stopped on validation log-loss."""

    name = "xgboost"

    def __init__(
        self,
        *,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        scale_pos_weight: float = 1.0,
        early_stopping_rounds: int | None = 30,
        tree_method: str = "hist",
        device: str = "auto",
        n_jobs: int | None = None,
        **common: Any,  # seed, logger
    ) -> None:
        super().__init__(**common)
        n, inf = self.name, float("inf")
        self.n_estimators = check_int(n, "n_estimators", n_estimators)
        self.learning_rate = check_float(n, "learning_rate", learning_rate, 1e-9, 1.0)
        self.max_depth = check_int(n, "max_depth", max_depth)
        self.min_child_weight = check_float(n, "min_child_weight", min_child_weight, 0.0, inf)
        self.subsample = check_float(n, "subsample", subsample, 1e-9, 1.0)
        self.colsample_bytree = check_float(n, "colsample_bytree", colsample_bytree, 1e-9, 1.0)
        self.reg_lambda = check_float(n, "reg_lambda", reg_lambda, 0.0, inf)
        self.scale_pos_weight = check_float(n, "scale_pos_weight", scale_pos_weight, 1e-9, inf)
        self.early_stopping_rounds = (
            None
            if early_stopping_rounds is None
            else check_int(n, "early_stopping_rounds", early_stopping_rounds)
        )
        self.tree_method = check_choice(n, "tree_method", tree_method, ("hist", "approx", "exact"))
        self.device = check_choice(n, "device", device, ("auto", "cpu", "cuda"))
        self.n_jobs = None if n_jobs is None else check_int(n, "n_jobs", n_jobs, minimum=-1)
        self._hparams.update(
            {k: getattr(self, k) for k in self.accepted()
             if k not in ("seed", "logger") and not k.startswith("dp")}  # no DP path
        )

    def _make(self, seed: int) -> Any:
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            scale_pos_weight=self.scale_pos_weight,
            early_stopping_rounds=self.early_stopping_rounds,
            tree_method=self.tree_method,
            device=_xgb_device(self.device),
            n_jobs=self.n_jobs,
            random_state=seed,
            # early stopping watches the last metric on the last eval set: validation log-loss
            eval_metric=["error", "logloss"],
        )

    def _fit(self, train: ModelInput, val: ModelInput) -> None:
        self.estimator_.fit(
            train.X, train.y, eval_set=[(train.X, train.y), (val.X, val.y)], verbose=False
        )
        ev = self.estimator_.evals_result()
        tr, va = ev["validation_0"], ev["validation_1"]
        self.history = [
            {
                "epoch": i + 1,
                "train_loss": float(tr["logloss"][i]),
                "train_accuracy": 1.0 - float(tr["error"][i]),
                "val_loss": float(va["logloss"][i]),
                "val_accuracy": 1.0 - float(va["error"][i]),
            }
            for i in range(len(tr["logloss"]))
        ]

    @property
    def n_trees(self) -> int:
        """Trees used for prediction (up to the best validation round when early-stopped)."""
        if self.estimator_ is None:
            return 0
        best = getattr(self.estimator_, "best_iteration", None)
        return self.n_estimators if best is None else int(best) + 1

    @property
    def n_parameters(self) -> int:
        if self.estimator_ is None:
            return 0
        dump = self.estimator_.get_booster().get_dump()[: self.n_trees]
        return int(sum(tree.count("\n") for tree in dump))  # one line per node

    def summary(self) -> str:
        return self._describe(
            f"{self.n_trees} boosted trees (of {self.n_estimators}); parameters = tree nodes"
        )


def _xgb_device(device: str) -> str:
    """'auto' → 'cuda' when a CUDA device and a CUDA build of XGBoost are present, else 'cpu'."""
    if device != "auto":
        return device
    try:
        import torch
        import xgboost

        cuda_build = bool(xgboost.build_info().get("USE_CUDA", False))
        return "cuda" if cuda_build and torch.cuda.is_available() else "cpu"
    except Exception:  # pragma: no cover - build info missing on exotic builds
        return "cpu"
