"""Privacy criteria (``anon.criteria``) at their boundaries, with values worked out by hand
(issue 17, mutation testing). Each test names the mutants of ``tools/mutants.py``
(``module:line kind``, lines of main 6d856a7) it kills.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from privhealth.anon.classes import Histograms
from privhealth.anon.criteria import (
    DistinctL,
    EntropyL,
    KAnonymity,
    RecursiveCL,
    TCloseness,
    bind,
    hierarchy_for,
    order_for,
    sensitive_of,
)
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.sensitive import SensitiveAttribute
from privhealth.anon.t_distances import resolve_distance
from privhealth.errors import ConfigError

# reference q = [.5, .25, .25] over values 1, 2, 3; class 0 holds value 1 twice (p = [1, 0, 0]),
# class 1 values 1 and 2 once each (p = [.5, .5, 0])
Q = np.array([0.5, 0.25, 0.25])
H = Histograms.build(np.array([0, 0, 1, 1]), 2, np.array([0, 0, 0, 1]), 3)


def _attr(ordered: bool = True) -> SensitiveAttribute:
    return SensitiveAttribute("s", np.array([0, 0, 0, 1]), np.array([1, 2, 3]), Q, ordered)


def test_distances_by_hand():
    """Equal (total variation) ½Σ|p−q|: class 0 ½(.5+.25+.25) = .5, class 1 ½(0+.25+.25) = .25.
    Ordered EMD Σ|cumulative (p−q)|/(m−1): class 0 cums .5, .25, 0 → .75/2 = .375; class 1 cums
    0, .25, 0 → .125. KL Σ p ln(p/q): class 0 ln 2, class 1 ½ ln 2. Ordered EMD on an unordered
    attribute, hierarchical EMD without a hierarchy and an unknown name are ConfigErrors.
    Kills criteria.py:239 Eq->NotEq, :241, :243, :244 drop Not, :250 Eq->NotEq (the name dispatch
    of 6d856a7; the names now resolve once to ``t_distances`` objects, checked the same way)."""

    def distance_values(name, hist, attr):
        return resolve_distance(name).values(hist, attr)

    a = _attr()
    np.testing.assert_allclose(distance_values("equal", H, a), [0.5, 0.25], atol=1e-12)
    np.testing.assert_allclose(distance_values("ordered", H, a), [0.375, 0.125], atol=1e-12)
    np.testing.assert_allclose(distance_values("kl", H, a), [math.log(2), 0.5 * math.log(2)], atol=1e-12)
    with pytest.raises(ConfigError, match="ordered EMD on 's'"):
        distance_values("ordered", H, _attr(ordered=False))
    with pytest.raises(ConfigError, match="hierarchical EMD on 's'"):
        distance_values("hierarchical", H, a)
    with pytest.raises(ConfigError, match="unknown distance 'foo'"):
        distance_values("foo", H, a)


def test_t_closeness_passes_at_t_and_fails_just_below():
    """Ordered EMD .375 and .125: t = .375 passes both (≤ t + 1e-9), t = .37 only class 1,
    t = .1 neither. Kills criteria.py:34 1e-09->1.000000001 and :231 (LtE/Add swaps)."""
    a = _attr()
    assert list(TCloseness(0.375).passes(None, H, a)) == [True, True]
    assert list(TCloseness(0.37).passes(None, H, a)) == [False, True]
    assert list(TCloseness(0.1).passes(None, H, a)) == [False, False]


def test_entropy_l_at_its_boundary():
    """Counts (1, 1): exp(ln 2) = 2 → passes l = 2 (compared with 2·(1 − 1e-9)); counts (3, 1):
    exp(−(.75 ln .75 + .25 ln .25)) = 1.7548 → fails l = 2, passes l = 1.75.
    min_size = ceil(l − 1e-9): 2 for l = 2.0, 3 for l = 2.5.
    Kills criteria.py:156 Mult->Div and Sub->Add, :34 (tolerance 1.000000001), :162 Sub->Add."""
    h = Histograms.build(np.array([0, 0, 1, 1, 1, 1]), 2, np.array([0, 1, 0, 0, 0, 1]), 2)
    assert list(EntropyL(2).passes(None, h, None)) == [True, False]
    assert list(EntropyL(1.75).passes(None, h, None)) == [True, True]
    np.testing.assert_allclose(EntropyL(2).values(None, h, None), [2.0, 1.7547654], rtol=1e-6)
    assert EntropyL(2.0).min_size() == 2 and EntropyL(2.5).min_size() == 3


def test_k_anonymity_and_l_parameters():
    """k: a whole number ≥ 1 (1 and 2.0 accepted, stored as int; 0, 2.5, True refused); passes
    where size ≥ k. l: ≥ 1 (1 accepted; 0.5, True refused); distinct/recursive l whole (2.5
    refused, 2.0 → 2), entropy l real. c > 0 (0 and True refused). min_size = k, l.
    Kills criteria.py:85 Lt->LtE / 1->2 / Or->And, :96, :102, :106 drop Not / GtE->Gt / 1->2,
    :108 drop Not, :136, :174 Or->And / BitOr->BitAnd / drop Not / Gt->GtE, :191."""
    assert KAnonymity(1).k == 1 and KAnonymity(2.0).k == 2 and isinstance(KAnonymity(2.0).k, int)
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="k must be a whole number"):
            KAnonymity(bad)
    assert list(KAnonymity(3).passes(np.array([2, 3, 4]), None, None)) == [False, True, True]
    assert KAnonymity(3).min_size() == 3 and list(KAnonymity(3).values(np.array([2, 5]), None, None)) == [2, 5]
    assert DistinctL(1).l == 1 and EntropyL(1).l == 1.0 and DistinctL(2.0).l == 2
    assert EntropyL(2.5).l == 2.5
    for bad in (0.5, True, "2"):
        with pytest.raises(ConfigError, match="l must be >= 1"):
            DistinctL(bad)
    with pytest.raises(ConfigError, match="l must be a whole number"):
        DistinctL(2.5)
    with pytest.raises(ConfigError, match="l must be a whole number"):
        RecursiveCL(1.0, 2.5)
    assert RecursiveCL(0.5, 2).c == 0.5 and RecursiveCL(0.5, 2).min_size() == 2 and DistinctL(3).min_size() == 3
    for bad in (0, -1.0, True):
        with pytest.raises(ConfigError, match="c must be > 0"):
            RecursiveCL(bad, 2)


def test_t_parameters():
    """t in [0, 1] for EMD (0 and 1 accepted, −0.1, 1.5 and True refused), [0, ∞) for KL (5 accepted);
    hierarchical distance needs a hierarchy. Kills criteria.py:215 And->Or, :216 Eq->NotEq,
    :217 drop Not / LtE->Lt, :221 Eq->NotEq / Is->IsNot."""
    assert TCloseness(0.0).t == 0.0 and TCloseness(1.0).t == 1.0 and TCloseness(5.0, "kl").t == 5.0
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ConfigError, match="t must be in"):
            TCloseness(bad)
    with pytest.raises(ConfigError, match="needs a hierarchy"):
        TCloseness(0.2, "hierarchical")
    flat = Hierarchy.flat("s", np.array([1, 2, 3]))
    assert TCloseness(0.2, "hierarchical", hierarchy=flat).hierarchy is flat
    assert TCloseness(0.2, "equal").ground.name == "equal"
    crit = [TCloseness(0.2, "hierarchical", attribute="b", hierarchy=flat), TCloseness(0.2, attribute="a"),
            TCloseness(0.3, "hierarchical", attribute="a", hierarchy=flat)]
    assert hierarchy_for(crit, "a") is flat and hierarchy_for(crit, "c") is None


def test_monotonicity_per_model():
    """k and distinct l: monotone with and without suppression; entropy l, recursive (c,l) and
    t-closeness: only without. Kills criteria.py:90 True->False, :124, :150/:179/:225 drop Not."""
    for c in (KAnonymity(2), DistinctL(2)):
        assert c.monotone(True) and c.monotone(False)
    for c in (EntropyL(2), RecursiveCL(1.0, 2), TCloseness(0.2)):
        assert c.monotone(False) and not c.monotone(True)


def test_bind_and_lookups():
    """bind: k passes through once; distinct l without attribute is copied per sensitive attribute
    (a, b); one already bound (x) stays as it is; none given → ConfigError. sensitive_of keeps
    order without duplicates. order_for / hierarchy_for find the t criterion of that attribute
    only. Kills criteria.py:41 True->False, :261 drop Not, :263 IsNot->Is, :265 drop Not,
    :274-275, :281 And->Or / Eq->NotEq / IsNot->Is, :288 the same."""
    k, d, x = KAnonymity(2), DistinctL(2), DistinctL(3, attribute="x")
    got = bind([k, d, x], ["a", "b"])
    assert got == [k, DistinctL(2, attribute="a"), DistinctL(2, attribute="b"), x]
    assert bind([k], []) == [k]
    with pytest.raises(ConfigError, match="needs a sensitive attribute"):
        bind([d], [])
    with pytest.raises(ConfigError, match="not a privacy criterion"):
        bind(["k=2"], ["a"])  # type: ignore[list-item]
    assert sensitive_of([x, k, DistinctL(2, attribute="a")], ["a", "b"]) == ["a", "b", "x"]
    order = ["lo", "mid", "hi"]
    crit = [TCloseness(0.2, attribute="b", order=["z"]), TCloseness(0.2, attribute="a"),
            TCloseness(0.3, attribute="a", order=order), EntropyL(2, attribute="a")]
    assert order_for(crit, "a") == order and order_for(crit, "b") == ["z"] and order_for(crit, "c") is None
    assert hierarchy_for(crit, "a") is None
