"""Privacy-model criteria shared by the lattice search, Mondrian and the measuring code.

A criterion holds a threshold and evaluates *all* equivalence classes at once from their
sizes and sparse sensitive histograms. ``monotone(suppression)`` says whether "this node
satisfies it" implies "every generalization of it satisfies it" — the property that makes
predictive tagging sound:

- k-anonymity and distinct l-diversity are monotone with or without suppression (a class
  of a generalization is a union of classes, and a union of passing classes passes; so the
  failing records of a generalization come only from failing classes below);
- entropy l, recursive (c,l) and t-closeness (EMD and KL) are monotone *without*
  suppression (entropy is concave, the recursive condition and EMD/KL are preserved by
  unions — Machanavajjhala et al. 2007, Li et al. 2007), but not with it: merging a passing
  class with a suppressed failing one can fail. ``judge`` then bounds the suppression every
  more specific node needs, which still prunes (``anon/suppression_bounds.py``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from privhealth.anon import diversity
from privhealth.anon.classes import Histograms
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.sensitive import SensitiveAttribute
from privhealth.anon.suppression_bounds import (
    class_max,
    convex_share,
    entropy_share,
    gap_share,
    point_distances,
)
from privhealth.anon.t_distances import TDistance, resolve_distance
from privhealth.errors import ConfigError

_TOL = 1e-9


class Criterion(ABC):
    """A privacy model with its threshold; ``attribute`` None means every sensitive attribute."""

    attribute: str | None = None
    needs_sensitive: ClassVar[bool] = True
    # judge bounds the suppression below a node where the criterion is not monotone (t, entropy-l, recursive)
    bounds_suppression: ClassVar[bool] = False

    @abstractmethod
    def monotone(self, suppression: bool) -> bool:
        """Whether satisfaction is inherited by generalizations (with a suppression limit > 0 or not)."""

    @abstractmethod
    def values(
        self, sizes: np.ndarray, hist: Histograms | None, attr: SensitiveAttribute | None
    ) -> np.ndarray:
        """The measured quantity per class (size, l, distance …)."""

    @abstractmethod
    def passes(
        self, sizes: np.ndarray, hist: Histograms | None, attr: SensitiveAttribute | None
    ) -> np.ndarray:
        """Whether each class satisfies the criterion."""

    @abstractmethod
    def label(self) -> str:
        """Human-readable name with threshold, e.g. ``k-anonymity (k=5)``."""

    def judge(
        self, sizes: np.ndarray, hist: Histograms | None, attr: SensitiveAttribute | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Whether each class passes, and per class a lower bound on the share of its units that
        every more specific node must suppress (None: no bound known). The search sums the
        bounds to tag whole down-sets infeasible (``anon/suppression_bounds.py``)."""
        return self.passes(sizes, hist, attr), None

    def bound_to(self, attribute: str) -> Criterion:
        """A copy applying to ``attribute``."""
        return replace(self, attribute=attribute)  # type: ignore[type-var]

    def min_size(self) -> int:
        """Smallest class that could pass (used for quick infeasibility checks)."""
        return 1


def _where(c: Criterion) -> str:
    return f" on '{c.attribute}'" if c.attribute else ""


@dataclass(frozen=True)
class KAnonymity(Criterion):
    """Every class holds at least k entities (Eq. 5 / 11)."""

    k: int
    attribute: str | None = None
    needs_sensitive: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not float(self.k).is_integer() or int(self.k) < 1:
            raise ConfigError(f"k-anonymity: k must be a whole number >= 1, got {self.k!r}")
        object.__setattr__(self, "k", int(self.k))

    def monotone(self, suppression: bool) -> bool:
        return True

    def values(self, sizes, hist, attr):  # type: ignore[override]
        return sizes

    def passes(self, sizes, hist, attr):  # type: ignore[override]
        return sizes >= self.k

    def judge(self, sizes, hist, attr):  # type: ignore[override]
        ok = self.passes(sizes, hist, attr)
        return ok, (~ok).astype(np.float64)  # every part of a class below k is below k

    def label(self) -> str:
        return f"k-anonymity (k={self.k})"

    def min_size(self) -> int:
        return self.k


def _check_l(name: str, l_: float, whole: bool) -> float:
    if isinstance(l_, bool) or not isinstance(l_, int | float) or not l_ >= 1:
        raise ConfigError(f"{name}: l must be >= 1, got {l_!r}")
    if whole and not float(l_).is_integer():
        raise ConfigError(f"{name}: l must be a whole number, got {l_!r}")
    return int(l_) if whole else float(l_)


@dataclass(frozen=True)
class DistinctL(Criterion):
    """At least l distinct sensitive values per class (Eq. 12)."""

    l: int  # noqa: E741
    attribute: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "l", _check_l("distinct l-diversity", self.l, True))

    def monotone(self, suppression: bool) -> bool:
        return True

    def values(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.distinct(hist)

    def passes(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.distinct(hist) >= self.l

    def judge(self, sizes, hist, attr):  # type: ignore[override]
        ok = self.passes(sizes, hist, attr)
        return ok, (~ok).astype(np.float64)  # a part of a class has no more distinct values

    def label(self) -> str:
        return f"distinct l-diversity (l={self.l}){_where(self)}"

    def min_size(self) -> int:
        return self.l


@dataclass(frozen=True)
class EntropyL(Criterion):
    """Entropy of the sensitive values in each class at least log(l) (Eq. 13, natural log)."""

    l: float  # noqa: E741
    bounds_suppression: ClassVar[bool] = True
    attribute: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "l", _check_l("entropy l-diversity", self.l, False))

    def monotone(self, suppression: bool) -> bool:
        return not suppression

    def values(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.entropy_l(hist)

    def passes(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.entropy_l(hist) >= self.l * (1 - _TOL)

    def judge(self, sizes, hist, attr):  # type: ignore[override]
        """Entropy is concave: a class of entropy H needs a share 1 - H / log l suppressed in any
        split (``anon/suppression_bounds.py``)."""
        el = diversity.entropy_l(hist)
        return el >= self.l * (1 - _TOL), entropy_share(np.log(el), math.log(self.l * (1 - _TOL)))

    def label(self) -> str:
        return f"entropy l-diversity (l={self.l:g}){_where(self)}"

    def min_size(self) -> int:
        return math.ceil(self.l - _TOL)


@dataclass(frozen=True)
class RecursiveCL(Criterion):
    """Recursive (c,l)-diversity: r1 < c (r_l + ... + r_m) in each class."""

    c: float
    bounds_suppression: ClassVar[bool] = True
    l: int  # noqa: E741
    attribute: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.c, bool) or not isinstance(self.c, int | float) or not self.c > 0:
            raise ConfigError(f"recursive (c,l)-diversity: c must be > 0, got {self.c!r}")
        object.__setattr__(self, "l", _check_l("recursive (c,l)-diversity", self.l, True))

    def monotone(self, suppression: bool) -> bool:
        return not suppression

    def values(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.recursive_l(hist, self.c)

    def passes(self, sizes, hist, attr):  # type: ignore[override]
        return diversity.recursive_l(hist, self.c) >= self.l

    def judge(self, sizes, hist, attr):  # type: ignore[override]
        """r1 - c (r_l + ... + r_m) units of a class are suppressed in any split of it
        (``anon/suppression_bounds.py``)."""
        return self.passes(sizes, hist, attr), gap_share(diversity.recursive_gap(hist, self.c, self.l), sizes)

    def label(self) -> str:
        return f"recursive (c,l)-diversity (c={self.c:g}, l={self.l}){_where(self)}"

    def min_size(self) -> int:
        return self.l


@dataclass(frozen=True)
class TCloseness(Criterion):
    """Distance between each class's sensitive distribution and the reference at most t (Eq. 14).

    ``distance``: ``ordered`` (EMD, ordered domain; numeric attributes or an explicit order),
    ``equal`` (EMD with equal ground distance), ``hierarchical`` (EMD over ``hierarchy``) or
    ``kl`` (the paper's KL divergence D(P_G || P_D), nats); a name, resolved once to its
    ``TDistance`` object (``t_distances``), which is what the field then holds.
    """

    t: float
    bounds_suppression: ClassVar[bool] = True
    distance: str | TDistance = "ordered"
    attribute: str | None = None
    hierarchy: Hierarchy | None = None
    order: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        dist = resolve_distance(self.distance)
        object.__setattr__(self, "distance", dist)
        number = isinstance(self.t, int | float) and not isinstance(self.t, bool)
        if not number or not 0 <= self.t <= dist.t_max:
            raise ConfigError(
                f"t-closeness: t must be in [0, {dist.t_max:g}] for {dist.name} distance, got {self.t!r}"
            )
        if dist.needs_hierarchy and self.hierarchy is None:
            raise ConfigError(f"t-closeness with {dist.name} distance needs a hierarchy")

    @property
    def ground(self) -> TDistance:
        """The distance object (``distance`` after ``__post_init__``), typed."""
        assert isinstance(self.distance, TDistance)
        return self.distance

    def monotone(self, suppression: bool) -> bool:
        return not suppression

    def values(self, sizes, hist, attr):  # type: ignore[override]
        return self.ground.values(hist, attr)

    def passes(self, sizes, hist, attr):  # type: ignore[override]
        return self.values(sizes, hist, attr) <= self.t + _TOL

    def judge(self, sizes, hist, attr):  # type: ignore[override]
        """Distances are convex in the class distribution: a class at distance d needs a share
        (d - t) / (dmax - t) of it suppressed in any split (``anon/suppression_bounds.py``)."""
        d = self.values(sizes, hist, attr)
        point = point_distances(attr, self.ground.name, lambda pm: self.ground.values(pm, attr))
        return d <= self.t + _TOL, convex_share(d, self.t + _TOL, class_max(point, hist))

    def label(self) -> str:
        return f"t-closeness (t={self.t:g}, {self.ground.name} distance){_where(self)}"


def bind(criteria: Sequence[Criterion], sensitive: Sequence[str]) -> list[Criterion]:
    """Criteria with ``attribute`` filled in: one copy per sensitive attribute where it was None."""
    out: list[Criterion] = []
    for c in criteria:
        if not isinstance(c, Criterion):
            raise ConfigError(f"not a privacy criterion: {c!r}")
        if not c.needs_sensitive:
            out.append(c)
        elif c.attribute is not None:
            out.append(c)
        elif not sensitive:
            raise ConfigError(f"{c.label()} needs a sensitive attribute, but none was given")
        else:
            out.extend(c.bound_to(s) for s in sensitive)
    return out


def sensitive_of(criteria: Sequence[Criterion], sensitive: Sequence[str] = ()) -> list[str]:
    """Sensitive attributes named explicitly or by criteria, in order, without duplicates."""
    names = list(dict.fromkeys([*sensitive, *(c.attribute for c in criteria if c.attribute)]))
    return [n for n in names if n is not None]


def hierarchy_for(criteria: Sequence[Criterion], attribute: str) -> Hierarchy | None:
    """The hierarchy a hierarchical t-closeness criterion declares for ``attribute``."""
    for c in criteria:
        if isinstance(c, TCloseness) and c.attribute == attribute and c.hierarchy is not None:
            return c.hierarchy
    return None


def order_for(criteria: Sequence[Criterion], attribute: str) -> Sequence[Any] | None:
    for c in criteria:
        if isinstance(c, TCloseness) and c.attribute == attribute and c.order is not None:
            return c.order
    return None
