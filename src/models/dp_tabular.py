"""Differentially private logistic regression and random forest through IBM's diffprivlib.

* Logistic regression: objective perturbation (Chaudhuri, Monteleoni & Sarwate, "Differentially
  private empirical risk minimization", JMLR 2011), ``diffprivlib.models.LogisticRegression``.
  Its sensitivity needs a bound on each row's L2 norm (``data_norm``); features are Min-Max
  scaled into the task's ``clip`` range (default [0, 1]), so ``sqrt(p)`` is a bound known
  before seeing the data (rows are clipped to it by diffprivlib, never widened from the data).
* Random forest: Fletcher & Islam's differentially private random decision trees ("Differentially
  private random decision forests using smooth sensitivity", 2017) as implemented by
  ``diffprivlib.models.RandomForestClassifier``, with the same data-independent feature bounds.

ε is pure (δ = 0 for both mechanisms); the spent ε is read from diffprivlib's own
``BudgetAccountant`` after the fit, so a mechanism spending less or more than asked shows.
Both are trained on the CPU; the ``dp`` extra installs diffprivlib.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from privhealth.models.dp import DPSettings, PrivacySpent, data_norm, require
from privhealth.models.features import ModelInput


def fit_private(
    model: str, params: dict[str, Any], train: ModelInput, settings: DPSettings, seed: int,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[Any, PrivacySpent]:
    """A fitted diffprivlib estimator for ``model`` ('logreg' or 'rf') and the ε it spent."""
    from privhealth.models.sklearn_compat import dp_logistic_regression, patch_for_diffprivlib

    patch_for_diffprivlib()  # before the import: diffprivlib's forest needs two sklearn aliases
    dpl = require("diffprivlib")
    accountant = dpl.BudgetAccountant()
    X = np.asarray(train.X, dtype=np.float64)
    y = np.asarray(train.y).astype(int)
    lo, hi = clip if clip is not None else (0.0, 1.0)
    if model == "logreg":
        est = dp_logistic_regression()(
            epsilon=settings.epsilon, data_norm=data_norm(X.shape[1], clip), C=params["C"],
            max_iter=params["max_iter"], random_state=seed, accountant=accountant,
        )
    elif model == "rf":
        est = dpl.models.RandomForestClassifier(
            n_estimators=params["n_estimators"], epsilon=settings.epsilon,
            bounds=(np.full(X.shape[1], lo), np.full(X.shape[1], hi)), classes=[0, 1],
            max_depth=params["max_depth"] or 5, n_jobs=params.get("n_jobs"),
            random_state=seed, accountant=accountant,
        )
    else:  # pragma: no cover - guarded by supports_dp
        raise ValueError(model)
    with warnings.catch_warnings():
        # "features will be clipped to data_norm" is expected: the bound is data-independent
        warnings.filterwarnings("ignore", category=dpl.utils.PrivacyLeakWarning)
        warnings.filterwarnings("ignore", message=".*clipped.*")
        est.fit(np.clip(X, lo, hi), y)
    eps, delta = accountant.total()
    spent = PrivacySpent(
        epsilon=float(eps), epsilon_target=settings.epsilon, delta=float(delta),
        mechanism="diffprivlib", accountant="diffprivlib.BudgetAccountant",
    )
    return est, spent
