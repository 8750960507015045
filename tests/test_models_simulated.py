"""Every model beats the majority baseline on the embedded (simulated) cohort, not only on toy data."""

from __future__ import annotations

import pytest
import yaml
from test_models_models import CONF, FAST

from privhealth.data.simulator import simulate_cohort
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models import patient_split, train_and_evaluate


@pytest.fixture(scope="module")
def cohort():
    ds = simulate_cohort(2500, seed=11)
    folds = patient_split(ds.frame, "icustayid", "mortality_90d", seed=11)
    return ds, folds


@pytest.mark.parametrize("name", list(FAST))
def test_model_beats_majority_baseline_on_the_simulated_cohort(cohort, name):
    ds, folds = cohort
    cfg = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    r = train_and_evaluate(instantiate_model(cfg, **FAST[name]), ds.frame, ds.schema, folds, seed=0, n_bootstrap=300)
    assert r.baseline["auroc"] == 0.5
    # the 95% bootstrap interval of the AUROC excludes the baseline's 0.5
    assert r.ci["auroc"][0] > 0.5, (name, r.metrics["auroc"], r.ci["auroc"])
    assert r.metrics["f1"] > r.baseline["f1"]
