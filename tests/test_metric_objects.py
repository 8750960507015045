"""Loss metrics and t-closeness distances as objects chosen once: values by hand, flags, errors.

t-distances, two classes of three rows (QI zip) and one numeric sensitive attribute sev 1 < 2 < 3::

    zip A: sev 1, 1, 2   p = (2/3, 1/3, 0)
    zip B: sev 2, 2, 3   p = (0, 2/3, 1/3)

Reference (whole table): q = (2/6, 3/6, 1/6).
equal EMD = half the L1 distance: A (1/3 + 1/6 + 1/6)/2 = 1/3, B (1/3 + 1/6 + 1/6)/2 = 1/3;
ordered EMD = 1/(m-1) sum_i |cumulative (p - q)|, m = 3: A cumulative (1/3, 1/6, 0) -> 1/4,
B (-1/3, -1/6, 0) -> 1/4;
KL D(P||Q) = sum p ln(p/q): A 2/3 ln 2 + 1/3 ln(2/3), B 2/3 ln(4/3) + 1/3 ln 2.

Loss metrics, four records a/0, b/2, c/5, d/10 (QIs g with a tree {a,b}->X, {c,d}->Y, and age
with intervals 0-4, 5-10) generalized one level, classes {a,b}, {c,d}: see tests/test_loss.py
for the kernels' hand values (ARX loss sqrt(4/3)-1 at (1,0); GCP; discernibility 2²+2² = 8;
non-uniform entropy 1 bit per cell = 8).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_loss import AGE, TREE, _units

from privhealth.anon import loss
from privhealth.anon.criteria import TCloseness
from privhealth.anon.loss_metrics import LOSS_METRICS, LossMetric, resolve_metric
from privhealth.anon.privacy import measure
from privhealth.anon.t_distances import (
    DISTANCES,
    KL,
    EqualEMD,
    HierarchicalEMD,
    OrderedEMD,
    resolve_distance,
    resolve_emd,
)
from privhealth.errors import ConfigError

SEV = pd.DataFrame({"zip": ["A"] * 3 + ["B"] * 3, "sev": [1, 1, 2, 2, 2, 3]})
KL_A = 2 / 3 * math.log(2) + 1 / 3 * math.log(2 / 3)
KL_B = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2)


@pytest.mark.parametrize(("distance", "want"), [("equal", [1 / 3, 1 / 3]), ("ordered", [0.25, 0.25])])
def test_each_emd_object_gives_the_hand_values(distance, want):
    for d in (distance, resolve_distance(distance)):  # a name and its object measure the same
        r = measure(SEV, ["zip"], ["sev"], distance=d)
        assert list(r.classes["sev.t_emd"]) == pytest.approx(want, abs=1e-12)
        assert r.t_distance == {"sev": distance}
    assert list(r.classes["sev.t_kl"]) == pytest.approx([KL_A, KL_B], abs=1e-12)


def test_t_closeness_holds_the_object_and_asks_it():
    """t=0.26 passes the ordered EMD (1/4) but not the equal one (1/3): the object decides."""
    ordered, equal = TCloseness(0.26, "ordered"), TCloseness(0.26, EqualEMD())
    assert isinstance(ordered.distance, OrderedEMD) and ordered.ground is resolve_distance("ordered")
    assert ordered.label() == "t-closeness (t=0.26, ordered distance)"
    r = measure(SEV, ["zip"], ["sev"], distance="ordered")
    assert r.check([ordered]) == {"t-closeness (t=0.26, ordered distance) on 'sev'": True}
    with pytest.raises(ConfigError, match="measured with ordered distance"):
        r.check([equal])
    kl = TCloseness(0.43, "kl")  # KL is not bounded by 1 and is always measured, as t_kl
    assert kl.ground.t_max == math.inf and not kl.ground.emd
    assert r.check([kl]) == {"t-closeness (t=0.43, kl distance) on 'sev'": True}
    assert r.check([TCloseness(0.42, "kl")]) == {"t-closeness (t=0.42, kl distance) on 'sev'": False}
    assert TCloseness(0.2, "equal") == TCloseness(0.2, EqualEMD())  # one object per distance


def test_distance_registry_flags_and_errors():
    assert DISTANCES == ("ordered", "equal", "hierarchical", "kl")
    assert [type(resolve_distance(n)) for n in DISTANCES] == [OrderedEMD, EqualEMD, HierarchicalEMD, KL]
    assert [resolve_distance(n).t_max for n in DISTANCES] == [1.0, 1.0, 1.0, math.inf]
    assert [resolve_distance(n).needs_hierarchy for n in DISTANCES] == [False, False, True, False]
    with pytest.raises(ConfigError, match=r"t-closeness: unknown distance 'cosine' \(expected one of ordered, equal, hierarchical, kl\)"):
        TCloseness(0.2, "cosine")
    with pytest.raises(ConfigError, match=r"t must be in \[0, 1\] for equal distance, got 1.5"):
        TCloseness(1.5, "equal")
    with pytest.raises(ConfigError, match="hierarchical distance needs a hierarchy"):
        TCloseness(0.2, "hierarchical")
    with pytest.raises(ConfigError, match=r"unknown EMD distance 'kl' for 'sev' \(expected ordered, equal or hierarchical"):
        resolve_emd("kl", "sev")
    with pytest.raises(ConfigError, match="ordered EMD on 'dx' needs"):
        measure(pd.DataFrame({"zip": ["A", "B"], "dx": ["flu", "copd"]}), ["zip"], ["dx"], distance=OrderedEMD())


def test_each_loss_object_gives_the_kernel_values_and_its_flags():
    u = _units((1, 1), classes=(0, 0, 1, 1))
    assert list(LOSS_METRICS) == ["arx_loss", "gcp", "discernibility", "nonuniform_entropy"]
    want = {"arx_loss": loss.arx_loss(u), "gcp": loss.gcp(u), "discernibility": 8.0, "nonuniform_entropy": 8.0}
    for name, m in LOSS_METRICS.items():
        assert isinstance(m, LossMetric) and m.value(u) == pytest.approx(want[name], abs=1e-12), name
    assert loss.arx_loss(_units((1, 0))) == pytest.approx(math.sqrt(4 / 3) - 1)
    flags = {n: (m.needs_own_values, m.bound_from_classes) for n, m in LOSS_METRICS.items()}
    assert flags == {"arx_loss": (False, False), "gcp": (False, False),
                     "discernibility": (False, True), "nonuniform_entropy": (True, False)}
    assert resolve_metric("dm").class_bound(np.array([2, 1, 3])) == 14.0  # 4 + 1 + 9
    tables = [loss.LevelTables.build(TREE, np.arange(4)), loss.LevelTables.build(AGE, np.arange(4))]
    assert resolve_metric("discernibility").lower_bounds(tables, np.array([[0, 0]])) is None
    # ARX loss per level of the tree: every record covers 1, 2, 4 of 4 leaves -> 0, 1/3, 1
    np.testing.assert_allclose(resolve_metric("arx").level_totals(tables[0]), [0.0, 1 / 3, 1.0])
    # non-uniform entropy of the tree: 4 records x log2(cover / 1) with cover 1, 2, 4
    np.testing.assert_allclose(resolve_metric("entropy").level_totals(tables[0]), [0.0, 4.0, 8.0])


@pytest.mark.parametrize("alias", ["loss", "arx", "ncp", "dm", "entropy"])
def test_aliases_resolve_to_the_one_object(alias):
    m = resolve_metric(alias)
    assert resolve_metric(m.name) is m and resolve_metric(m) is m
    with pytest.raises(ConfigError, match=r"unknown loss metric 'height' \(expected one of arx_loss, gcp, discernibility, nonuniform_entropy; aliases loss, arx, ncp, dm, entropy\)"):
        resolve_metric("height")


def test_gcp_share_of_one_and_two_value_domains_and_entropy_with_an_absent_value():
    """Kills the survivors docs/testing.md listed for loss.py (``h.size > 1``, ``freq > 0``).

    GCP share = (leaves under the value - 1) / (domain size - 1): a two-value domain {m, f} at
    its top level covers 2 leaves -> (2 - 1)/(2 - 1) = 1; a one-value domain has no spread -> 0.
    Non-uniform entropy of the tree with records a, a, b, c (d absent, frequency 0): level 1
    covers X (a, b) = 3 and Y (c, d) = 1 -> 2 log2(3/2) + log2(3/1) + log2(1/1) = 2.7549 bits;
    level 2 covers 4 -> 2 log2(4/2) + log2 4 + log2 4 = 6; d contributes nothing (0 · log 0 = 0).
    """
    from privhealth.anon.hierarchy import Hierarchy

    two = Hierarchy.from_frame("s", pd.DataFrame([["m", "*"], ["f", "*"]]))
    t2 = loss.LevelTables.build(two, np.array([0, 1, 1]))
    np.testing.assert_array_equal(t2.gcp[0], [0.0, 0.0])
    np.testing.assert_array_equal(t2.gcp[1], [1.0, 1.0])
    one = Hierarchy.from_frame("o", pd.DataFrame([["x", "*"]]))
    t1 = loss.LevelTables.build(one, np.array([0, 0]))
    assert all(np.array_equal(g, [0.0]) for g in t1.gcp)
    tree = loss.LevelTables.build(TREE, np.array([0, 0, 1, 2]))
    got = resolve_metric("nonuniform_entropy").level_totals(tree)
    np.testing.assert_allclose(got, [0.0, 2 * math.log2(1.5) + math.log2(3), 6.0], rtol=1e-12)
