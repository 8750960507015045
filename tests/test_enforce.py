"""Enforced anonymizers on the simulated cohort: the release meets (k, l, t) per patient, or is refused."""

from __future__ import annotations

import pytest

from privhealth.anon.enforce import EnforcedAnonymizer, build_criteria, verify_release
from privhealth.anon.privacy import measure
from privhealth.anon.release import NoAnonymization, RuleBasedAnonymizer
from privhealth.anon.transforms import Generalizer, Pseudonymizer
from privhealth.data.simulator import simulate_cohort
from privhealth.errors import ConfigError, PrivacyModelError

HIER = {
    "age": {"type": "intervals", "levels": [5, 10, 20], "top_code": 90},
    "zip": {"type": "prefix", "keep": [4, 3, 2, 1]},
    "date_of_birth": {"type": "dates", "levels": ["month", "year", "decade"]},
    "admission_date": {"type": "dates", "levels": ["month", "year"]},
}


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(600, seed=3)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PRIVHEALTH_PSEUDONYM_KEY", "x" * 32)


@pytest.mark.parametrize("method", ["optimal", "mondrian"])
def test_release_meets_the_model_per_patient(cohort, key, method):
    anon = EnforcedAnonymizer(
        method, identifiers=[Pseudonymizer(["icustayid", "mrn"])], hierarchies=HIER,
        k=5, l=2, t=0.6, suppression=0.05,
    )
    rel = anon.anonymize(cohort)
    rep = measure(rel.frame, cohort.schema.quasi, ["elixhauser", "mortality_90d"], entity="icustayid")
    assert rep.k >= 5 and rep.l_distinct >= 2
    assert rel.suppressed_fraction <= 0.05
    assert rep.n_entities == rel.n_entities_out
    # released rows are a subset of the source rows, every bloc of a kept patient kept
    assert set(rel.frame.index) <= set(cohort.frame.index)
    assert rel.details["utility"]["arx_loss"] > 0
    assert not rel.frame["icustayid"].isin(cohort.frame["icustayid"].astype(str)).any()


def test_infeasible_request_names_the_constraint(cohort, key):
    anon = EnforcedAnonymizer("optimal", hierarchies=HIER, k=5, l=3, suppression=0.0,
                              sensitive=["mortality_90d"], target_is_sensitive=False)
    with pytest.raises(PrivacyModelError, match="l=3"):
        anon.anonymize(cohort)


def test_verify_refuses_a_release_that_fails(cohort):
    raw = NoAnonymization().anonymize(cohort)
    with pytest.raises(PrivacyModelError, match="refused.*k-anonymity"):
        verify_release(raw, build_criteria(k=2), cohort.schema.quasi, ["mortality_90d"])


def test_rule_based_release_reports_targets_and_utility(cohort):
    rel = RuleBasedAnonymizer(
        [Generalizer({"age": {"type": "intervals", "levels": [10], "top_code": 90}})], k=5
    ).anonymize(cohort)
    assert rel.details["targets"]["k"] == 5
    u = rel.details["utility"]
    assert 0 < u["arx_loss"] < 1 and u["discernibility"] > 0


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="unknown anonymization method 'datafly'"):
        EnforcedAnonymizer("datafly")
    with pytest.raises(ConfigError, match="suppression limit"):
        EnforcedAnonymizer(suppression=1.5)
    with pytest.raises(ConfigError, match="k must"):
        EnforcedAnonymizer(k=0)
    with pytest.raises(ConfigError, match="t must be in"):
        EnforcedAnonymizer(t=1.5)
    with pytest.raises(ConfigError, match="no privacy model requested"):
        EnforcedAnonymizer(k=None)
