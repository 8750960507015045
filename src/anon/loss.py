"""Information loss / utility of a generalized release.

All metrics are computed from ``GeneralizedUnits``: groups of identical input records
(units) with their count, whether they were suppressed, their equivalence class, and per
quasi-identifier how much of the attribute's domain their released value covers. Both
the lattice search (full-domain generalization) and Mondrian (local recoding) describe
their output this way.

Metrics (n = records or entities, suppressed ones included; d = number of QIs):

- ``arx_loss`` — ARX's default quality model, ``Metric.createLossMetric()`` =
  ``MetricMDNMLoss(gsFactor=0.5, GEOMETRIC_MEAN)`` (ARX source,
  ``org/deidentifier/arx/metric/v2/MetricMDNMLoss.java``, ``DomainShareMaterialized.java``,
  ``ILMultiDimensionalGeometricMean.java``). Per attribute, each record contributes the
  *domain share* of its generalized value — the number of hierarchy leaves under it divided
  by the hierarchy's domain size — and a suppressed record contributes 1. The sum S_a is
  normalised ``L_a = max(0, (S_a - n/|dom_a|) / (n - n/|dom_a|))`` (0 when nothing is
  generalized, 1 when everything is suppressed) and the attributes are combined by the
  shifted geometric mean ``prod_a (1 + L_a)^(1/d) - 1`` (weights 1, ARX's default).
- ``gcp`` (generalized certainty penalty / NCP, Xu et al. 2006; Ghinita et al. 2007): per
  record and attribute, numeric = interval width / domain range, categorical =
  (leaves under the value - 1) / (domain size - 1); suppressed = 1; averaged over records
  and attributes (0..1).
- ``discernibility`` (Bayardo & Agrawal 2005): ``sum |E|^2 + |suppressed| * n``.
- ``c_avg`` (LeFevre et al. 2006): ``(released records / classes) / k``.
- ``nonuniform_entropy`` (Gionis & Tassa 2009; ARX ``MetricMDNUEntropy``): sum over records
  and attributes of ``-log2(f(v) / f(g))`` with f counted in the input, g the released value
  (suppressed: g = ``*``, f(g) = n). Bits.

The metrics as objects chosen once from a name (what the search and the anonymizer use),
with the search's lower bounds per metric, are in ``loss_metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from privhealth.anon.classes import combine
from privhealth.anon.hierarchy import Hierarchy
from privhealth.errors import ConfigError


@dataclass(frozen=True, eq=False)
class GeneralizedUnits:
    """Groups of identical input records and what their released values cover, per QI."""

    counts: np.ndarray  # records (entities) per unit
    suppressed: np.ndarray  # bool per unit
    class_ids: np.ndarray  # equivalence class of each unit (ignored where suppressed)
    leaves: Sequence[np.ndarray]  # per QI: domain values covered by the released value
    domain_sizes: Sequence[int]  # per QI: size of the (hierarchy) domain
    gcp_share: Sequence[np.ndarray]  # per QI: NCP share of the released value, 0..1
    own_freq: Sequence[np.ndarray]  # per QI: input frequency of the unit's original value
    cover_freq: Sequence[np.ndarray]  # per QI: input frequency of all values the release covers

    def __post_init__(self) -> None:
        # float weights: numpy's dot of int64 with float64 takes a slow non-BLAS path
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.float64))

    @property
    def n(self) -> int:
        return int(round(self.counts.sum()))


@dataclass(frozen=True)
class UtilityReport:
    """Information loss of a release; lower is better for every field but ``n_classes``."""

    arx_loss: float
    gcp: float
    discernibility: float
    c_avg: float
    nonuniform_entropy: float
    suppressed_fraction: float
    n: int
    n_suppressed: int
    n_classes: int
    arx_loss_per_attribute: tuple[float, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["arx_loss_per_attribute"] = list(self.arx_loss_per_attribute)
        return d


def arx_loss_parts(g: GeneralizedUnits) -> np.ndarray:
    """ARX Loss per attribute, normalised to 0..1 (see module docstring)."""
    n = g.counts.sum()
    out = []
    for leaves, size in zip(g.leaves, g.domain_sizes, strict=True):
        w = np.where(g.suppressed, float(size), leaves.astype(np.float64))
        out.append(normalise(_wsum(g.counts, w) / size, n, size))
    return np.asarray(out)


def _wsum(w: np.ndarray, x: np.ndarray) -> float:
    """sum(w * x) without BLAS (np.dot's first calls pay a thread-pool start-up)."""
    return float(np.sum(w * x))


def normalise(total: float, n: float, size: int) -> float:
    """ARX's normalisation of a domain-share sum: (S - n/|dom|) / (n - n/|dom|), at least 0."""
    lo = n / size
    if n <= 0 or n - lo <= 0:
        return 0.0
    return max(0.0, (total - lo) / (n - lo))


def geometric_mean(parts: np.ndarray) -> float:
    """ARX's shifted geometric mean: prod(1 + x)^(1/d) - 1."""
    if len(parts) == 0:
        return 0.0
    return float(np.exp(np.mean(np.log1p(parts))) - 1.0)


def arx_loss(g: GeneralizedUnits) -> float:
    """ARX's default Loss (MetricMDNMLoss, gs-factor 0.5, geometric mean)."""
    return geometric_mean(arx_loss_parts(g))


def gcp(g: GeneralizedUnits) -> float:
    """Generalized certainty penalty (NCP averaged over records and QIs); suppressed = 1."""
    n = g.counts.sum()
    if n == 0 or not g.gcp_share:
        return 0.0
    per = [_wsum(g.counts, np.where(g.suppressed, 1.0, s)) / n for s in g.gcp_share]
    return float(np.mean(per))


def class_sizes(g: GeneralizedUnits) -> np.ndarray:
    """Size of each released (non-suppressed) equivalence class."""
    kept = ~g.suppressed
    if not kept.any():
        return np.zeros(0, dtype=np.int64)
    sizes = np.bincount(g.class_ids[kept], weights=g.counts[kept])
    return sizes[sizes > 0].astype(np.int64)


def discernibility(sizes: np.ndarray, n_suppressed: int, n: int) -> float:
    """Discernibility metric: sum of squared class sizes plus n per suppressed record."""
    return float(np.sum(sizes.astype(np.float64) ** 2) + float(n_suppressed) * n)


def average_class_size(n_released: int, n_classes: int, k: int) -> float:
    """C_avg = (released records / classes) / k (1 is ideal)."""
    if n_classes == 0:
        return float("nan")
    return n_released / n_classes / max(int(k), 1)


def nonuniform_entropy(g: GeneralizedUnits) -> float:
    """Non-uniform entropy in bits: sum of -log2(f(original) / f(released value))."""
    n = float(g.counts.sum())
    total = 0.0
    if len(g.own_freq) != len(g.leaves):
        raise ConfigError("non-uniform entropy needs each unit's own value frequencies")
    for own, cover in zip(g.own_freq, g.cover_freq, strict=True):
        cov = np.where(g.suppressed, n, cover.astype(np.float64))
        total += _wsum(g.counts, np.log2(cov / own))
    return total


def utility(g: GeneralizedUnits, k: int = 1) -> UtilityReport:
    """All metrics for a release (``k`` only scales C_avg)."""
    sizes = class_sizes(g)
    n = g.n
    n_supp = int(round(g.counts[g.suppressed].sum()))
    parts = arx_loss_parts(g)
    return UtilityReport(
        arx_loss=geometric_mean(parts),
        gcp=gcp(g),
        discernibility=discernibility(sizes, n_supp, n),
        c_avg=average_class_size(n - n_supp, len(sizes), k),
        nonuniform_entropy=nonuniform_entropy(g),
        suppressed_fraction=n_supp / n if n else 0.0,
        n=n,
        n_suppressed=n_supp,
        n_classes=len(sizes),
        arx_loss_per_attribute=tuple(float(x) for x in parts),
    )


@dataclass(frozen=True, eq=False)
class LevelTables:
    """Per-level lookups over one hierarchy's leaves, for full-domain generalization.

    ``leaves[L][v]``, ``gcp[L][v]`` and ``cover[L][v]`` describe leaf v generalized to level L;
    ``freq[v]`` is its input frequency. Built once per search.
    """

    hierarchy: Hierarchy
    freq: np.ndarray
    leaves: tuple[np.ndarray, ...]
    gcp: tuple[np.ndarray, ...]
    cover: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, h: Hierarchy, leaf_codes: np.ndarray, weights: np.ndarray | None = None) -> LevelTables:
        freq = np.bincount(leaf_codes, weights=weights, minlength=h.size).astype(np.float64)
        leaves, shares, cover = [], [], []
        if h.numeric:
            dom = h.domain.astype(np.float64)
            span = dom[-1] - dom[0]
        for lev in range(h.height):
            codes = h.codes(lev)
            leaves.append(h.group_sizes(lev)[codes])
            if h.numeric:
                lo, hi = h.group_ranges(lev)
                shares.append(((hi - lo) / span)[codes] if span > 0 else np.zeros(h.size))
            else:
                shares.append((leaves[-1] - 1) / (h.size - 1) if h.size > 1 else np.zeros(h.size))
            cover.append(np.bincount(codes, weights=freq)[codes])
        return cls(h, freq, tuple(leaves), tuple(shares), tuple(cover))


def units_at_levels(
    tables: Sequence[LevelTables],
    levels: Sequence[int],
    leaf_codes: Sequence[np.ndarray],
    counts: np.ndarray,
    suppressed: np.ndarray,
    class_ids: np.ndarray,
    own: bool = True,
) -> GeneralizedUnits:
    """Describe a full-domain generalization (one level per QI) of units; ``leaf_codes[j]``
    holds QI j's leaf code of every unit.

    ``own=False`` skips the per-value frequencies (non-uniform entropy is then undefined:
    use it when the units are whole classes, whose members have different values).
    """
    cols = range(len(tables))
    return GeneralizedUnits(
        counts=counts,
        suppressed=suppressed,
        class_ids=class_ids,
        leaves=[tables[j].leaves[levels[j]][leaf_codes[j]] for j in cols],
        domain_sizes=[t.hierarchy.size for t in tables],
        gcp_share=[tables[j].gcp[levels[j]][leaf_codes[j]] for j in cols],
        own_freq=[tables[j].freq[leaf_codes[j]] for j in cols] if own else [],
        cover_freq=[tables[j].cover[levels[j]][leaf_codes[j]] for j in cols] if own else [],
    )


def full_domain_utility(
    df: pd.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    levels: Mapping[str, int],
    suppressed: np.ndarray | None = None,
    k: int = 1,
) -> UtilityReport:
    """Loss of generalizing the *original* ``df`` to one level per QI, rows in ``suppressed`` removed.

    For releases made outside the search (e.g. a fixed generalization level per QI); each
    row is one unit, so reduce longitudinal data to one row per patient first.
    """
    qis = list(hierarchies)
    missing = [q for q in qis if q not in levels]
    if missing:
        raise ConfigError(f"no generalization level given for quasi-identifier '{missing[0]}'")
    hs = [hierarchies[q] for q in qis]
    lv = [int(levels[q]) for q in qis]
    leaf = [h.encode(df[q]) for q, h in zip(qis, hs, strict=True)]
    supp = np.zeros(len(df), dtype=bool) if suppressed is None else np.asarray(suppressed, dtype=bool)
    if len(supp) != len(df):
        raise ConfigError(f"suppressed mask has {len(supp)} entries for {len(df)} rows")
    groups = [h.codes(x)[c] for h, x, c in zip(hs, lv, leaf, strict=True)]
    ids, _ = combine(groups, [h.n_groups(x) for h, x in zip(hs, lv, strict=True)])
    tables = [LevelTables.build(h, c) for h, c in zip(hs, leaf, strict=True)]
    return utility(units_at_levels(tables, lv, leaf, np.ones(len(df)), supp, ids), k)
