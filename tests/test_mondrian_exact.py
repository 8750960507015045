"""Strict Mondrian on tables small enough to partition by hand (issue 17, mutation testing).

Rules (module docstring of ``anon.mondrian``): split at the median of the partition's units
(``<= median`` left; ``<`` when the median is the maximum), categorical QIs into the children of
their hierarchy node, only when every part satisfies every criterion; released numeric values
are the class's own range (``lo-hi`` for whole numbers, ``[lo, hi]`` otherwise, the value when
lo = hi). Each test names the mutants of ``tools/mutants.py`` (``module:line kind``, lines of
main 6d856a7) it kills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.criteria import DistinctL, KAnonymity
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.mondrian import mondrian


def test_eight_values_into_pairs():
    """x = 1..8, k = 2: 8 → {1..4}, {5..8} → pairs {1,2}, {3,4}, {5,6}, {7,8}; a pair cannot split
    (parts of 1). Labels 1-2, 3-4, 5-6, 7-8; GCP = range 1 / whole range 7 = 1/7; discernibility
    4 · 2² = 16; C_avg = (8/4)/2 = 1. Kills mondrian.py:93 (span), :107 (width), :276 (starts),
    :290-292 (valid / score / best), :338 (before)."""
    res = mondrian(pd.DataFrame({"x": np.arange(1, 9)}), ["x"], [KAnonymity(2)])
    assert list(res.release["x"]) == ["1-2", "1-2", "3-4", "3-4", "5-6", "5-6", "7-8", "7-8"]
    assert res.n_classes == 4 and sorted(res.class_sizes.tolist()) == [2, 2, 2, 2]
    assert res.utility.gcp == pytest.approx(1 / 7)
    assert res.utility.discernibility == 16 and res.utility.c_avg == 1.0
    assert res.n_suppressed == 0 and res.suppressed_rows == 0


def test_median_split_with_repeated_values():
    """x = 1, 1, 1, 1, 2, 3 and k = 2: the median unit is 1, so ``<= 1`` gives {1,1,1,1} and {2, 3};
    neither can split again (one value; parts of 1). Labels 1 and 2-3; GCP (4·0 + 2·(1/2))/6 = 1/6;
    discernibility 4² + 2² = 20. Kills mondrian.py:111 Lt->LtE and the median arithmetic."""
    res = mondrian(pd.DataFrame({"x": [1, 1, 1, 1, 2, 3]}), ["x"], [KAnonymity(2)])
    assert list(res.release["x"]) == ["1", "1", "1", "1", "2-3", "2-3"]
    assert res.utility.gcp == pytest.approx(1 / 6) and res.utility.discernibility == 20


def test_median_at_the_maximum_splits_below_it():
    """x = 1, 2, 2, 2: the median 2 is the maximum, so the split is ``< 2``: {1} and {2, 2, 2}.
    With k = 1 both parts pass (labels 1 and 2); with k = 2 {1} fails: one class 1-2, GCP 1.
    Kills mondrian.py:111 (the swap to ``<``) and :263/:271 (class and round counts)."""
    df = pd.DataFrame({"x": [1, 2, 2, 2]})
    one = mondrian(df, ["x"], [KAnonymity(1)])
    assert list(one.release["x"]) == ["1", "2", "2", "2"] and one.n_classes == 2
    two = mondrian(df, ["x"], [KAnonymity(2)])
    assert list(two.release["x"]) == ["1-2"] * 4 and two.n_classes == 1 and two.utility.gcp == 1.0


def test_distinct_l_on_each_part_and_decimal_ranges():
    """x = 1.5, 2.5, 3.5, 4.5 with s = a, b, a, b and distinct 2-diversity on s: the median split
    gives {1.5, 2.5} (a, b) and {3.5, 4.5} (a, b), both 2-diverse; splitting again leaves one value.
    Labels [1.5, 2.5] and [3.5, 4.5]; GCP (1/3 per record) = 1/3. Kills mondrian.py:176, :202
    (failing parts counted per parent) and the l check per part."""
    df = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "s": ["a", "b", "a", "b"]})
    res = mondrian(df, ["x"], [DistinctL(2, "s")])
    assert list(res.release["x"]) == ["[1.5, 2.5]", "[1.5, 2.5]", "[3.5, 4.5]", "[3.5, 4.5]"]
    assert res.utility.gcp == pytest.approx(1 / 3)
    same = mondrian(df.assign(s=["a", "a", "b", "b"]), ["x"], [DistinctL(2, "s")])
    assert same.n_classes == 1  # {1.5, 2.5} would hold only a


def test_categorical_children_by_hand():
    """Tree a, b → A; c, d → B; A, B → *; three records of each leaf. k = 3: split to the leaves
    (GCP 0); k = 4: * → A, B (6 each), but a, b (3 each) fail → labels A, B, GCP = (2 − 1)/(4 − 1)
    = 1/3; k = 7: one class *, GCP 1. Kills mondrian.py:134 (share (leaves − 1)/(size − 1)),
    :158 (categorical width) and :247 (numeric/categorical dispatch)."""
    tree = pd.DataFrame([["a", "A", "*"], ["b", "A", "*"], ["c", "B", "*"], ["d", "B", "*"]])
    h = Hierarchy.from_frame("g", tree)
    df = pd.DataFrame({"g": list("aaabbbcccddd")})
    leaves = mondrian(df, ["g"], [KAnonymity(3)], hierarchies={"g": h})
    assert list(leaves.release["g"]) == list("aaabbbcccddd") and leaves.utility.gcp == 0.0
    mid = mondrian(df, ["g"], [KAnonymity(4)], hierarchies={"g": h})
    assert list(mid.release["g"]) == ["A"] * 6 + ["B"] * 6 and mid.utility.gcp == pytest.approx(1 / 3)
    top = mondrian(df, ["g"], [KAnonymity(7)], hierarchies={"g": h})
    assert set(top.release["g"]) == {"*"} and top.utility.gcp == pytest.approx(1.0)
