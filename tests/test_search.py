"""Optimal lattice search: optimal against exhaustive enumeration, outputs satisfy the model."""

from __future__ import annotations

import math

import numpy as np
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

from privhealth.anon.criteria import DistinctL, KAnonymity, TCloseness, bind
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.privacy import measure
from privhealth.anon.search import Lattice, optimal_generalization
from privhealth.anon.units import prepare_units
from privhealth.errors import ConfigError, HierarchyError, PrivacyModelError


def satisfied(release, original, criteria, limit, n):
    """Measure the release independently and check every criterion and the suppression limit."""
    assert len(original) - len(release) <= math.floor(limit * n + 1e-9)
    if release.empty:
        return
    rep = measure(
        release, QIS, ["salary", "disease"], c=3, reference=original,
        distance={"salary": "ordered", "disease": next(
            (c.distance for c in criteria if isinstance(c, TCloseness) and c.attribute == "disease"
             and c.ground.emd), "equal")},
        hierarchies={"disease": disease_hierarchy()},
    )
    verdict = rep.check(criteria)
    assert all(verdict.values()), verdict


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    which=st.integers(0, N_CRITERIA - 1),
    k=st.integers(1, 5),
    t=st.sampled_from([0.15, 0.3, 0.5]),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
    metric=st.sampled_from(["arx_loss", "gcp", "discernibility", "nonuniform_entropy"]),
)
def test_search_is_optimal_and_its_release_satisfies_the_model(seed, which, k, t, limit, metric):
    df = random_table(seed)
    hs = qi_hierarchies(df)
    crit = criteria_set(which, k, t)
    bound = bind(crit, [])
    units = prepare_units(df, QIS, ["salary", "disease"], None, bound)
    lat = Lattice(units, hs, bound, limit, metric)
    outcomes = [lat.evaluate(lv) for lv in lat.all_levels()]
    feasible = [o for o in outcomes if o.feasible]
    if not feasible:
        with pytest.raises(PrivacyModelError, match="cannot satisfy the privacy model"):
            optimal_generalization(df, hs, crit, suppression_limit=limit, metric=metric)
        return
    res = optimal_generalization(df, hs, crit, suppression_limit=limit, metric=metric)
    best = min(o.loss for o in feasible)
    assert res.loss == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert res.nodes_checked <= res.lattice_size == len(outcomes)
    chosen = next(o for o in outcomes if o.levels == res.node)
    assert chosen.feasible and chosen.loss == pytest.approx(res.loss, abs=1e-12)
    assert res.n_suppressed == chosen.n_failing
    satisfied(res.release, df, crit, limit, len(df))
    for q in QIS:  # labels are the hierarchy's labels at the chosen level
        h = hs[q]
        want = h.generalize(df.loc[res.release.index, q], res.levels[q])
        assert list(res.release[q]) == list(want)


def test_monotone_pruning_skips_nodes_on_a_larger_lattice():
    df = random_table(7, n=400)
    hs = qi_hierarchies(df) | {"salary": Hierarchy.intervals("salary", df["salary"], [2, 4])}
    res = optimal_generalization(df, hs, [KAnonymity(4), DistinctL(2, "disease")], suppression_limit=0.02)
    assert res.nodes_checked < res.lattice_size
    satisfied_k = measure(res.release, list(hs), ["disease"])
    assert satisfied_k.k >= 4 and satisfied_k.l_distinct >= 2


def test_infeasible_request_names_the_constraint():
    df = random_table(1, n=30).assign(salary=lambda d: np.where(d.index % 2 == 0, 1, 2))
    with pytest.raises(PrivacyModelError, match=r"distinct l-diversity \(l=3\) on 'salary'.*2 distinct value"):
        optimal_generalization(df, qi_hierarchies(df), [KAnonymity(2), DistinctL(3, "salary")],
                               suppression_limit=0.05)
    with pytest.raises(PrivacyModelError, match="k=31 is larger than the number of records"):
        optimal_generalization(df, qi_hierarchies(df), [KAnonymity(31)])


def test_max_levels_caps_the_lattice():
    df = random_table(2, n=60)
    hs = qi_hierarchies(df)
    res = optimal_generalization(df, hs, [KAnonymity(2)], suppression_limit=0.5, max_levels={"age": 1, "zip": 1})
    assert res.lattice_size == 2 * 2 * 2
    assert res.levels["age"] <= 1 and res.levels["zip"] <= 1
    with pytest.raises(ConfigError, match="max_levels for 'age' must be a level between 0 and 3"):
        optimal_generalization(df, hs, [KAnonymity(2)], max_levels={"age": 9})
    with pytest.raises(ConfigError, match="max_levels names 'salary'"):
        optimal_generalization(df, hs, [KAnonymity(2)], max_levels={"salary": 0})


@pytest.mark.parametrize(
    ("change", "err", "msg"),
    [
        (lambda d, h, c: (d.assign(zip="99999"), h, c), HierarchyError, "value '99999' of column 'zip'"),
        (lambda d, h, c: (d, h | {"nope": h["sex"]}, c), ConfigError, "'nope' not in the table"),
        (lambda d, h, c: (d, h, [DistinctL(2, "zip")]), ConfigError, "'zip' is declared both sensitive"),
        (lambda d, h, c: (d, h, [DistinctL(2)]), ConfigError, "needs a sensitive attribute"),
        (lambda d, h, c: (d, h, []), ConfigError, "no privacy criterion"),
    ],
)
def test_bad_search_input_is_named(change, err, msg):
    df = random_table(0)
    d, h, c = change(df, qi_hierarchies(df), [KAnonymity(2)])
    with pytest.raises(err, match=msg):
        optimal_generalization(d, h, c)


def test_bad_limit_and_metric():
    df = random_table(0)
    with pytest.raises(ConfigError, match="suppression limit must be a fraction"):
        optimal_generalization(df, qi_hierarchies(df), [KAnonymity(2)], suppression_limit=2)
    with pytest.raises(ConfigError, match="unknown loss metric 'precision'"):
        optimal_generalization(df, qi_hierarchies(df), [KAnonymity(2)], metric="precision")


def test_longitudinal_search_counts_patients():
    rng = np.random.default_rng(5)
    patients = random_table(5, n=40).assign(pid=[f"p{i}" for i in range(40)])
    rows = patients.loc[np.repeat(patients.index, rng.integers(1, 6, 40))].reset_index(drop=True)
    rows["hr"] = rng.normal(80, 10, len(rows))
    hs = qi_hierarchies(patients)
    res = optimal_generalization(rows, hs, [KAnonymity(3)], entity="pid", suppression_limit=0.1)
    assert res.n_units == 40 and res.n_suppressed <= 4
    rep = measure(res.release, QIS, entity="pid")
    assert rep.k >= 3
    per_row = optimal_generalization(rows, hs, [KAnonymity(3)], suppression_limit=0.1)
    assert per_row.n_units == len(rows)
    assert len(res.release) + res.suppressed_rows == len(rows)
    assert set(res.suppressed_index).isdisjoint(res.release.index)


def test_adult_k5_two_percent(shared_data):
    """The benchmark configuration: k=5, 2% suppression; the release is 5-anonymous."""
    df, hs = adult(shared_data)
    res = optimal_generalization(df, hs, [KAnonymity(5)], suppression_limit=0.02)
    assert res.lattice_size == 6480
    assert res.n_suppressed <= 0.02 * len(df)
    assert measure(res.release, ADULT_QI).k >= 5
    assert res.loss == pytest.approx(res.utility.arx_loss)
