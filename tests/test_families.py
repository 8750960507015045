"""The frontier's family rule and the MIA AUC bound implied by ε (src/experiments/report/families.py).

The end-to-end check, on a sweep the pipeline really wrote, is tests/test_sweep_plan.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from privhealth.experiments.report.families import family_of, mia_auc_bound

SYN = "privhealth.anon.synthetic.SyntheticAnonymizer"


@pytest.mark.parametrize(("params", "model", "family"), [
    ({"anon._target_": "privhealth.anon.release.NoAnonymization", "model.rf.dp": "False"}, "rf", "raw"),
    ({"anon._target_": "privhealth.anon.release.NoAnonymization", "model.rf.dp": "True"}, "rf", "DP-SGD"),
    ({"anon._target_": "privhealth.anon.enforce.EnforcedAnonymizer", "model.dense.dp": "false"}, "dense", "k/l/t"),
    ({"anon._target_": "privhealth.anon.release.RuleBasedAnonymizer"}, "xgboost", "k/l/t"),
    ({"anon._target_": SYN, "anon.method": "mst", "model.dense.dp": "False"}, "dense", "DP synthetic (MST)"),
    ({"anon._target_": SYN, "anon.method": "copula"}, "rf", "synthetic (copula)"),
    ({"anon._target_": SYN, "anon.method": "mst", "model.dense.dp": "True"}, "dense", "DP-SGD"),  # training DP first
    ({"anon._target_": SYN, "anon.method": "mst", "model.rf.dp": "True"}, "dense", "DP synthetic (MST)"),  # rf's dp
])
def test_family_of(params, model, family):
    assert family_of(params, model) == family


@pytest.mark.parametrize("eps", [0.1, 1.0, 3.0, 8.0])
def test_mia_auc_bound_is_the_area_under_the_dp_roc_envelope(eps):
    """Oracle: integrate min(e^ε x, 1 − (1 − x)/e^ε) numerically; ε = 1 gives 0.7311 (docstring)."""
    x = np.linspace(0, 1, 400_001)
    envelope = np.minimum(math.exp(eps) * x, 1 - (1 - x) / math.exp(eps))
    assert mia_auc_bound(eps) == pytest.approx(np.trapezoid(envelope, x), abs=1e-7)
    assert mia_auc_bound(1.0) == pytest.approx(0.7310586, abs=1e-7)
    assert math.isnan(mia_auc_bound(math.nan))
