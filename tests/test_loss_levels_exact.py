"""GCP of one- and two-value domains and the non-uniform entropy bound with a value that never
occurs, by hand, through the public ``full_domain_utility`` / the metric objects' ``lower_bounds`` (issue 17,
mutation testing; the loss.py survivors of the recorded run, lines of main 6d856a7).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.loss import LevelTables, full_domain_utility
from privhealth.anon.loss_metrics import resolve_metric


def test_gcp_of_one_and_two_value_domains():
    """QI A has one value (x), QI B two (a, b); rows (x, a), (x, a), (x, b). At the root of both:
    A's share is 0 (a one-value domain loses nothing; not 0/0), B's is (2 − 1)/(2 − 1) = 1 for every
    row, so GCP = mean(0, 1) = 0.5. At the leaves, or with only A generalized, GCP = 0.
    Kills loss.py:238 Gt->GtE (A's share NaN) and 1->2 (B's share 0 → GCP 0)."""
    df = pd.DataFrame({"A": ["x", "x", "x"], "B": ["a", "a", "b"]})
    hs = {"A": Hierarchy.flat("A", df["A"]), "B": Hierarchy.flat("B", df["B"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 on the way
        assert full_domain_utility(df, hs, {"A": 1, "B": 1}).gcp == pytest.approx(0.5)
        assert full_domain_utility(df, hs, {"A": 0, "B": 0}).gcp == 0.0
        assert full_domain_utility(df, hs, {"A": 1, "B": 0}).gcp == 0.0


def test_nonuniform_entropy_bound_with_a_value_that_never_occurs():
    """Domain a, b, c; data a, a, b (c has frequency 0). At the leaves the entropy is 0; at the root
    every value is covered by 3 records: Σ f·log2(3/f) over occurring values = 2·log2(3/2) + log2 3
    = 2.754887…; c contributes nothing (0·log 0 is left out, not NaN). The search's lower bound per
    level equals the loss of the full-domain release. Kills loss.py:253 Gt->GtE."""
    h = Hierarchy.flat("A", np.array(["a", "b", "c"]))
    data = pd.DataFrame({"A": ["a", "a", "b"]})
    tables = [LevelTables.build(h, h.encode(data["A"]))]
    want = 2 * math.log2(1.5) + math.log2(3)
    bounds = resolve_metric("nonuniform_entropy").lower_bounds(tables, np.array([[0], [1]]))
    assert bounds is not None
    np.testing.assert_allclose(bounds, [0.0, want], rtol=0, atol=1e-12)
    assert full_domain_utility(data, {"A": h}, {"A": 1}).nonuniform_entropy == pytest.approx(want)
