"""Risk models (``anon.attacks.risk``) on hand-worked cases (issue 17, mutation testing).

Each test names the mutants of ``tools/mutants.py`` (``module:line kind``, lines of main 6d856a7)
it kills; the expected numbers are worked out in the docstrings.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.attacks.risk import (
    PopulationUniqueness,
    class_ids,
    class_sizes,
    pitman_uniques,
    population_uniqueness,
    risk_models,
    zayatz_uniques,
)


def test_class_sizes_and_ids_by_hand():
    """a = [1, 2, 2, NaN, NaN]: classes {1}, {2, 2}, {NaN, NaN} (missing values form a class) →
    sizes [1, 2, 2, 2, 2], ids [0, 1, 1, 2, 2]; no quasi-identifier: one class of all 5; an empty
    table: no sizes. Kills risk.py:35 Or->And / Eq->NotEq, :38, :43 drop Not."""
    t = pd.DataFrame({"a": [1, 2, 2, np.nan, np.nan]})
    assert list(class_sizes(t, ["a"])) == [1, 2, 2, 2, 2]
    assert list(class_ids(t, ["a"])) == [0, 1, 1, 2, 2]
    assert list(class_sizes(t, [])) == [5] * 5
    assert list(class_ids(t, [])) == [0] * 5
    assert len(class_sizes(t.iloc[:0], ["a"])) == 0


def test_zayatz_by_hand():
    """Classes per size {1: 2, 2: 1}: n = 4 of N = 8. h(s) = P(one of a population class of s in a
    sample of 4 of 8): h(1) = 4/8 = 1/2, h(2) = C(2,1)·C(6,3)/C(8,4) = 2·20/70 = 4/7. Denominator
    2·(1/2) + 1·(4/7) = 11/7; P(unique | sample unique) = 2·(1/2)/(11/7) = 7/11; uniques =
    2·(7/11)/(4/8) = 28/11. No sample unique → 0. Kills risk.py:96-108 (sums, the pmf arguments
    1->2, Mult/Div swaps, c1 == 0)."""
    assert zayatz_uniques({1: 2, 2: 1}, 8) == pytest.approx(28 / 11, rel=1e-12)
    assert zayatz_uniques({2: 3}, 8) == 0.0
    assert zayatz_uniques({1: 2, 2: 1}, 2) == pytest.approx(2)  # N below n is raised to n = 4: every unique is one


def test_pitman_with_two_classes_is_the_ewens_maximum():
    """Sizes {1: 1, 2: 1} (u = 2 classes, n = 3): the likelihood is largest at alpha = 0 (Ewens), where
    the score equation u = Σ_{i<n} θ/(θ+i) reads 2 = 1 + θ/(θ+1) + θ/(θ+2), i.e. θ² = 2, θ = √2;
    uniques = Γ(θ+1)/Γ(θ)·N⁰ = θ = √2. One class, or every class a singleton (u = n), has no
    interior maximum → NaN; so is an estimate above N. Kills risk.py:61 Lt->LtE and 2->3 (u = 2
    refused), :61 Or->And, :69 Mult->Div (i/α in the likelihood), :83 Or->And."""
    uniques, theta, alpha = pitman_uniques({1: 1, 2: 1}, 100)
    assert theta == pytest.approx(math.sqrt(2), rel=1e-6)
    # Nelder-Mead stops at xatol 1e-8 on (logit alpha, log(theta + alpha)): theta is then within
    # ~1e-8 of sqrt(2) (1.2e-8 measured); with xatol ~1 only fatol stops it, ~1e-7 off (risk.py:76)
    assert abs(theta - math.sqrt(2)) < 5e-8
    assert uniques == pytest.approx(math.sqrt(2), rel=1e-6)
    assert alpha == pytest.approx(0.0, abs=1e-6)
    # an estimate above the population size (√2 > 1) is no estimate: NaN (risk.py:83 Or->And)
    assert math.isnan(pitman_uniques({1: 1, 2: 1}, 1)[0])
    for hist in ({2: 1}, {1: 3}):
        assert all(math.isnan(x) for x in pitman_uniques(hist, 100)), hist


def test_dankar_rule_at_a_sampling_fraction_of_one_tenth():
    """n = 50 + 40 + 24 + 15 = 129 patients: with N = 1290 the sampling fraction is exactly 0.1 →
    Pitman; with N = 1289 it is 0.10008 → Zayatz. Sizes {1: 2, 2: 1} with N = 8 (fraction 0.5):
    Zayatz's 28/11, fraction 28/88. No unique: model "none", 0. Kills risk.py:133, :134 0->1,
    :138 LtE->Lt and And->Or, :126 (fraction)."""
    hist = {1: 50, 2: 20, 3: 8, 5: 3}
    at = population_uniqueness(hist, 1290)
    assert at.sampling_fraction == pytest.approx(0.1) and at.model == "pitman" and at.uniques == at.pitman
    over = population_uniqueness(hist, 1289)
    assert over.model == "zayatz" and over.uniques == over.zayatz
    z = population_uniqueness({1: 2, 2: 1}, 8)
    assert z.model == "zayatz" and z.uniques == pytest.approx(28 / 11) and z.fraction == pytest.approx(28 / 88)
    assert z.population_size == 8 and z.sampling_fraction == 0.5
    none = population_uniqueness({2: 3}, 60)
    assert none.model.startswith("none") and none.uniques == 0.0 and none.fraction == 0.0
    assert none.sampling_fraction == pytest.approx(0.1)
    assert PopulationUniqueness(0, 1.0, 0.0, 0.0, 0.0, 0.0, "none", 0.0).fraction == 0.0


def test_risk_figures_at_the_threshold_and_their_dict():
    """Sizes [1, 2, 2] at threshold 0.5: r = 1, ½, ½; only 1 > 0.5 → at risk 1/3; 2 classes, marketer
    2/3; hist {1: 1, 2: 1} with N = 30 → fraction 0.1 → Pitman (√2 uniques). Journalist counts
    [0, 2, 4] → F = 1, 2, 4 → max 1, mean (1 + ½ + ¼)/3 = 7/12, at risk 1/3 (½ is not > ½).
    No patient: every figure 0, no population. to_dict turns NaN into None and numpy ints into int.
    Kills risk.py:193 0->1 / 0.0->1.0, :195-198, :207 Gt->GtE, :213-218, :175 BitOr->BitAnd, :176-178."""
    r = risk_models(np.array([1, 2, 2]), ["a"], 0.5, 30, journalist_counts=np.array([0, 2, 4]), journalist_fields=["zip"])
    assert r.records_at_risk == pytest.approx(1 / 3) and r.n_classes == 2 and r.marketer == pytest.approx(2 / 3)
    assert r.prosecutor_avg == pytest.approx(2 / 3) and r.sample_uniqueness == pytest.approx(1 / 3)
    assert r.population is not None and r.population.model == "pitman"
    assert r.population.uniques == pytest.approx(math.sqrt(2), rel=1e-6)
    assert r.journalist_max == 1.0 and r.journalist_avg == pytest.approx(7 / 12)
    assert r.journalist_at_risk == pytest.approx(1 / 3) and r.journalist_fields == ["zip"]
    d = r.to_dict()
    assert d["population"]["model"] == "pitman" and d["population"]["fraction"] == pytest.approx(math.sqrt(2) / 30, rel=1e-6)
    assert d["n_classes"] == 2 and d["quasi"] == ["a"]
    empty = risk_models(np.array([], dtype=np.int64), [], 0.5, None)
    assert (empty.n_patients, empty.n_classes, empty.smallest_class) == (0, 0, 0)
    assert (empty.prosecutor_max, empty.prosecutor_avg, empty.records_at_risk, empty.sample_uniqueness,
            empty.marketer) == (0.0, 0.0, 0.0, 0.0, 0.0)
    e = empty.to_dict()
    assert e["journalist_max"] is None and "population" not in e and e["threshold"] == 0.5
    plain = risk_models(np.array([3, 3, 3]), ["a"], 0.2, None).to_dict()
    assert isinstance(plain["smallest_class"], int) and plain["journalist_avg"] is None
