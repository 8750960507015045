"""Mondrian's dimension choice and suppression-relaxation path on tables worked by hand.

Issue 17, item 1 (mutation testing): each test names the survivors of the recorded
``src/anon/mondrian.py`` sample (``line:col kind`` of ``tools/mutants.py``) that it kills.
Rules (module docstring of ``anon.mondrian``): the widest normalised range wins, ties go to the
first QI; numeric width = value range / whole range, categorical width = (values present − 1) /
(values in the data − 1); a blocked categorical split is made by suppressing its failing
children when the budget allows and the gain ``before − after`` of ``_relax`` is > 1e-12, only
for partitions that have no valid split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.criteria import KAnonymity
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.mondrian import mondrian


def _flat(values: list[str]) -> Hierarchy:
    return Hierarchy.from_frame("g", pd.DataFrame([[v, "*"] for v in values]))


def test_rounds_and_nonuniform_entropy_of_numeric_pairs():
    """x = 1..8, k = 2: round 1 splits 8 → 4 + 4, round 2 → four pairs, round 3 finds no split:
    rounds = 3. Non-uniform entropy: every record's value (frequency 1) is released as a pair
    covering frequency 2: 8 · log2(2/1) = 8 bits. Kills mondrian.py:271:18 (rounds += 2) and
    :389:25 / :389:33 (cover = cum[hi + 1] − cum[lo])."""
    res = mondrian(pd.DataFrame({"x": np.arange(1, 9)}), ["x"], [KAnonymity(2)])
    assert res.rounds == 3 and res.to_dict()["rounds"] == 3
    assert res.utility.nonuniform_entropy == pytest.approx(8.0)


def test_numeric_codes_follow_value_order_not_row_order():
    """x = 4, 1, 3, 2 (unsorted rows), k = 2: the median split by value gives {1, 2} and {3, 4},
    so the rows read 3-4, 1-2, 3-4, 1-2. Kills mondrian.py:90:60 (factorize sort=False: codes in
    order of appearance, so ranges and the median would follow row order)."""
    res = mondrian(pd.DataFrame({"x": [4, 1, 3, 2]}), ["x"], [KAnonymity(2)])
    assert list(res.release["x"]) == ["3-4", "1-2", "3-4", "1-2"]
    assert res.utility.gcp == pytest.approx(1 / 3)  # range 1 / whole range 3 for every record


def test_tie_of_two_numeric_widths_goes_to_the_first():
    """Rows (x, y) = (1, 9), (2, 1), (3, 10), (4, 8), k = 2. At the root both widths are 1 (full
    ranges) and the tie goes to x: x ≤ 2 → rows 0, 1 (x 1-2, y 1-9) and rows 2, 3 (x 3-4,
    y 8-10); pairs cannot split. Were y's width measured to its second-largest value, x's would
    be (3−1)/3 = 2/3 and y's (9−1)/9 = 8/9 and y would win (y ≤ 8 → rows 1, 3 | 0, 2).
    Kills mondrian.py:107:55 (hi = sc[starts + sizes − 2])."""
    df = pd.DataFrame({"x": [1, 2, 3, 4], "y": [9, 1, 10, 8]})
    res = mondrian(df, ["x", "y"], [KAnonymity(2)])
    assert list(res.release["x"]) == ["1-2", "1-2", "3-4", "3-4"]
    assert list(res.release["y"]) == ["1-9", "1-9", "8-10", "8-10"]


def test_categorical_against_numeric_width_at_the_root():
    """g = a, b, a, b (flat hierarchy, 2 values), x = 1, 2, 3, 4, k = 2. At the root every width
    is 1: categorical (2 − 1)/(2 − 1), numeric 3/3; the tie goes to the first QI.
    QIs (g, x): split g → {a: x 1, 3} and {b: x 2, 4}; labels a, b and 1-3, 2-4.
    QIs (x, g): split x → {1, 2} and {3, 4}; g is released as * (each half holds a and b, and
    parts of 1 fail k = 2). Kills mondrian.py:158:52 (denominator max(n − 1, 2): g's width 1/2
    loses to x) and :158:13 (present + 1: g's width 3 beats x)."""
    df = pd.DataFrame({"g": ["a", "b", "a", "b"], "x": [1, 2, 3, 4]})
    h = {"g": _flat(["a", "b"])}
    g_first = mondrian(df, ["g", "x"], [KAnonymity(2)], hierarchies=h)
    assert list(g_first.release["g"]) == ["a", "b", "a", "b"]
    assert list(g_first.release["x"]) == ["1-3", "2-4", "1-3", "2-4"]
    x_first = mondrian(df, ["x", "g"], [KAnonymity(2)], hierarchies=h)
    assert list(x_first.release["x"]) == ["1-2", "1-2", "3-4", "3-4"]
    assert list(x_first.release["g"]) == ["*"] * 4


def test_relaxed_split_suppresses_only_the_failing_child():
    """g = a×5, b×5, c×1 (flat), x = 1 except 2 on the c row; k = 5, limit 0.1 → budget
    floor(1.1) = 1 record. Root: x ≤ 1 leaves {c} alone (fails), g's children a, b pass and c
    fails → relaxable, 1 failing unit. Shares at the root: g 1, x 1, total 2, two QIs:
    before = 11 · 2 = 22, after = 10 · (2 − 1) + 0 + 1 · 2 = 12, gain 10 > 0 → relax.
    Release: a×5, b×5 with x = 1; row 10 suppressed; GCP = (10 · 0 + 1 · 2) / (11 · 2) = 1/11.
    Without the budget: one class (*, 1-2).
    Kills mondrian.py:318:20 drop right of & (every row of the relaxed partition dropped) and
    :338:13 (before = sizes / total = 5.5 < 12: no relaxation)."""
    df = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 5 + ["c"], "x": [1] * 10 + [2]})
    h = {"g": _flat(["a", "b", "c"])}
    res = mondrian(df, ["g", "x"], [KAnonymity(5)], hierarchies=h, suppression_limit=0.1)
    assert list(res.release["g"]) == ["a"] * 5 + ["b"] * 5
    assert list(res.release["x"]) == ["1"] * 10
    assert res.n_suppressed == 1 and list(res.suppressed_index) == [10]
    assert res.n_classes == 2 and sorted(res.class_sizes.tolist()) == [5, 5]
    assert res.utility.gcp == pytest.approx(1 / 11)
    strict = mondrian(df, ["g", "x"], [KAnonymity(5)], hierarchies=h)
    assert strict.n_classes == 1 and set(strict.release["g"]) == {"*"}
    assert set(strict.release["x"]) == {"1-2"} and strict.n_suppressed == 0


def test_a_partition_with_a_valid_split_is_not_relaxed():
    """x = 1..11, g = a a a b b b | a a b b c (flat), k = 5, limit 0.1 (budget 1). At the root
    x ≤ 6 is valid (6 and 5 records) and wins; g's split (a 5, b 5, c 1) is relaxable with gain
    10 but the partition already splits, so nothing is suppressed. Round 2: x halves fail (3/3,
    3/2), g's children all fail (a 3, b 3 | a 2, b 2, c 1). Release: x 1-6, 7-11, g *.
    Kills mondrian.py:344:13 BitAnd->BitOr (outer ``&``: ``... | ~split`` lets the root relax g
    and suppress c)."""
    df = pd.DataFrame({"x": np.arange(1, 12), "g": list("aaabbbaabbc")})
    h = {"g": _flat(["a", "b", "c"])}
    res = mondrian(df, ["x", "g"], [KAnonymity(5)], hierarchies=h, suppression_limit=0.1)
    assert list(res.release["x"]) == ["1-6"] * 6 + ["7-11"] * 5
    assert set(res.release["g"]) == {"*"}
    assert res.n_suppressed == 0 and res.n_classes == 2


def test_small_positive_gain_still_relaxes():
    """Tree of 10 leaves: a, b, c → A; d…j → B; A, B → *. Data a×2, b×2, c×1, d×2, e×2, k = 2,
    limit 0.12 → budget floor(1.08) = 1. Round 1: * → A (5), B (4), both pass. Round 2: B → d, e
    (valid); A → a, b, c with c failing: share of A = (3 − 1)/(10 − 1) = 2/9, one QI, so
    before = 5 · 2/9 = 10/9, after = 4 · 0 + 0 + 1 · 1 = 1, gain 1/9 ∈ (1e-12, 1] → relax.
    Release a, a, b, b, d, d, e, e; the c row (4) suppressed; GCP = 1/9 (one record fully
    generalized). Kills mondrian.py:350:30 (threshold 1e-12 → 1.000000000001: gain 1/9 would
    be refused and A released whole)."""
    tree = pd.DataFrame([[v, "A", "*"] for v in "abc"] + [[v, "B", "*"] for v in "defghij"])
    h = {"g": Hierarchy.from_frame("g", tree)}
    df = pd.DataFrame({"g": list("aabbcddee")})
    res = mondrian(df, ["g"], [KAnonymity(2)], hierarchies=h, suppression_limit=0.12)
    assert list(res.release["g"]) == list("aabbddee")
    assert res.n_suppressed == 1 and list(res.suppressed_index) == [4]
    assert res.n_classes == 4 and res.utility.gcp == pytest.approx(1 / 9)
    strict = mondrian(df, ["g"], [KAnonymity(2)], hierarchies=h)
    assert list(strict.release["g"]) == ["A"] * 5 + list("ddee")
