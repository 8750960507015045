"""ARX loss edge cases by hand: the shifted geometric mean and a one-value domain."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from privhealth.anon import loss


def test_shifted_geometric_mean_by_hand():
    """prod(1 + x)^(1/d) - 1: one part is itself; (0, 3) -> sqrt(4) - 1 = 1; none -> 0."""
    assert loss.geometric_mean(np.array([0.5])) == pytest.approx(0.5)
    assert loss.geometric_mean(np.array([0.0, 3.0])) == pytest.approx(1.0)
    assert loss.geometric_mean(np.array([0.25, 0.25, 0.25])) == pytest.approx(0.25)
    assert loss.geometric_mean(np.array([])) == 0.0


def _units(domain: int, leaves: list[int], suppressed: list[bool]) -> loss.GeneralizedUnits:
    n = len(leaves)
    ones = np.ones(n)
    return loss.GeneralizedUnits(
        counts=ones, suppressed=np.array(suppressed), class_ids=np.zeros(n, np.int64),
        leaves=[np.array(leaves, np.float64)], domain_sizes=[domain], gcp_share=[ones * 0],
        own_freq=[ones], cover_freq=[ones],
    )


def test_one_value_domain_loses_nothing():
    """A QI with a one-value domain: n/|dom| = n, so the normalised loss is 0 (not 0/0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 on the way
        assert list(loss.arx_loss_parts(_units(1, [1, 1, 1], [False] * 3))) == [0.0]
    assert list(loss.arx_loss_parts(_units(1, [1, 1, 1], [False] * 3))) == [0.0]
    assert list(loss.arx_loss_parts(_units(1, [1, 1, 1], [True, False, False]))) == [0.0]


def test_two_value_domain_by_hand():
    """|dom| 2, n 4: lo = 2; leaves 1, 1, 2, 2 -> S = (1 + 1 + 2 + 2)/2 = 3 -> (3 - 2)/(4 - 2) = 0.5;
    a suppressed record counts the whole domain (2 leaves)."""
    assert loss.arx_loss_parts(_units(2, [1, 1, 2, 2], [False] * 4))[0] == pytest.approx(0.5)
    assert loss.arx_loss_parts(_units(2, [1, 1, 1, 1], [True, False, False, False]))[0] == pytest.approx(
        (2 / 2 + 3 * 0.5 - 2) / 2)
    assert loss.arx_loss(_units(2, [2, 2, 2, 2], [False] * 4)) == pytest.approx(1.0)
    assert not math.isnan(loss.arx_loss(_units(2, [1, 1, 1, 1], [False] * 4)))
