"""Privacy models measured on a released table: k, l (distinct, entropy, recursive), t (EMD, KL).

``measure`` groups the units (rows, or patients with ``entity``) into equivalence classes
by their quasi-identifier values as released, and reports per class and overall (the worst
class). Values are exact, computed on integer codes in bulk (see ``classes`` and
``diversity``). Rows whose quasi-identifiers are *all* ``*`` (ARX-style suppressed records)
are excluded by default — they carry no quasi-identifier information and ARX likewise
leaves them out of its class statistics — or, with ``suppressed="class"``, counted as one
ordinary class (the conservative reading). Rows removed from a release are simply absent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from privhealth.anon import diversity
from privhealth.anon.classes import Histograms, combine, factorize, first_positions
from privhealth.anon.criteria import (
    Criterion,
    DistinctL,
    EntropyL,
    KAnonymity,
    RecursiveCL,
    TCloseness,
    bind,
)
from privhealth.anon.hierarchy import ROOT, Hierarchy
from privhealth.anon.t_distances import TDistance, default_distance, resolve_emd
from privhealth.anon.units import prepare_units
from privhealth.errors import ConfigError

SuppressedMode = Literal["exclude", "class"]
Distances: TypeAlias = str | TDistance | Mapping[str, str | TDistance] | None  # per attribute, or one for all


@dataclass(frozen=True)
class AttributeReport:
    """The worst class's values for one sensitive attribute."""

    attribute: str
    l_distinct: int
    l_entropy: float
    l_recursive: int | None
    t_emd: float
    distance: str
    t_kl: float


@dataclass(frozen=True)
class PrivacyReport:
    """Measured privacy of a table: overall (worst-class) values, per attribute, per class.

    ``k`` counts entities (patients) when an entity column was given, else rows. l and t
    values are the worst over classes and over sensitive attributes; ``attributes`` has
    them per attribute and ``classes`` per class. ``t_kl`` is D(P_G || P_D) in nats.
    """

    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    entity: str | None
    k: int
    n_classes: int
    n_entities: int
    n_rows: int
    n_suppressed: int
    suppressed_mode: str
    class_sizes: dict[int, int]
    l_distinct: int | None = None
    l_entropy: float | None = None
    l_recursive: int | None = None
    c: float | None = None
    t_emd: float | None = None
    t_distance: dict[str, str] = field(default_factory=dict)
    t_kl: float | None = None
    attributes: dict[str, AttributeReport] = field(default_factory=dict)
    classes: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def check(self, criteria: Sequence[Criterion]) -> dict[str, bool]:
        """Whether the worst class meets each criterion, keyed by its label."""
        out: dict[str, bool] = {}
        for crit in bind(criteria, self.sensitive):
            attrs = [crit.attribute] if crit.attribute else []
            if isinstance(crit, KAnonymity):
                ok = self.k >= crit.k
            else:
                if not attrs:
                    raise ConfigError(f"{crit.label()}: the report has no sensitive attribute")
                missing = [a for a in attrs if a not in self.attributes]
                if missing:
                    raise ConfigError(f"{crit.label()}: '{missing[0]}' was not measured")
                ok = all(self._attr_ok(crit, self.attributes[a]) for a in attrs)
            out[crit.label()] = bool(ok)
        return out

    def _attr_ok(self, crit: Criterion, a: AttributeReport) -> bool:
        if isinstance(crit, DistinctL):
            return a.l_distinct >= crit.l
        if isinstance(crit, EntropyL):
            return a.l_entropy >= crit.l * (1 - 1e-9)
        if isinstance(crit, RecursiveCL):
            if self.c != crit.c or a.l_recursive is None:
                raise ConfigError(f"{crit.label()}: measure with c={crit.c:g} to check it")
            return a.l_recursive >= crit.l
        if isinstance(crit, TCloseness):
            if not crit.ground.emd:  # KL: always measured, as t_kl
                return a.t_kl <= crit.t + 1e-9
            if crit.ground.name != a.distance:
                raise ConfigError(
                    f"{crit.label()}: '{a.attribute}' was measured with {a.distance} distance"
                )
            return a.t_emd <= crit.t + 1e-9
        raise ConfigError(f"cannot check {crit!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-class table)."""
        d: dict[str, Any] = {
            "quasi_identifiers": list(self.quasi_identifiers),
            "sensitive": list(self.sensitive),
            "entity": self.entity,
            "k": self.k,
            "n_classes": self.n_classes,
            "n_entities": self.n_entities,
            "n_rows": self.n_rows,
            "n_suppressed": self.n_suppressed,
            "suppressed_mode": self.suppressed_mode,
            "class_sizes": {str(s): n for s, n in sorted(self.class_sizes.items())},
            "l_distinct": self.l_distinct,
            "l_entropy": _num(self.l_entropy),
            "l_recursive": self.l_recursive,
            "c": self.c,
            "t_emd": _num(self.t_emd),
            "t_distance": dict(self.t_distance),
            "t_kl": _num(self.t_kl),
            "attributes": {
                a: {k: _num(v) for k, v in r.__dict__.items()} for a, r in self.attributes.items()
            },
        }
        json.dumps(d)  # fail here, not in the caller, if something is not serialisable
        return d


def _num(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        v = float(v)
        return None if math.isnan(v) else ("inf" if math.isinf(v) else v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def suppressed_mask(frame: pd.DataFrame, quasi_identifiers: Sequence[str]) -> np.ndarray:
    """Units whose quasi-identifiers are all ``*`` (ARX-style suppressed records)."""
    mask = np.ones(len(frame), dtype=bool)
    for q in quasi_identifiers:
        col = frame[q]
        if pd.api.types.is_numeric_dtype(col):
            return np.zeros(len(frame), dtype=bool)
        mask &= (col == ROOT).to_numpy(dtype=bool, na_value=False)
    return mask


def measure(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    entity: str | None = None,
    c: float | None = None,
    distance: Distances = None,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    order: Mapping[str, Sequence[Any]] | None = None,
    reference: pd.DataFrame | None = None,
    suppressed: SuppressedMode = "exclude",
    per_class: bool = True,
) -> PrivacyReport:
    """Measure k, l and t of ``df`` (a released table) for the given quasi-identifiers.

    ``distance`` chooses the EMD ground distance per sensitive attribute (``ordered`` for
    numeric or explicitly ordered attributes, ``equal``, ``hierarchical`` — needs
    ``hierarchies[attr]``); by default hierarchical where a hierarchy is given, ordered for
    numeric attributes, equal otherwise. ``reference`` is the table whose distribution P_D
    t-closeness compares against (default: ``df`` itself, all-``*`` rows included). ``c``
    enables recursive (c,l)-diversity.
    """
    if suppressed not in ("exclude", "class"):
        raise ConfigError(f"suppressed must be 'exclude' or 'class', got {suppressed!r}")
    if c is not None and (isinstance(c, bool) or not isinstance(c, int | float) or c <= 0):
        raise ConfigError(f"recursive (c,l)-diversity: c must be > 0, got {c!r}")
    units = prepare_units(
        df, quasi_identifiers, sensitive, entity, hierarchies=hierarchies, order=order,
        reference=reference,
    )
    frame = units.frame
    dist = _distances(distance, sensitive, units)

    supp = suppressed_mask(frame, quasi_identifiers)
    n_supp = int(supp.sum()) if suppressed == "exclude" else 0
    keep = ~supp if suppressed == "exclude" else np.ones(len(frame), dtype=bool)
    kept = frame[keep] if n_supp else frame
    if len(kept):
        codes = [factorize(kept[q]) for q in quasi_identifiers]
        ids, nc = combine([cd for cd, _ in codes], [card for _, card in codes])
    else:
        ids, nc = np.zeros(0, dtype=np.int64), 0
    sizes = np.bincount(ids, minlength=nc).astype(np.int64)
    uniq, freq = np.unique(sizes, return_counts=True)

    attrs: dict[str, AttributeReport] = {}
    per: dict[str, np.ndarray] = {}
    for s in sensitive:
        enc = units.sensitive[s]
        hist = Histograms.build(ids, nc, enc.codes[keep], enc.m)
        ld, le = diversity.distinct(hist), diversity.entropy_l(hist)
        lr = diversity.recursive_l(hist, c) if c is not None else None
        emd = dist[s].values(hist, enc)
        kl = diversity.kl(hist, enc.q)
        attrs[s] = AttributeReport(
            s,
            int(ld.min()) if nc else 0,
            float(le.min()) if nc else math.nan,
            (int(lr.min()) if nc else 0) if lr is not None else None,
            float(emd.max()) if nc else math.nan,
            dist[s].name,
            float(kl.max()) if nc else math.nan,
        )
        per.update({f"{s}.l_distinct": ld, f"{s}.l_entropy": le, f"{s}.t_emd": emd, f"{s}.t_kl": kl})
        if lr is not None:
            per[f"{s}.l_recursive"] = lr

    classes = None
    if per_class:
        first = first_positions(ids, nc)
        classes = kept[list(quasi_identifiers)].iloc[first].reset_index(drop=True)
        classes["size"] = sizes
        if units.row_unit is not None:
            unit_class = np.full(len(frame), -1, dtype=np.int64)
            unit_class[np.flatnonzero(keep)] = ids
            rc = unit_class[units.row_unit]
            classes["rows"] = np.bincount(rc[rc >= 0], minlength=nc)
        for name, v in per.items():
            classes[name] = v

    worst = list(attrs.values())
    return PrivacyReport(
        quasi_identifiers=tuple(quasi_identifiers),
        sensitive=tuple(sensitive),
        entity=entity,
        k=int(sizes.min()) if nc else 0,
        n_classes=nc,
        n_entities=int(keep.sum()),
        n_rows=len(df),
        n_suppressed=n_supp,
        suppressed_mode=suppressed,
        class_sizes={int(a): int(b) for a, b in zip(uniq, freq, strict=True)},
        l_distinct=min(a.l_distinct for a in worst) if worst else None,
        l_entropy=min(a.l_entropy for a in worst) if worst else None,
        l_recursive=min(a.l_recursive for a in worst) if worst and c is not None else None,  # type: ignore[type-var]
        c=c,
        t_emd=max(a.t_emd for a in worst) if worst else None,
        t_distance={a.attribute: a.distance for a in worst},
        t_kl=max(a.t_kl for a in worst) if worst else None,
        attributes=attrs,
        classes=classes,
    )


def _distances(distance: Distances, sensitive: Sequence[str], units: Any) -> dict[str, TDistance]:
    """The EMD of each sensitive attribute, chosen once: as given, else the attribute's default."""
    out = {}
    for s in sensitive:
        d = distance.get(s) if isinstance(distance, Mapping) else distance
        out[s] = default_distance(units.sensitive[s]) if d is None else resolve_emd(d, s)
    if isinstance(distance, Mapping):
        extra = [a for a in distance if a not in sensitive]
        if extra:
            raise ConfigError(f"distance given for '{extra[0]}', which is not a sensitive attribute")
    return out
