"""Membership inference (models/membership.py, experiments/mia.py): exact values on hand-built
cases, the bootstrap against an independent AUC, chance level on a model that never saw the
candidates, and the settings' errors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from privhealth.errors import ConfigError
from privhealth.experiments.mia import MIASettings, attack_model
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models.features import ModelInput
from privhealth.models.membership import (
    _auc_many,
    evaluate_attack,
    lira_scores,
    logit_confidence,
    loss_scores,
    shadow_assignment,
)

LOGREG = {"_target_": "privhealth.models.tabular.LogisticRegressionModel", "C": 1.0}
RF = {"_target_": "privhealth.models.tabular.RandomForestModel", "n_estimators": 30,
      "min_samples_leaf": 1, "n_jobs": 1}


def cohort(n: int, p: int = 8, seed: int = 0, flip: float = 0.3) -> ModelInput:
    """Features in [0, 1] (as the pipeline scales them), a label from the first two, some flipped."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, p))
    y = ((X[:, 0] + X[:, 1] > 1.0) ^ (rng.random(n) < flip)).astype(np.float64)
    return ModelInput(X, y, tuple(f"f{i}" for i in range(p)), "tabular")


def test_hand_built_scores_give_exact_auc_and_tpr():
    # 8 of the 9 member/non-member pairs are ordered right (0.3 < 0.7); at FPR 0 (threshold
    # above 0.7) two of three members are caught
    r = evaluate_attack([0.9, 0.8, 0.3], [0.7, 0.2, 0.1], n_bootstrap=0)
    assert r.auc == pytest.approx(8 / 9)
    assert r.tpr_at_fpr == pytest.approx(2 / 3)
    assert math.isnan(r.auc_ci[0])
    m = r.metrics("mia_")
    assert set(m) == {"mia_auc", "mia_auc_lo", "mia_auc_hi", "mia_tpr_at_1pct_fpr"}
    tie = evaluate_attack([0.5], [0.5], n_bootstrap=0)
    assert tie.auc == 0.5 and tie.tpr_at_fpr == 0.0


def test_loss_and_logit_scores_exact():
    p, y = np.array([0.8, 0.8, 0.5]), np.array([1, 0, 1])
    np.testing.assert_allclose(loss_scores(p, y), np.log([0.8, 0.2, 0.5]))
    np.testing.assert_allclose(logit_confidence(p, y), [np.log(4.0), np.log(0.25), 0.0])


def test_lira_hand_built():
    # candidate 0 is IN shadows 0, 1 (φ 2, 4: μ_in 3) and OUT of 2, 3 (φ 0, 2: μ_out 1);
    # candidate 1 IN 2, 3 (φ 3, 5: μ_in 4), OUT 0, 1 (φ 0, 2: μ_out 1). Global variances are
    # both (1+1+1+1)/3 = 4/3, so the score is ((φ−μ_out)² − (φ−μ_in)²) / (2·4/3):
    # target φ = 3 → (4 − 0)·3/8 = 1.5; φ = 1 → (0 − 9)·3/8 = −3.375
    phi = np.array([[2.0, 0.0], [4.0, 2.0], [0.0, 3.0], [2.0, 5.0]])
    inside = np.array([[True, False], [True, False], [False, True], [False, True]])
    np.testing.assert_allclose(lira_scores(np.array([3.0, 1.0]), phi, inside), [1.5, -3.375])
    with pytest.raises(ValueError, match="both with and without"):
        lira_scores(np.zeros(2), phi, np.ones_like(inside))


def test_shadow_assignment_is_balanced_and_seeded():
    a = shadow_assignment(50, 6, seed=3)
    assert a.shape == (6, 50) and (a.sum(axis=0) == 3).all()
    np.testing.assert_array_equal(a, shadow_assignment(50, 6, seed=3))
    assert not np.array_equal(a, shadow_assignment(50, 6, seed=4))


def test_bootstrap_auc_matches_sklearn_per_resample():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, (5, 40)).round(1), rng.normal(0, 1, (5, 30)).round(1)  # with ties
    want = [roc_auc_score(np.r_[np.ones(40), np.zeros(30)], np.r_[x, z]) for x, z in zip(a, b, strict=True)]
    np.testing.assert_allclose(_auc_many(a, b), want)


def test_chance_level_when_the_model_never_saw_the_members():
    """Members and non-members both disjoint from the training data: the attack AUC's 95%
    bootstrap interval contains 0.5 and the AUC is within 0.08 of it (600 + 600 candidates)."""
    model = instantiate_model(LOGREG).fit(cohort(400, seed=0), cohort(100, seed=1))
    fake = SimpleNamespace(model=model, train_input=cohort(600, seed=2), test_input=cohort(600, seed=3))
    m = attack_model(fake, LOGREG, MIASettings(n_bootstrap=300), seed=0)  # type: ignore[arg-type]
    assert m["mia_auc_lo"] <= 0.5 <= m["mia_auc_hi"], m
    assert abs(m["mia_auc"] - 0.5) < 0.08
    assert m["mia_members"] == 600 and m["mia_nonmembers"] == 600


def test_overfit_forest_is_exposed_by_both_attacks():
    """A fully grown forest memorises flipped labels: both attacks see its members."""
    train, test = cohort(200, seed=5), cohort(200, seed=6)
    model = instantiate_model(RF).fit(train, test)
    res = SimpleNamespace(model=model, train_input=train, test_input=test)
    m = attack_model(res, RF, MIASettings(shadow_models=4, n_bootstrap=50), seed=0)  # type: ignore[arg-type]
    assert m["mia_auc"] > 0.75 and m["mia_lira_auc"] > 0.75, m
    assert m["mia_auc_lo"] > 0.5 and 0 <= m["mia_lira_tpr_at_1pct_fpr"] <= 1


@pytest.mark.parametrize(
    ("mapping", "needle"),
    [({"shadow": 2}, "unknown setting"), ({"shadow_models": 1}, "at least 2"),
     ({"enabled": "yes"}, "enabled"), ({"fpr": 0}, "fpr"), ({"max_candidates": 1}, "max_candidates")],
)
def test_settings_errors_name_the_setting(mapping, needle):
    with pytest.raises(ConfigError, match=needle):
        MIASettings.from_mapping(mapping)
