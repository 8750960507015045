"""Pruning with t-closeness under suppression: the per-class suppression bounds hold below every
node, and the pruned search finds the exhaustive optimum (anon/suppression_bounds.py)."""

from __future__ import annotations

import numpy as np
import pytest
from anon_tables import QIS, disease_hierarchy, qi_hierarchies, random_table
from hypothesis import given, settings
from hypothesis import strategies as st

from privhealth.anon.classes import Histograms
from privhealth.anon.criteria import KAnonymity, TCloseness, bind
from privhealth.anon.search import Lattice, optimal_generalization
from privhealth.anon.suppression_bounds import class_max, convex_share
from privhealth.anon.units import prepare_units

SENS = ["salary", "disease"]
DISTANCES = [("equal", "disease"), ("hierarchical", "disease"), ("ordered", "salary"), ("kl", "disease")]


def criteria(k: int, t: float, which: int) -> list:
    distance, attr = DISTANCES[which]
    hier = disease_hierarchy() if distance == "hierarchical" else None
    return [KAnonymity(k), TCloseness(t * (3 if distance == "kl" else 1), distance, attr, hierarchy=hier)]


def test_convex_share_worked_example():
    """Binary attribute, q = (0.75, 0.25): a point mass on the rare value is at distance 0.75.
    A class at distance 0.5 with t = 0.2 needs (0.5 - 0.2) / (0.75 - 0.2) = 6/11 of it suppressed
    in any split; a class within t, or holding only one value whose distance is within t, needs none."""
    share = convex_share(np.array([0.5, 0.1, 0.3]), 0.2, np.array([0.75, 0.75, 0.2]))
    assert share[0] == pytest.approx(0.3 / 0.55, abs=1e-8) and share[1] == 0 and share[2] == 0
    h = Histograms(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([3, 1, 2]), 2, 2)
    assert class_max(np.array([0.25, 0.75]), h).tolist() == [0.75, 0.75]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 4), t=st.sampled_from([0.1, 0.2, 0.35]),
       which=st.integers(0, len(DISTANCES) - 1), limit=st.sampled_from([0.02, 0.1, 0.3]))
def test_bound_of_a_node_holds_at_every_node_below_it(seed, k, t, which, limit):
    """For every pair N <= M of the lattice, N suppresses at least the bound M states (the bound is
    what tags M's whole down-set infeasible)."""
    df = random_table(seed, n=int(np.random.default_rng(seed).integers(20, 150)))
    hs = qi_hierarchies(df)
    bound = bind(criteria(k, t, which), [])
    lat = Lattice(prepare_units(df, QIS, SENS, None, bound), hs, bound, limit, "arx_loss")
    nodes = lat.all_levels()
    verdicts = [lat.failing(lat.node(tuple(int(x) for x in lv))) for lv in nodes]
    n_fail = np.array([v.n_fail for v in verdicts])
    for m, v in zip(nodes, verdicts, strict=True):
        below = np.all(nodes <= m, axis=1)
        assert np.all(n_fail[below] >= v.bound - 1e-6), (m, v.bound, n_fail[below].min())
        if v.down_infeasible:
            assert np.all(n_fail[below] > lat.max_supp)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5), t=st.sampled_from([0.1, 0.2, 0.35]),
       which=st.integers(0, len(DISTANCES) - 1), limit=st.sampled_from([0.02, 0.05, 0.1, 0.3]),
       metric=st.sampled_from(["arx_loss", "gcp", "discernibility", "nonuniform_entropy"]))
def test_pruned_search_finds_the_exhaustive_optimum_with_t(seed, k, t, which, limit, metric):
    """Random tables of 40-400 rows on a 4-QI lattice (salary generalized too when it is not the
    sensitive attribute): same loss as the minimum over every node evaluated without pruning."""
    from privhealth.anon.hierarchy import Hierarchy

    rng = np.random.default_rng(seed)
    df = random_table(seed, n=int(rng.integers(40, 400)))
    crit = criteria(k, t, which)
    hs = qi_hierarchies(df)
    sens = SENS
    if crit[1].attribute == "disease":  # salary becomes a 4th QI: 54 nodes
        hs = hs | {"salary": Hierarchy.intervals("salary", df["salary"], [2, 4])}
        sens = ["disease"]
    bound = bind(crit, [])
    lat = Lattice(prepare_units(df, list(hs), sens, None, bound), hs, bound, limit, metric)
    feasible = [o for o in (lat.evaluate(lv) for lv in lat.all_levels()) if o.feasible]
    if not feasible:
        return
    res = optimal_generalization(df, hs, crit, suppression_limit=limit, metric=metric)
    best = min(o.loss for o in feasible)
    assert res.loss == pytest.approx(best, rel=1e-9, abs=1e-12)
    chosen = next(o for o in feasible if o.levels == res.node)
    assert chosen.n_failing == res.n_suppressed
