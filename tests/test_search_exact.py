"""Optimal full-domain search on a table worked by hand (issue 17, mutation testing of
``src/anon/search.py``; each test names the survivors of the seed-1 sample it kills)."""

from __future__ import annotations

import pandas as pd
import pytest

from privhealth.anon.criteria import KAnonymity
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.search import optimal_generalization


def test_two_node_lattice_default_and_one_record_budget():
    """g = a, a, b, b, c with the flat hierarchy a, b, c → *: a lattice of 2 nodes (level 0, 1).
    k = 2: level 0 leaves c alone. Default suppression limit 0 → level 1 (all *), nothing
    suppressed, ARX loss 1, both nodes checked (2 ≤ lattice size 2). Limit 0.2 → budget 1 record:
    level 0 with row 4 (c) suppressed, loss = 1 suppressed of 5 fully generalized = 1/5; the
    search stops at the feasible bottom (1 node checked). Kills search.py:268:31 (default limit
    0.0 → 1.0) and :142:23 (node counter starting at 1)."""
    h = Hierarchy.from_frame("g", pd.DataFrame([[v, "*"] for v in "abc"]))
    df = pd.DataFrame({"g": list("aabbc")})
    strict = optimal_generalization(df, {"g": h}, [KAnonymity(2)])
    assert strict.levels == {"g": 1} and strict.n_suppressed == 0
    assert list(strict.release["g"]) == ["*"] * 5 and strict.loss == pytest.approx(1.0)
    assert strict.lattice_size == 2 and strict.nodes_checked == 2
    loose = optimal_generalization(df, {"g": h}, [KAnonymity(2)], suppression_limit=0.2)
    assert loose.levels == {"g": 0} and loose.n_suppressed == 1
    assert list(loose.suppressed_index) == [4] and list(loose.release["g"]) == list("aabb")
    assert loose.loss == pytest.approx(1 / 5) and loose.nodes_checked == 1
