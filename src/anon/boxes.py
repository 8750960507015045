"""Mondrian's equivalence classes as boxes, so new records can be mapped into a finished release.

A class is a box: for each numeric quasi-identifier the closed range ``[lo, hi]`` of its
members' values, for each categorical one the hierarchy node (level and label) covering
them. Strict Mondrian's boxes are disjoint, so a record of the source lies in exactly one,
its own class's. A new record (a held-out patient) is assigned by this rule:

1. the box that contains it on the most quasi-identifiers (all of them when one contains it);
2. among those, the nearest: the sum over the attributes it falls outside of the distance to
   the range divided by the attribute's whole range (numeric) or 1 (categorical, or a
   missing or unknown value);
3. among those, the box holding the most patients; then the lowest class number.

The record then takes every label of its box, so it looks like the released rows of that class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy, build_hierarchy
from privhealth.errors import SchemaError

_CHUNK_CELLS = 4_000_000  # combinations x classes handled per numpy pass


@dataclass
class MondrianBoxes:
    """Per class: released label, numeric ranges and categorical nodes of every quasi-identifier."""

    quasi: list[str]
    sizes: np.ndarray  # units per class
    labels: dict[str, np.ndarray]  # released label of each class, per QI
    numeric: dict[str, tuple[np.ndarray, np.ndarray]]  # (lo, hi) per class
    categorical: dict[str, tuple[np.ndarray, Hierarchy]]  # (level per class, hierarchy)

    @property
    def n_classes(self) -> int:
        return len(self.sizes)

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """Class number of each row of ``frame`` by the module's rule (vectorized over distinct QI tuples)."""
        missing = [q for q in self.quasi if q not in frame.columns]
        if missing:
            raise SchemaError(f"Mondrian release: the records lack quasi-identifier column(s) {missing}")
        if len(frame) == 0:
            return np.zeros(0, dtype=np.int64)
        codes = frame.groupby(self.quasi, sort=False, dropna=False, observed=True).ngroup().to_numpy()
        first = np.unique(codes, return_index=True)[1]
        combos = frame.iloc[first][self.quasi].reset_index(drop=True)
        step = max(1, _CHUNK_CELLS // max(self.n_classes, 1))
        chosen = np.concatenate([
            self._choose(combos.iloc[i: i + step]) for i in range(0, len(combos), step)
        ])
        return chosen[codes]

    def _choose(self, combos: pd.DataFrame) -> np.ndarray:
        m, c = len(combos), self.n_classes
        inside = np.zeros((m, c), dtype=np.int32)
        dist = np.zeros((m, c))
        for q, (lo, hi) in self.numeric.items():
            v = pd.to_numeric(combos[q], errors="coerce").to_numpy(dtype=np.float64)[:, None]
            span = float(np.max(hi) - np.min(lo)) or 1.0
            known = ~np.isnan(v)
            ok = known & (v >= lo[None, :]) & (v <= hi[None, :])
            inside += ok
            gap = (np.maximum(lo[None, :] - v, 0.0) + np.maximum(v - hi[None, :], 0.0)) / span
            dist += np.where(known, gap, 1.0)
        for q, (level, h) in self.categorical.items():
            table = np.stack(h.labels).astype(object)  # height x domain
            idx = domain_index(h, combos[q])
            known = (idx >= 0)[:, None]
            ok = known & (table[level[None, :], np.maximum(idx, 0)[:, None]] == self.labels[q][None, :])
            inside += ok
            dist += ~ok
        best = inside == inside.max(axis=1, keepdims=True)
        dist = np.where(best, dist, np.inf)
        near = best & (dist <= dist.min(axis=1, keepdims=True) + 1e-12)
        return np.argmax(np.where(near, self.sizes[None, :], -1), axis=1)

    def labels_of(self, classes: np.ndarray) -> dict[str, np.ndarray]:
        """Released labels of the given classes, per quasi-identifier."""
        return {q: self.labels[q][classes] for q in self.quasi}

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored with cached releases; holds released ranges, not records)."""
        return {
            "quasi": list(self.quasi),
            "sizes": self.sizes.tolist(),
            "labels": {q: [str(x) for x in v] for q, v in self.labels.items()},
            "numeric": {q: [lo.tolist(), hi.tolist()] for q, (lo, hi) in self.numeric.items()},
            "categorical": {q: [lv.tolist(), h.to_spec()] for q, (lv, h) in self.categorical.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MondrianBoxes:
        return cls(
            quasi=list(d["quasi"]),
            sizes=np.asarray(d["sizes"], dtype=np.int64),
            labels={q: np.asarray(v, dtype=object) for q, v in d["labels"].items()},
            numeric={q: (np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
                     for q, (lo, hi) in d["numeric"].items()},
            categorical={q: (np.asarray(lv, dtype=np.int64), build_hierarchy(q, spec, pd.Series([], dtype=object)))
                         for q, (lv, spec) in d["categorical"].items()},
        )


def domain_index(h: Hierarchy, values: pd.Series) -> np.ndarray:
    """Position of each value in the hierarchy's domain, -1 where missing or not covered."""
    notna = values.notna().to_numpy()
    if h.numeric:
        v = pd.to_numeric(values.astype(object), errors="coerce").to_numpy(dtype=np.float64)
        dom = h.domain.astype(np.float64)
        pos = np.clip(np.searchsorted(dom, v), 0, len(dom) - 1)
        return np.where(notna & ~np.isnan(v) & (dom[pos] == v), pos, -1)
    pos = pd.Index(h.domain.astype(str)).get_indexer(values.astype(str))  # as Hierarchy.encode reads them
    return np.where(notna, pos, -1)

