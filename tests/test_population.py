"""The auxiliary voter list for linkage attacks: coverage, ground truth, noise, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from privhealth.data.population import GROUND_TRUTH, identity_table, simulate_population
from privhealth.data.simulator import simulate_cohort
from privhealth.errors import ConfigError, SchemaError

N = 600


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(N, seed=3)


def test_coverage_and_ground_truth(cohort):
    pop = simulate_population(cohort, coverage=0.6, noise=0.0, extra_people=900, seed=1)
    assert len(pop) == 360 + 900
    truth = pop[GROUND_TRUTH].dropna()
    assert len(truth) == 360 and truth.is_unique
    assert set(truth) <= set(cohort.frame["icustayid"])
    assert pop["person_id"].is_unique
    # with no noise each patient's row carries exactly the patient's identity
    ident = identity_table(cohort).set_index("icustayid")
    rows = pop.dropna(subset=[GROUND_TRUTH]).set_index(GROUND_TRUTH)
    for c in ("name", "gender", "date_of_birth", "zip", "city", "address"):
        assert (rows[c].to_numpy() == ident.loc[rows.index, c].to_numpy()).all(), c
    # rows are shuffled: patients are not simply listed first
    assert pop[GROUND_TRUTH].head(360).isna().any()


def test_quasi_identifiers_link_patients_without_noise(cohort):
    pop = simulate_population(cohort, coverage=1.0, noise=0.0, extra_people=2000, seed=2)
    keys = ["zip", "date_of_birth", "gender"]
    unique = pop.groupby(keys).filter(lambda g: len(g) == 1)
    share = unique[GROUND_TRUTH].notna().sum() / N
    assert share > 0.8  # ZIP + DOB + sex single out most patients (Sweeney)


def test_noise_corrupts_fields_at_the_requested_rate(cohort):
    clean = simulate_population(cohort, coverage=1.0, noise=0.0, extra_people=0, seed=5)
    noisy = simulate_population(cohort, coverage=1.0, noise=0.25, extra_people=0, seed=5)
    a = clean.set_index(GROUND_TRUTH).sort_index()
    b = noisy.set_index(GROUND_TRUTH).sort_index()
    changed_name = (a["name"] != b["name"]).mean()
    assert 0.15 <= changed_name <= 0.32
    dob_missing = b["date_of_birth"].isna().mean()
    assert 0.07 <= dob_missing <= 0.19
    moved = (a["zip"] != b["zip"]).mean()
    assert 0.05 <= moved <= 0.3  # a move may land in the same ZIP
    assert 0.15 <= b["gender"].isna().mean() <= 0.35


def test_deterministic_per_seed(cohort):
    a = simulate_population(cohort, 0.5, 0.1, 100, seed=9)
    pd.testing.assert_frame_equal(a, simulate_population(cohort, 0.5, 0.1, 100, seed=9))
    assert not a.equals(simulate_population(cohort, 0.5, 0.1, 100, seed=10))


@pytest.mark.parametrize("kwargs", [{"coverage": 1.5}, {"noise": -0.1}, {"extra_people": -1}])
def test_bad_arguments(cohort, kwargs):
    args = {"coverage": 0.5, "noise": 0.1, "extra_people": 10, "seed": 0} | kwargs
    with pytest.raises(ConfigError):
        simulate_population(cohort, **args)


def test_needs_identities():
    plain = simulate_cohort(20, seed=0, identifiers=False)
    with pytest.raises(SchemaError, match="identity column"):
        simulate_population(plain, 0.5, 0.0, 0, seed=0)
