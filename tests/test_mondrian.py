"""Mondrian: every release satisfies the model, released values cover the originals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from anon_tables import (
    ADULT_QI,
    N_CRITERIA,
    QIS,
    adult,
    criteria_set,
    disease_hierarchy,
    qi_hierarchies,
    random_table,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from privhealth.anon.criteria import DistinctL, KAnonymity, TCloseness
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.mondrian import mondrian
from privhealth.anon.privacy import measure
from privhealth.data.intervals import parse_ranges
from privhealth.errors import ConfigError, HierarchyError, PrivacyModelError


def _covers(release: pd.DataFrame, original: pd.DataFrame, hs) -> None:
    """Numeric ranges contain the original value; categorical labels are its ancestors."""
    orig = original.loc[release.index]
    rng = parse_ranges(release["age"].astype(object))  # the one label format (40-59, [a, b], 57)
    assert rng["lo"].notna().all()
    assert ((rng["lo"] <= orig["age"]) & (orig["age"] <= rng["hi"])).all()
    for q in ("zip", "sex"):
        h = hs[q]
        anc = np.stack([h.generalize(orig[q], lev) for lev in range(h.height)], axis=1)
        assert all(lab in row for lab, row in zip(release[q], anc, strict=True))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    which=st.integers(0, N_CRITERIA - 1),
    k=st.integers(1, 6),
    t=st.sampled_from([0.2, 0.35, 0.5]),
    limit=st.sampled_from([0.0, 0.1, 0.25]),
)
def test_mondrian_release_satisfies_the_model(seed, which, k, t, limit):
    df = random_table(seed, n=int(np.random.default_rng(seed).integers(8, 120)))
    hs = qi_hierarchies(df)
    cats = {q: hs[q] for q in ("zip", "sex")}
    crit = criteria_set(which, k, t)
    try:
        res = mondrian(df, QIS, crit, hierarchies=cats, suppression_limit=limit)
    except PrivacyModelError as exc:  # only when the whole table fails the model
        whole = measure(df.assign(age=0, zip="*", sex="*"), QIS, ["salary", "disease"], c=3,
                        hierarchies={"disease": disease_hierarchy()})
        assert "the whole table fails it" in str(exc)
        assert not all(whole.check([c for c in crit if not isinstance(c, TCloseness)]).values())
        return
    assert res.n_suppressed <= math.floor(limit * len(df) + 1e-9)
    assert len(res.release) + res.n_suppressed == len(df)
    tdist = next((c.distance for c in crit if isinstance(c, TCloseness) and c.attribute == "disease"
                  and c.ground.emd), "equal")
    rep = measure(res.release, QIS, ["salary", "disease"], c=3, reference=df,
                  distance={"salary": "ordered", "disease": tdist},
                  hierarchies={"disease": disease_hierarchy()})
    verdict = rep.check(crit)
    assert all(verdict.values()), verdict
    assert rep.n_classes == res.n_classes
    assert sorted(rep.classes["size"]) == sorted(res.class_sizes.tolist())
    _covers(res.release, df, hs)


def test_strict_mondrian_splits_to_small_classes():
    df = pd.DataFrame({"x": np.arange(64), "y": np.arange(64) % 8})
    res = mondrian(df, ["x", "y"], [KAnonymity(4)])
    assert res.n_classes == 16 and set(res.class_sizes) == {4}
    assert res.utility.discernibility == 16 * 16
    assert res.utility.c_avg == 1.0


def test_suppression_unblocks_a_categorical_split():
    """One rare leaf blocks splitting its parent; with budget it is suppressed instead."""
    tree = pd.DataFrame([["a", "A", "*"], ["b", "A", "*"], ["c", "B", "*"], ["d", "B", "*"]])
    h = Hierarchy.from_frame("g", tree)
    df = pd.DataFrame({"g": ["a"] * 10 + ["b"] * 10 + ["c"] * 10 + ["d"] * 2})
    strict = mondrian(df, ["g"], [KAnonymity(5)], hierarchies={"g": h})
    assert strict.n_suppressed == 0 and sorted(strict.release["g"].unique()) == ["B", "a", "b"]
    relaxed = mondrian(df, ["g"], [KAnonymity(5)], hierarchies={"g": h}, suppression_limit=0.1)
    assert relaxed.n_suppressed == 2
    assert sorted(relaxed.release["g"].unique()) == ["a", "b", "c"]
    assert relaxed.utility.gcp < strict.utility.gcp
    none = mondrian(df, ["g"], [KAnonymity(5)], hierarchies={"g": h}, suppression_limit=0.05)
    assert none.n_suppressed == 0  # the budget (1 record) is too small


def test_entity_mondrian_counts_patients():
    rng = np.random.default_rng(2)
    patients = random_table(11, n=50).assign(pid=[f"p{i}" for i in range(50)])
    rows = patients.loc[np.repeat(patients.index, rng.integers(1, 5, 50))].reset_index(drop=True)
    hs = qi_hierarchies(patients)
    res = mondrian(rows, QIS, [KAnonymity(4)], hierarchies={"zip": hs["zip"], "sex": hs["sex"]}, entity="pid")
    assert res.n_units == 50 and len(res.release) == len(rows)
    assert measure(res.release, QIS, entity="pid").k >= 4


def test_mondrian_errors_are_named():
    df = random_table(0, n=30)
    with pytest.raises(PrivacyModelError, match="distinct l-diversity \\(l=9\\) on 'salary'.*whole table"):
        mondrian(df, QIS, [DistinctL(9, "salary")])
    with pytest.raises(PrivacyModelError, match="k=31 is larger than the number of records"):
        mondrian(df, QIS, [KAnonymity(31)])
    with pytest.raises(HierarchyError, match="value 'Z' of column 'sex'"):
        mondrian(df.assign(sex="Z"), QIS, [KAnonymity(2)], hierarchies={"sex": Hierarchy.flat("sex", ["F", "M"])})
    with pytest.raises(ConfigError, match="'nope' not in the table"):
        mondrian(df, ["nope"], [KAnonymity(2)])
    with pytest.raises(ConfigError, match="'age' is declared both sensitive and quasi-identifier"):
        mondrian(df, QIS, [DistinctL(2, "age")])


def test_adult_k5(shared_data):
    df, hs = adult(shared_data)
    res = mondrian(df, ADULT_QI, [KAnonymity(5)], hierarchies=hs)
    rep = measure(res.release, ADULT_QI)
    assert rep.k >= 5 and rep.n_classes == res.n_classes > 1000
    assert res.n_suppressed == 0
