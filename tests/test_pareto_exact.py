"""The Pareto front and λ table of the trade-off study, with ties, against brute force.

Trials (R, U), minimise R and maximise U; a dominates b when R_a <= R_b and U_a >= U_b with
at least one strict::

    t0 (0.1, 0.50)  dominated by t1           t4 (0.3, 0.90)  dominated by t3
    t1 (0.1, 0.70)  front (t5 only ties it)   t5 (0.1, 0.70)  front (a duplicate of t1)
    t2 (0.2, 0.70)  dominated by t1 and t5    t6 (0.4, 0.95)  front
    t3 (0.2, 0.90)  front

Front = {t1, t5, t3, t6}. λR − (1−λ)U on the front: λ = 0 picks t6 (−0.95); λ = 0.5 picks
t3 (0.1 − 0.45 = −0.35, against −0.30 for t1 and −0.275 for t6); λ = 1 picks R = 0.1 (t1/t5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.experiments.tradeoff import (
    attribute_risk,
    combine_risk,
    lambda_table,
    pareto_front,
    risk_score,
    utility_score,
)

TRIALS = pd.DataFrame({
    "trial": [0, 1, 2, 3, 4, 5, 6],
    "R": [0.1, 0.1, 0.2, 0.2, 0.3, 0.1, 0.4],
    "U": [0.5, 0.7, 0.7, 0.9, 0.9, 0.7, 0.95],
})


def _brute_front(r: list[float], u: list[float]) -> set[int]:
    """Positions no other trial strictly dominates (a plain double loop)."""
    keep = set()
    for i in range(len(r)):
        if not any(r[j] <= r[i] and u[j] >= u[i] and (r[j] < r[i] or u[j] > u[i]) for j in range(len(r))):
            keep.add(i)
    return keep


def test_front_keeps_tied_trials():
    """Kills the mutant "weak instead of strict dominance in the Pareto front"
    (``src/experiments/tradeoff.py``, ``pareto_front``): t1 and t5 are equal, so under weak
    dominance each removes the other and the front loses R = 0.1."""
    front = pareto_front(TRIALS)
    assert sorted(front["trial"]) == [1, 3, 5, 6]
    assert list(front["R"]) == [0.1, 0.1, 0.2, 0.4]
    assert list(front["U"]) == [0.7, 0.7, 0.9, 0.95]
    assert list(front.index) == [0, 1, 2, 3]


def test_lambda_table_on_the_tied_front():
    lam = lambda_table(pareto_front(TRIALS), [0.0, 0.5, 1.0])
    assert list(lam["lambda"]) == [0.0, 0.5, 1.0]
    assert list(lam["objective"]) == pytest.approx([-0.95, -0.35, 0.1])
    assert lam["trial"].iloc[0] == 6 and lam["trial"].iloc[1] == 3 and lam["trial"].iloc[2] in (1, 5)
    assert lambda_table(pareto_front(TRIALS.iloc[:0]), [0.5]).empty


@pytest.mark.parametrize("seed", range(6))
def test_front_equals_brute_force_on_a_coarse_grid(seed):
    """Values drawn from a 4 × 4 grid, so equal R, equal U and duplicate trials are common."""
    rng = np.random.default_rng(seed)
    n = 25
    df = pd.DataFrame({"trial": np.arange(n), "R": rng.integers(0, 4, n) / 4, "U": rng.integers(0, 4, n) / 4})
    want = _brute_front(list(df["R"]), list(df["U"]))
    got = pareto_front(df)
    assert sorted(got["trial"]) == sorted(want)
    assert list(got["R"]) == sorted(got["R"])
    # λ = 1 and λ = 0 pick the least risk and the most utility of all trials
    lam = lambda_table(got, [0.0, 1.0])
    assert lam["objective"].iloc[0] == pytest.approx(-df["U"].max())
    assert lam["objective"].iloc[1] == pytest.approx(df["R"].min())


def test_single_and_empty_inputs():
    one = TRIALS.iloc[[4]]
    assert list(pareto_front(one)["trial"]) == [4]
    assert pareto_front(TRIALS.iloc[:0]).empty


def test_utility_and_combined_risk_exact_values():
    """U = (anon − chance)/(raw − chance) clipped to [0, 1]; union 1 − (1 − a)(1 − b)."""
    assert utility_score(0.70, 0.80, 0.50) == pytest.approx(2 / 3)
    assert utility_score(0.50, 0.80, 0.50) == 0.0
    assert utility_score(0.80, 0.80, 0.50) == 1.0
    assert utility_score(0.70, 0.50, 0.50) == 1.0  # raw at chance: nothing to lose
    assert utility_score(0.70, 0.40, 0.50) == 1.0
    assert np.isnan(utility_score(float("nan"), 0.8, 0.5))
    assert np.isnan(utility_score(0.7, float("inf"), 0.5))
    assert combine_risk(0.2, 0.5, "union") == pytest.approx(0.6)
    assert combine_risk(0.2, 0.5, "max") == 0.5
    assert combine_risk(0.5, 0.2, "max") == 0.5


def test_risk_terms_are_clipped_to_the_unit_interval():
    """R's terms are fractions: a metric outside [0, 1] (a rate over a wrong denominator) is
    clipped, never passed on; the attribute term is the gain over the prior, at least 0."""
    assert risk_score({"a": 1.5, "b": 0.2}, ["a", "b"]) == 1.0
    assert risk_score({"a": -0.5}, ["a"]) == 0.0
    assert risk_score({"a": 0.3, "b": 0.7}, ["a", "b"]) == 0.7
    assert attribute_risk({"r": 1.8, "b": 0.2}, "r", "b") == 1.0
    assert attribute_risk({"r": 0.5, "b": 0.2}, "r", "b") == pytest.approx(0.3)
    assert attribute_risk({"r": 0.1, "b": 0.2}, "r", "b") == 0.0
