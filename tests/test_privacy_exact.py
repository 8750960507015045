"""k, l and t of a two-attribute table worked out by hand, and the checks at their boundaries.

Two classes of four rows (QI zip), two sensitive attributes::

    zip A: dx flu, flu, copd, copd        drug x, y, z, w
    zip B: dx flu, copd, sepsis, asthma   drug x, x, x, x

Reference (the whole table): dx flu 3/8, copd 3/8, sepsis 1/8, asthma 1/8; drug x 5/8, y, z, w 1/8.
dx:   distinct l A 2, B 4 -> 2; entropy l exp(H): A 2, B 4 -> 2;
      equal-distance EMD = half the L1 distance: A (4 × 1/8)/2 = 0.25, B (4 × 1/8)/2 = 0.25 -> 0.25;
      KL D(P_G||P_D): A ln(4/3), B ln(4/3)/2 -> ln(4/3).
drug: distinct l A 4, B 1 -> 1; entropy l A 4, B 1 -> 1;
      EMD A (3/8 + 3 × 1/8)/2 = 0.375, B (3/8 + 3/8)/2 = 0.375 -> 0.375;
      KL A 0.25 ln 0.4 + 0.75 ln 2, B ln 1.6 -> ln 1.6.
The report's overall values are the worst over attributes: l_distinct 1, l_entropy 1,
t_emd 0.375, t_kl ln 1.6 (a min turned max, or max turned min, picks dx's values instead).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.criteria import DistinctL, EntropyL, KAnonymity, RecursiveCL, TCloseness
from privhealth.anon.privacy import measure, suppressed_mask
from privhealth.errors import ConfigError

TABLE = pd.DataFrame({
    "zip": ["A"] * 4 + ["B"] * 4,
    "dx": ["flu", "flu", "copd", "copd", "flu", "copd", "sepsis", "asthma"],
    "drug": ["x", "y", "z", "w", "x", "x", "x", "x"],
})


def _report(**kw):
    return measure(TABLE, ["zip"], ["dx", "drug"], distance="equal", **kw)


def test_worst_over_attributes_by_hand():
    r = _report()
    assert (r.k, r.n_classes, r.n_entities, r.n_suppressed, r.class_sizes) == (4, 2, 8, 0, {4: 2})
    dx, drug = r.attributes["dx"], r.attributes["drug"]
    assert (dx.l_distinct, drug.l_distinct) == (2, 1)
    assert dx.l_entropy == pytest.approx(2) and drug.l_entropy == pytest.approx(1)
    assert dx.t_emd == pytest.approx(0.25) and drug.t_emd == pytest.approx(0.375)
    assert dx.t_kl == pytest.approx(math.log(4 / 3)) and drug.t_kl == pytest.approx(math.log(1.6))
    assert r.l_distinct == 1 and r.l_entropy == pytest.approx(1)
    assert r.t_emd == pytest.approx(0.375) and r.t_kl == pytest.approx(math.log(1.6))
    assert r.l_recursive is None and r.c is None
    assert list(r.classes.columns) == [
        "zip", "size", "dx.l_distinct", "dx.l_entropy", "dx.t_emd", "dx.t_kl",
        "drug.l_distinct", "drug.l_entropy", "drug.t_emd", "drug.t_kl",
    ]
    assert list(r.classes["drug.l_distinct"]) == [4, 1]
    assert list(r.classes["dx.t_kl"]) == pytest.approx([math.log(4 / 3), math.log(4 / 3) / 2])


def test_checks_at_and_past_each_boundary():
    """Exact values pass, anything stricter fails (the 1e-9 tolerances are for rounding only)."""
    r = _report()
    got = r.check([KAnonymity(4), KAnonymity(5), DistinctL(2, "dx"), DistinctL(2, "drug"),
                   EntropyL(2.0, "dx"), EntropyL(2.01, "dx"),
                   TCloseness(0.375, "equal", "drug"), TCloseness(0.37, "equal", "drug"),
                   TCloseness(0.25, "equal", "dx"), TCloseness(0.24, "equal", "dx"),
                   TCloseness(math.log(1.6), "kl", "drug"), TCloseness(math.log(1.6) - 0.01, "kl", "drug")])
    assert list(got.values()) == [True, False, True, False, True, False, True, False, True, False, True, False]


def test_recursive_needs_the_measured_c():
    r = _report(c=2)
    # (c, l): the largest l with r1 < c (r_l + ... + r_m), counts sorted descending, c = 2:
    # dx A (2, 2) -> 2, B (1, 1, 1, 1) -> 4; drug A (1, 1, 1, 1) -> 4, B (4) -> 1
    assert list(r.classes["dx.l_recursive"]) == [2, 4] and list(r.classes["drug.l_recursive"]) == [4, 1]
    assert (r.attributes["dx"].l_recursive, r.attributes["drug"].l_recursive, r.l_recursive) == (2, 1, 1)
    assert r.c == 2
    assert "dx.l_recursive" in r.classes.columns and "drug.l_recursive" in r.classes.columns
    assert r.l_recursive == min(a.l_recursive for a in r.attributes.values())
    with pytest.raises(ConfigError, match="measure with c=3"):
        r.check([RecursiveCL(3, 2, "dx")])
    with pytest.raises(ConfigError, match="measure with c=2"):
        _report().check([RecursiveCL(2, 2, "dx")])


def test_all_rows_suppressed_leaves_no_class():
    t = TABLE.assign(zip="*")
    r = measure(t, ["zip"], ["dx"], distance="equal", c=2)
    assert (r.k, r.n_classes, r.n_suppressed, r.n_entities) == (0, 0, 8, 0)
    a = r.attributes["dx"]
    assert a.l_distinct == 0 and a.l_recursive == 0
    assert np.isnan(a.l_entropy) and np.isnan(a.t_emd) and np.isnan(a.t_kl)


def test_missing_quasi_identifier_is_not_suppressed():
    t = TABLE.assign(zip=["A"] * 4 + [None] * 4)
    r = measure(t, ["zip"], ["dx"], distance="equal")
    assert r.n_suppressed == 0 and r.n_entities == 8


def test_suppressed_mask_reads_missing_as_not_suppressed():
    """A missing label (pandas NA in a string column) is a value of its own, not ``*``."""
    frame = pd.DataFrame({"zip": pd.array(["*", pd.NA, "A", "*"], dtype="string"),
                          "age": pd.array(["*", "*", "*", pd.NA], dtype="string")})
    assert list(suppressed_mask(frame, ["zip", "age"])) == [True, False, False, False]
    assert list(suppressed_mask(frame.assign(n=[1, 2, 3, 4]), ["zip", "n"])) == [False] * 4


def test_rows_per_class_leave_suppressed_patients_out():
    """Patients 1-4 in class A (1 and 2 with two rows each), 5-6 in B, 7 and 8 suppressed (three rows):
    rows per class A 6, B 2; the suppressed rows belong to no class."""
    t = pd.DataFrame({
        "pid": [1, 1, 2, 2, 3, 4, 5, 6, 7, 7, 8],
        "zip": ["A"] * 6 + ["B"] * 2 + ["*"] * 3,
        "dx": ["flu", "flu", "copd", "copd", "flu", "copd", "flu", "copd", "flu", "flu", "copd"],
    })
    r = measure(t, ["zip"], ["dx"], entity="pid", distance="equal")
    assert (r.k, r.n_entities, r.n_suppressed, r.n_rows) == (2, 6, 2, 11)
    assert list(r.classes["size"]) == [4, 2] and list(r.classes["rows"]) == [6, 2]


def test_distance_per_attribute_mapping():
    """distance={attr: ...} picks each attribute's ground distance; an attribute that is not
    sensitive is named."""
    r = measure(TABLE, ["zip"], ["dx", "drug"], distance={"dx": "equal", "drug": "equal"})
    assert r.t_distance == {"dx": "equal", "drug": "equal"} and r.t_emd == pytest.approx(0.375)
    with pytest.raises(ConfigError, match="distance given for 'age'"):
        measure(TABLE, ["zip"], ["dx"], distance={"dx": "equal", "age": "equal"})
