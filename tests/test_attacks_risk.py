"""Risk models: prosecutor/marketer by hand, and population-uniqueness estimators vs a known population."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from attack_cases import report
from scipy.special import gammaln

from privhealth.anon.attacks.risk import (
    class_sizes,
    pitman_uniques,
    population_uniqueness,
    risk_models,
    zayatz_uniques,
)
from privhealth.data.population import simulate_population
from privhealth.data.simulator import simulate_cohort


def test_prosecutor_and_marketer_by_hand():
    t = pd.DataFrame({"a": [1, 2, 2, 3, 3, 3], "b": ["x", "y", "y", "z", "z", "z"]})
    sizes = class_sizes(t, ["a", "b"])
    assert list(sizes) == [1, 2, 2, 3, 3, 3]
    r = risk_models(sizes, ["a", "b"], threshold=0.4, population_size=None)
    assert r.prosecutor_max == 1.0
    assert r.prosecutor_avg == pytest.approx((1 + 2 * 0.5 + 3 / 3) / 6)
    assert r.records_at_risk == pytest.approx(3 / 6)  # 1 and 1/2 exceed 0.4; 1/3 does not
    assert r.sample_uniqueness == pytest.approx(1 / 6)
    assert r.marketer == pytest.approx(3 / 6) and r.n_classes == 3 and r.smallest_class == 1
    j = risk_models(sizes, ["a"], 0.4, None, journalist_counts=np.array([4, 4, 4, 10, 10, 0]))
    assert j.journalist_max == 1.0 and j.journalist_avg == pytest.approx((3 / 4 + 2 / 10 + 1) / 6)


def test_zayatz_with_the_whole_population_counts_sample_uniques():
    hist = {1: 7, 2: 3, 5: 1}
    n = 7 + 6 + 5
    assert zayatz_uniques(hist, n) == pytest.approx(7)


def test_pitman_fit_is_the_likelihood_maximum():
    hist = {1: 50, 2: 20, 3: 8, 5: 3}
    sizes = np.array(sorted(hist), float)
    counts = np.array([hist[int(s)] for s in sizes], float)
    n, u = (sizes * counts).sum(), int(counts.sum())

    def ll(theta, alpha):
        i = np.arange(1, u)
        return (np.log(theta + i * alpha).sum() - (gammaln(theta + n) - gammaln(theta + 1))
                + (counts * (gammaln(sizes - alpha) - gammaln(1 - alpha))).sum())

    _, theta, alpha = pitman_uniques(hist, 10_000)
    grid = max(ll(t, a) for a in np.linspace(0.0, 0.95, 40) for t in np.logspace(-0.5, 3, 80))
    assert ll(theta, alpha) >= grid - 1e-6


@pytest.fixture(scope="module")
def known_population() -> pd.Series:
    """A population with known quasi-identifiers: gender, 5-digit ZIP and year of birth."""
    pop = simulate_population(simulate_cohort(300, seed=5), coverage=1.0, noise=0.0, extra_people=12_000, seed=6)
    return pop["gender"].astype("str") + "|" + pop["zip"] + "|" + pop["date_of_birth"].dt.year.astype("str")


@pytest.mark.parametrize(("fraction", "model"), [(0.1, "pitman"), (0.3, "zayatz")])
def test_population_uniqueness_against_the_simulated_population(known_population, fraction, model):
    key = known_population
    N = len(key)
    truth = float((key.map(key.value_counts()) == 1).mean())
    sample = key.iloc[np.random.default_rng(2).choice(N, int(fraction * N), replace=False)]
    hist = {int(s): int(c) for s, c in sample.value_counts().value_counts().items()}
    est = population_uniqueness(hist, N)
    assert est.model == model  # Dankar et al.'s rule
    naive = float((sample.map(sample.value_counts()) == 1).mean())  # sample uniqueness
    assert 0.5 * truth <= est.fraction <= 2 * truth
    assert abs(est.fraction - truth) < abs(naive - truth) / 2


def test_released_figures_are_ordered_by_protection():
    raw, paper, k10 = (report(k).risk for k in ("raw", "paper", "k10"))
    assert raw.prosecutor_avg == 1.0 and raw.sample_uniqueness == 1.0
    assert paper.prosecutor_max == 1.0
    assert k10.prosecutor_max <= 0.1 and k10.sample_uniqueness == 0
    assert k10.journalist_max <= k10.prosecutor_max  # the population holds at least the sample
    assert k10.population is not None and k10.population.uniques == 0
