"""The information-loss metrics as objects, one per metric, chosen once from a name (cf. ARX's ``metric/``).

The lattice search and the anonymizer resolve the configured name (or alias) once with
``resolve_metric`` and then ask the object, never the name: its value on a release
(``value``), its per-level sums and node lower bounds (``lower_bounds``, None when the
bound needs the classes), and two flags that steer the search:

- ``needs_own_values``: the value depends on each record's own value, not only on its class
  (non-uniform entropy), so the search evaluates it on bottom classes;
- ``bound_from_classes``: no bound is known before a node's classes are (discernibility);
  ``class_bound(sizes)`` gives one from the class sizes, passed on to the node's successors.

The kernels (``arx_loss``, ``gcp``, …) and the definitions with their sources are in ``loss``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from privhealth.anon import loss
from privhealth.anon.loss import GeneralizedUnits, LevelTables
from privhealth.anon.stateless import Stateless
from privhealth.errors import ConfigError


class LossMetric(Stateless, ABC):
    """One information-loss metric: its value on a release and the search's bounds for it."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    needs_own_values: ClassVar[bool] = False
    bound_from_classes: ClassVar[bool] = False

    @abstractmethod
    def value(self, g: GeneralizedUnits) -> float:
        """The metric of a release described by ``g`` (suppressed units included)."""

    def level_total(self, t: LevelTables, level: int) -> float:
        """The metric's sum over one QI's records at ``level`` as if none were suppressed."""
        raise ConfigError(f"metric '{self.name}' has no per-level bound")

    def combine(self, per: np.ndarray) -> np.ndarray:
        """Per-QI level totals (nodes x QIs) combined into each node's value."""
        raise ConfigError(f"metric '{self.name}' has no per-level bound")

    def class_bound(self, sizes: np.ndarray) -> float:
        """A lower bound from a node's class sizes, valid for it and every generalization of it."""
        raise ConfigError(f"metric '{self.name}' has no bound from class sizes")

    def level_totals(self, t: LevelTables) -> np.ndarray:
        """``level_total`` at every level of ``t``'s hierarchy."""
        return np.asarray([self.level_total(t, lev) for lev in range(t.hierarchy.height)])

    def lower_bounds(self, tables: Sequence[LevelTables], levels: np.ndarray) -> np.ndarray | None:
        """Loss of every lattice node without suppression — a lower bound on its loss with it.

        Suppressed records count as fully generalized in every metric, so suppression can only
        add loss; and generalizing further never lowers the value, so the bound is monotone
        along the lattice. ``levels`` is (nodes x QIs). None where ``bound_from_classes``.
        """
        if self.bound_from_classes:
            return None
        per = np.stack([self.level_totals(t)[levels[:, j]] for j, t in enumerate(tables)], axis=1)
        return self.combine(per)


class ArxLoss(LossMetric):
    """ARX's default Loss (MetricMDNMLoss, gs-factor 0.5, shifted geometric mean over QIs)."""

    name = "arx_loss"
    aliases = ("loss", "arx")

    def value(self, g: GeneralizedUnits) -> float:
        return loss.arx_loss(g)

    def level_total(self, t: LevelTables, level: int) -> float:
        size = t.hierarchy.size
        return loss.normalise(float(t.freq @ t.leaves[level]) / size, t.freq.sum(), size)

    def combine(self, per: np.ndarray) -> np.ndarray:
        return np.exp(np.mean(np.log1p(per), axis=1)) - 1.0


class GCP(LossMetric):
    """Generalized certainty penalty (NCP averaged over records and QIs)."""

    name = "gcp"
    aliases = ("ncp",)

    def value(self, g: GeneralizedUnits) -> float:
        return loss.gcp(g)

    def level_total(self, t: LevelTables, level: int) -> float:
        n = t.freq.sum()
        return float(t.freq @ t.gcp[level]) / n if n else 0.0

    def combine(self, per: np.ndarray) -> np.ndarray:
        return per.mean(axis=1)


class Discernibility(LossMetric):
    """Discernibility: sum of squared class sizes plus n per suppressed record."""

    name = "discernibility"
    aliases = ("dm",)
    bound_from_classes = True

    def value(self, g: GeneralizedUnits) -> float:
        return loss.discernibility(loss.class_sizes(g), int(round(g.counts[g.suppressed].sum())), g.n)

    def class_bound(self, sizes: np.ndarray) -> float:
        # merging classes only grows sum |E|^2, and a suppressed record costs n >= its class
        return float(np.sum(sizes.astype(np.float64) ** 2))


class NonUniformEntropy(LossMetric):
    """Non-uniform entropy in bits (depends on each record's own value)."""

    name = "nonuniform_entropy"
    aliases = ("entropy",)
    needs_own_values = True

    def value(self, g: GeneralizedUnits) -> float:
        return loss.nonuniform_entropy(g)

    def level_total(self, t: LevelTables, level: int) -> float:
        f = t.freq > 0
        return float(t.freq[f] @ np.log2(t.cover[level][f] / t.freq[f]))

    def combine(self, per: np.ndarray) -> np.ndarray:
        return per.sum(axis=1)


LOSS_METRICS: dict[str, LossMetric] = {
    m.name: m for m in (ArxLoss(), GCP(), Discernibility(), NonUniformEntropy())
}
METRICS = tuple(LOSS_METRICS)
_ALIASES = {a: m.name for m in LOSS_METRICS.values() for a in m.aliases}


def resolve_metric(metric: str | LossMetric) -> LossMetric:
    """The metric object for a name or alias (an object is returned as is); ConfigError naming
    the bad value and the valid ones otherwise."""
    if isinstance(metric, LossMetric):
        return metric
    key = _ALIASES.get(metric, metric) if isinstance(metric, str) else None
    if key not in LOSS_METRICS:
        raise ConfigError(
            f"unknown loss metric {metric!r} (expected one of {', '.join(METRICS)}; "
            f"aliases {', '.join(_ALIASES)})"
        )
    return LOSS_METRICS[key]
