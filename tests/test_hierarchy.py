"""Hierarchies: ARX CSVs load as trees, functional builders nest, bad input is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.hierarchy import Hierarchy, build_hierarchy
from privhealth.errors import ConfigError, HierarchyError

ADULT_QI = ["age", "education", "marital-status", "native-country", "occupation", "race", "sex", "workclass"]


def test_adult_hierarchies_load_as_trees(shared_data):
    heights = {}
    for a in ADULT_QI:
        h = Hierarchy.from_csv(shared_data / "adult" / f"adult_hierarchy_{a}.csv", a, numeric=a == "age")
        assert h.n_groups(h.max_level) == 1
        heights[a] = h.height
    assert heights == {
        "age": 5, "education": 4, "marital-status": 3, "native-country": 3,
        "occupation": 3, "race": 2, "sex": 2, "workclass": 3,
    }


def test_paper_fig4_age_and_zip():
    age = Hierarchy.intervals("Age", pd.Series([25, 40, 35, 60]), [[0, 31, 51, 101]])
    assert list(age.generalize([25, 40, 35, 60], 1)) == ["0-30", "31-50", "31-50", "51-100"]
    z = Hierarchy.prefix("ZIP", pd.Series(["12345", "12346", "12345", "12347"]), keep=[3], mask_char="X")
    assert set(z.generalize(["12345", "12347"], 1)) == {"123XX"}


def test_width_levels_nest_and_top_code():
    h = Hierarchy.intervals("age", np.array([3.5, 17.2, 44.0, 91.0]), [5, 10, 20], top_code=90)
    assert list(h.generalize([44.0], 1)) == ["[40, 45)"]
    assert list(h.generalize([91.0], 3)) == ["90+"]
    assert h.generalize([3.5], 4)[0] == "*"


def test_missing_value_is_named():
    h = Hierarchy.flat("sex", pd.Series(["F", "M"]))
    with pytest.raises(HierarchyError, match="value 'X' of column 'sex' is not in its hierarchy"):
        h.encode(["F", "X"])


def test_non_tree_and_gap_rejected():
    bad = pd.DataFrame([["a", "g1", "*"], ["b", "g1", "*"], ["a2", "g2", "*"]])
    Hierarchy.from_frame("x", bad)  # fine
    not_tree = pd.DataFrame([["a", "g1", "r1"], ["b", "g1", "r2"]])
    with pytest.raises(HierarchyError, match="not a tree"):
        Hierarchy.from_frame("x", not_tree)
    gap = pd.DataFrame([["a", "", "*"], ["b", "g1", "*"]])
    with pytest.raises(HierarchyError, match="gap"):
        Hierarchy.from_frame("x", gap)


def test_build_from_config_errors():
    with pytest.raises(ConfigError, match="unknown type 'spline'"):
        build_hierarchy("age", {"type": "spline"}, pd.Series([1, 2]))
    with pytest.raises(ConfigError, match="unknown level 'week'"):
        build_hierarchy("d", {"type": "dates", "levels": ["week"]}, pd.Series(["2020-01-01"]))


def test_date_hierarchy_keeps_time_of_day_and_adds_a_day_level():
    """Timestamps on one day used to collide at level 0 ('lists value ... more than once');
    now level 0 is the timestamp, level 1 its day, then month, year, decade, *."""
    v = pd.Series(pd.to_datetime(
        ["2021-03-07 14:00", "2021-03-07 09:30", "2021-04-01 00:00", "2021-03-07 14:00"]))
    h = Hierarchy.dates("admit_time", v)
    assert h.height == 6
    assert list(h.generalize(v, 1)) == ["2021-03-07", "2021-03-07", "2021-04-01", "2021-03-07"]
    assert list(h.generalize(v, 2)) == ["2021-03", "2021-03", "2021-04", "2021-03"]
    # a subset of midnight timestamps renders without its time; it still maps
    assert list(h.generalize(v.iloc[2:3], 0)) == ["2021-04-01 00:00:00"]
    # date-only columns keep their day at level 0 (no extra level)
    d = pd.Series(pd.to_datetime(["2021-03-07", "2021-04-01"]))
    assert Hierarchy.dates("d", d).height == 5
