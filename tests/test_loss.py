"""Information-loss metrics: hand-computed values and the search's lower bounds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from anon_tables import QIS, qi_hierarchies, random_table

from privhealth.anon import loss
from privhealth.anon.criteria import KAnonymity
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.loss_metrics import resolve_metric
from privhealth.anon.search import Lattice, optimal_generalization
from privhealth.anon.units import prepare_units
from privhealth.errors import ConfigError

TREE = Hierarchy.from_frame("g", pd.DataFrame([["a", "X", "*"], ["b", "X", "*"], ["c", "Y", "*"], ["d", "Y", "*"]]))
AGE = Hierarchy.intervals("age", pd.Series([0, 2, 5, 10]), [[0, 5, 11]])  # 0-4, 5-10, *


def _units(levels, suppressed=(False,) * 4, classes=(0, 1, 2, 3)):
    """Four records a/0, b/2, c/5, d/10 generalized to ``levels`` (g, age)."""
    g_leaf = np.array([[0, 0], [1, 1], [2, 2], [3, 3]])
    tables = [loss.LevelTables.build(TREE, g_leaf[:, 0]), loss.LevelTables.build(AGE, g_leaf[:, 1])]
    return loss.units_at_levels(tables, levels, g_leaf.T, np.ones(4), np.array(suppressed), np.array(classes))


def test_arx_loss_by_hand():
    """Share = leaves under the value / domain size; normalised (S - n/|dom|) / (n - n/|dom|)."""
    assert loss.arx_loss(_units((0, 0))) == 0.0
    assert loss.arx_loss(_units((2, 2))) == pytest.approx(1.0)
    parts = loss.arx_loss_parts(_units((1, 0)))
    assert parts == pytest.approx([(4 * 0.5 - 1) / (4 - 1), 0.0])  # every record covers 2 of 4 leaves
    assert loss.arx_loss(_units((1, 0))) == pytest.approx(math.sqrt(4 / 3) - 1)  # prod(1+L)^(1/d) - 1
    one_supp = loss.arx_loss_parts(_units((1, 0), suppressed=(True, False, False, False)))
    assert one_supp[0] == pytest.approx((3 * 0.5 + 1 - 1) / 3)  # a suppressed record counts 1
    assert one_supp[1] == pytest.approx((1 + 3 * 0.25 - 1) / 3)


def test_gcp_discernibility_cavg_entropy_by_hand():
    u = _units((1, 1), classes=(0, 0, 1, 1))
    # g: (2 leaves - 1)/(4 - 1) = 1/3 each; age: 0-4 holds 0, 2 -> range 2/10; 5-10 holds 5, 10 -> 5/10
    assert loss.gcp(u) == pytest.approx(np.mean([1 / 3, (0.2 + 0.2 + 0.5 + 0.5) / 4]))
    assert loss.discernibility(loss.class_sizes(u), 0, 4) == 8
    rep = loss.utility(_units((1, 1), suppressed=(False, False, False, True), classes=(0, 0, 1, 1)), k=1)
    assert rep.discernibility == 4 + 1 + 4  # |E|^2 for sizes 2, 1 plus n per suppressed record
    assert rep.c_avg == pytest.approx(3 / 2)
    assert rep.suppressed_fraction == 0.25 and rep.n_classes == 2
    # non-uniform entropy: each value has frequency 1, its level-1 group 2 -> 1 bit per cell
    assert loss.nonuniform_entropy(u) == pytest.approx(8.0)
    assert rep.nonuniform_entropy == pytest.approx(6 + 2 * math.log2(4))  # suppressed: f(*) = n = 4
    assert loss.gcp(_units((2, 2))) == pytest.approx(1.0)


def test_lower_bounds_equal_loss_without_suppression_and_bound_it_with():
    df = random_table(4, n=60)
    hs = qi_hierarchies(df)
    units = prepare_units(df, QIS)
    for metric in ("arx_loss", "gcp", "nonuniform_entropy"):
        exact = Lattice(units, hs, [KAnonymity(1)], 0.0, metric)
        lv = exact.all_levels()
        lb = resolve_metric(metric).lower_bounds(exact.tables, lv)
        got = np.array([exact.evaluate(x).loss for x in lv])
        np.testing.assert_allclose(lb, got, rtol=1e-9, atol=1e-9)
        with_supp = Lattice(units, hs, [KAnonymity(4)], 0.3, metric)
        for x, b in zip(lv, lb, strict=True):
            o = with_supp.evaluate(x)
            if o.feasible:
                assert o.loss >= b - 1e-9
        assert np.all(np.diff(lb.reshape(tuple(exact.heights)), axis=0) >= -1e-12)  # monotone


def test_metric_names():
    assert resolve_metric("loss").name == "arx_loss" and resolve_metric("ncp").name == "gcp"
    assert resolve_metric("dm") is resolve_metric("discernibility")  # chosen once: one object per metric
    with pytest.raises(ConfigError, match="unknown loss metric 'height'.*arx_loss, gcp, discernibility"):
        resolve_metric("height")


def test_full_domain_utility_matches_the_search_result():
    df = random_table(9, n=80)
    hs = qi_hierarchies(df)
    res = optimal_generalization(df, hs, [KAnonymity(3)], suppression_limit=0.1)
    supp = df.index.isin(res.suppressed_index)
    again = loss.full_domain_utility(df, hs, res.levels, supp, k=3)
    for name, value in res.utility.to_dict().items():
        assert getattr(again, name) == pytest.approx(value, rel=1e-12), name
    with pytest.raises(ConfigError, match="no generalization level given for quasi-identifier 'sex'"):
        loss.full_domain_utility(df, hs, {"age": 1, "zip": 1})
