"""One label format for generalized numbers and dates: every form the methods emit is read back.

For each label a method writes, the reader gives a range holding the value it came from, and
the attack's and Safe Harbor's reader (``age_intervals``) reads the same labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.attacks.linkage import _field_plan, age_intervals
from privhealth.anon.criteria import KAnonymity
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.mondrian import mondrian
from privhealth.data.intervals import format_ranges, format_top, parse_periods, parse_ranges

INF = np.inf


@pytest.mark.parametrize(
    "label, lo, hi",
    [
        ("57", 57, 57), ("57.5", 57.5, 57.5), ("40-59", 40, 59), ("-5--1", -5, -1), ("[60, 70)", 60, 70),
        ("[54.9, 57.53]", 54.9, 57.53), ("(1, 2]", 1, 2), ("[26-43]", 26, 43), ("90+", 90, INF),
        ("*", np.nan, np.nan), ("123**", np.nan, np.nan), ("  40 - 59 ", 40, 59),
    ],
)
def test_parse_every_form(label, lo, hi):
    got = parse_ranges(pd.Series([label, None], dtype=object))
    np.testing.assert_array_equal(got.to_numpy()[0], [lo, hi])
    assert np.isnan(got.to_numpy()[1]).all()  # missing stays missing


def test_writer_forms():
    assert list(format_ranges([40, 60, 0.5, 7], [60, 70, 1.5, 8], closed=False, whole=True)) == [
        "40-59", "60-69", "[0.5, 1.5)", "7"]
    assert list(format_ranges([60, 40], [70, 60], closed=False, whole=False)) == ["[60, 70)", "[40, 60)"]
    assert list(format_ranges([26, 54.9, 3, 2.5], [43, 57.53, 3, 2.5], closed=True)) == [
        "26-43", "[54.9, 57.53]", "3", "2.5"]
    assert format_top(90) == "90+"


def _check_holds(values: pd.Series, labels: pd.Series) -> None:
    got = parse_ranges(labels.astype(object))
    v = values.to_numpy(dtype=float)
    assert got["lo"].notna().all(), labels[got["lo"].isna()].unique()
    assert ((got["lo"] <= v) & (v <= got["hi"])).all()
    lo, hi = age_intervals(labels.astype(object), 200)  # the attacks and Safe Harbor read them too
    assert np.all(np.isfinite(lo)) and np.all((lo <= v) & (v <= hi))


@pytest.mark.parametrize("fractional", [False, True])
def test_hierarchy_labels_read_back(fractional):
    rng = np.random.default_rng(0)
    ages = pd.Series(rng.uniform(18, 99, 300) if fractional else rng.integers(18, 99, 300).astype(float))
    h = Hierarchy.intervals("age", ages, [5, 10, [0, 30, 60, 120]], top_code=90)
    for level in range(1, h.max_level):
        labels = pd.Series(h.generalize(ages, level))
        forms = set(labels)
        assert "90+" in forms
        assert all(("[" in f) == fractional for f in forms if f != "90+")
        _check_holds(ages, labels)


@pytest.mark.parametrize("fractional", [False, True])
def test_mondrian_labels_read_back(fractional):
    rng = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame({
        "age": rng.uniform(18, 90, n).round(2) if fractional else rng.integers(18, 90, n),
        "gender": rng.integers(0, 2, n),
        "d": rng.choice(["a", "b"], n),
    })
    res = mondrian(df, ["age", "gender"], [KAnonymity(7)], sensitive=[])
    labels = res.release["age"].astype(str)
    assert not labels.str.contains(r"^\[[^,]*-").any()  # the former [lo-hi] form is gone
    if not fractional:
        assert labels.str.fullmatch(r"\d+(-\d+)?").all()
    _check_holds(df.loc[res.release.index, "age"].astype(float), labels)
    gender = res.release["gender"].astype(str)
    plan = _field_plan("gender", "code", gender)
    assert (plan.pattern[(gender == "0-1").to_numpy()] < 0).all()  # a range of both codes hides it


def test_date_labels_read_as_periods():
    days = pd.Series(pd.to_datetime(["2019-03-14", "1938-01-21", "2001-12-31"]))
    h = Hierarchy.dates("d", days, ["month", "quarter", "year", "decade"])
    y = 1970 + (days - pd.Timestamp(0)).dt.total_seconds().to_numpy() / (365.25 * 86400)
    widths = []
    for level in range(0, h.max_level):
        got = parse_periods(pd.Series(h.generalize(days, level)))
        assert got["lo"].notna().all()
        assert ((got["lo"] <= y + 1e-9) & (y <= got["hi"] + 1e-9)).all()
        widths.append(float((got["hi"] - got["lo"]).mean()))
    assert widths == sorted(widths) and widths[-1] > 9.9  # day < month < quarter < year < decade
    assert parse_periods(pd.Series(["*", None, "2019-Q1"]))["lo"].isna().tolist() == [True, True, False]
