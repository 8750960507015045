"""The t-closeness distances as objects, one per distance, chosen once from a name.

``TCloseness`` and ``measure`` resolve a configured name with ``resolve_distance`` (or take
the attribute's default with ``default_distance``) and then ask the object: its per-class
values (``values``), the largest t it admits (``t_max``: 1 for the EMDs, unbounded for KL),
whether it needs a hierarchy, and whether it is an EMD (``emd``; KL is always measured and
reported apart, as ``t_kl``). The kernels and their sources are in ``diversity``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from privhealth.anon import diversity
from privhealth.anon.classes import Histograms
from privhealth.anon.sensitive import SensitiveAttribute
from privhealth.anon.stateless import Stateless
from privhealth.errors import ConfigError


class TDistance(Stateless, ABC):
    """A distance between each class's sensitive distribution and the reference distribution."""

    name: ClassVar[str]
    t_max: ClassVar[float] = 1.0  # the largest meaningful threshold
    emd: ClassVar[bool] = True  # an earth mover's distance (reported as t_emd), not KL
    needs_hierarchy: ClassVar[bool] = False

    @abstractmethod
    def values(self, hist: Histograms, attr: SensitiveAttribute) -> np.ndarray:
        """One distance per class of ``hist`` to ``attr``'s reference distribution ``attr.q``."""


class EqualEMD(TDistance):
    """EMD with equal ground distance (total variation), for unordered categories."""

    name = "equal"

    def values(self, hist: Histograms, attr: SensitiveAttribute) -> np.ndarray:
        return diversity.emd_equal(hist, attr.q)


class OrderedEMD(TDistance):
    """EMD over an ordered domain (numeric attributes, ordered categoricals, an explicit order)."""

    name = "ordered"

    def values(self, hist: Histograms, attr: SensitiveAttribute) -> np.ndarray:
        if not attr.ordered:
            raise ConfigError(
                f"ordered EMD on '{attr.name}' needs a numeric attribute, an ordered categorical "
                f"or an explicit order; use distance='equal' or 'hierarchical' for categories"
            )
        return diversity.emd_ordered(hist, attr.q)


class HierarchicalEMD(TDistance):
    """EMD over a generalization hierarchy of the sensitive attribute."""

    name = "hierarchical"
    needs_hierarchy = True

    def values(self, hist: Histograms, attr: SensitiveAttribute) -> np.ndarray:
        return diversity.emd_hierarchical(hist, attr.q, attr.level_codes())


class KL(TDistance):
    """The paper's KL divergence D(P_G || P_D) in nats (Eq. 14), not bounded by 1."""

    name = "kl"
    t_max = math.inf
    emd = False

    def values(self, hist: Histograms, attr: SensitiveAttribute) -> np.ndarray:
        return diversity.kl(hist, attr.q)


T_DISTANCES: dict[str, TDistance] = {d.name: d for d in (OrderedEMD(), EqualEMD(), HierarchicalEMD(), KL())}
DISTANCES = tuple(T_DISTANCES)  # ("ordered", "equal", "hierarchical", "kl")


def resolve_distance(distance: str | TDistance, owner: str = "t-closeness") -> TDistance:
    """The distance object for a name (an object is returned as is); ConfigError naming the bad
    value and the valid ones otherwise."""
    if isinstance(distance, TDistance):
        return distance
    if not isinstance(distance, str) or distance not in T_DISTANCES:
        raise ConfigError(
            f"{owner}: unknown distance {distance!r} (expected one of {', '.join(DISTANCES)})"
        )
    return T_DISTANCES[distance]


def resolve_emd(distance: str | TDistance, attribute: str) -> TDistance:
    """Like ``resolve_distance`` for the EMD that ``measure`` reports as t_emd (KL is reported apart)."""
    d = distance if isinstance(distance, TDistance) else T_DISTANCES.get(distance) if isinstance(distance, str) else None
    if d is None or not d.emd:
        emds = [n for n, x in T_DISTANCES.items() if x.emd]
        raise ConfigError(
            f"unknown EMD distance {getattr(distance, 'name', distance)!r} for '{attribute}' "
            f"(expected {', '.join(emds[:-1])} or {emds[-1]}; KL is always reported as t_kl)"
        )
    return d


def default_distance(attr: SensitiveAttribute) -> TDistance:
    """The EMD that fits an attribute: hierarchical with a hierarchy, ordered for an ordered domain, else equal."""
    if attr.hierarchy is not None:
        return T_DISTANCES["hierarchical"]
    return T_DISTANCES["ordered" if attr.ordered else "equal"]
