"""The frequency set: a unit table compressed once into distinct QI tuples with counts and histograms.

ARX's search evaluates nodes on the distinct quasi-identifier tuples of the input, each with
its number of units and its histogram of every sensitive attribute, never on the rows. Every
node's classes are unions of these tuples, so a table repeated ten times costs what its
distinct tuples cost. Encoding is vectorised and touches each row once per column: an
Arrow-backed string column is one hashed ``index_in`` against the hierarchy's leaves, an
integer column one table lookup over its range, anything else ``pd.factorize`` with only the
*distinct* values looked up in the hierarchy. The codes are combined into one mixed-radix key
whose distinct values (Arrow's hash, numbered by first appearance) decode to the tuples. Large
tables encode their columns in a kept pool of threads (one per core).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from privhealth.anon.classes import Histograms, combine_keys, first_positions
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.sensitive import SensitiveAttribute
from privhealth.errors import HierarchyError

_THREADED_ROWS = 100_000  # from this many units, columns are factorized in parallel threads
_pool: ThreadPoolExecutor | None = None  # kept between searches: starting threads costs ~milliseconds


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="privhealth-encode")
    return _pool


def _forget_threads() -> None:
    """A forked child has none of its parent's threads: it starts its own pool."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_threads)


def encode_leaves(values: pd.Series, hierarchy: Hierarchy) -> np.ndarray:
    """Leaf code of every value in ``hierarchy`` (same result and errors as ``Hierarchy.encode``).

    Factorizes first and looks up only the distinct values; on any problem (a value not in
    the hierarchy, a missing value) defers to ``Hierarchy.encode`` on the full column, whose
    error counts rows.
    """
    fast = _arrow_leaves(values, hierarchy)
    if fast is None:
        fast = _integer_leaves(values, hierarchy)
    if fast is not None:
        return fast
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if (codes < 0).any():
        return hierarchy.encode(values)
    try:
        leaf_of_unique = hierarchy.encode(pd.Series(uniques, dtype=values.dtype))
    except HierarchyError:  # the full-column encode raises the error counting rows
        return hierarchy.encode(values)
    return leaf_of_unique[codes]


def _arrow_leaves(values: pd.Series, hierarchy: Hierarchy) -> np.ndarray | None:
    """Leaf codes of an Arrow-backed string column by one hashed lookup in the hierarchy's
    leaves (``Hierarchy.encode`` compares ``str(value)``, which is the value itself here);
    None when the column is not such a column or a value is missing or not a leaf (the
    caller then takes the path that names the error)."""
    if hierarchy.numeric or not isinstance(values.dtype, pd.StringDtype) or values.dtype.storage != "pyarrow":
        return None
    arr = values.array.__arrow_array__()
    leaves = pa.array(hierarchy.domain.astype(str).tolist(), type=arr.type)
    found = pc.index_in(arr, value_set=leaves)
    if found.null_count:
        return None
    return found.to_numpy()


def _integer_leaves(values: pd.Series, hierarchy: Hierarchy) -> np.ndarray | None:
    """Leaf codes of an integer column under a numeric hierarchy by one table lookup over the
    column's range (no hashing); None when the column is not plain integers, its range is much
    wider than it is long, or a value is not a leaf (the caller then names the error)."""
    dt = values.dtype
    if not (hierarchy.numeric and isinstance(dt, np.dtype) and dt.kind in "iu" and len(values)):
        return None
    if dt.kind == "u" and dt.itemsize == 8:  # may not fit int64
        return None
    v = values.to_numpy().astype(np.int64, copy=False)  # narrow ints would wrap below
    lo, hi = int(v.min()), int(v.max())
    if hi - lo > 2 * len(v) + 4096:
        return None
    dom = hierarchy.domain.astype(np.float64)
    pos = np.flatnonzero((dom >= lo) & (dom <= hi) & (dom == np.floor(dom)))
    lut = np.full(hi - lo + 1, -1, dtype=np.int64)
    lut[(dom[pos[::-1]] - lo).astype(np.int64)] = pos[::-1]  # the first of equal leaves, as searchsorted
    out = lut[v - lo]
    if (out < 0).any():
        return None
    return out


@dataclass(frozen=True, eq=False)
class FrequencySet:
    """Distinct QI tuples (leaf codes) with their unit counts and sensitive-value histograms.

    ``tuple_of_unit[u]`` is the tuple of unit ``u``; tuples are numbered by first appearance.
    """

    leaf: np.ndarray  # tuples x QIs, leaf code of each QI (a view of a QIs x tuples array)
    counts: np.ndarray  # units per tuple (int64)
    tuple_of_unit: np.ndarray  # tuple id of every unit
    hists: dict[str, Histograms]  # per sensitive attribute, per-tuple histograms
    unit_columns: tuple[np.ndarray, ...]  # per QI, the leaf code of every unit (for the release)

    @property
    def unit_leaf(self) -> np.ndarray:
        """Units x QIs leaf codes (a stacked copy of ``unit_columns``)."""
        return np.stack(self.unit_columns, axis=1)

    @property
    def n_tuples(self) -> int:
        return len(self.counts)

    @property
    def n_units(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        hierarchies: Sequence[Hierarchy],
        columns: Sequence[str],
        sensitive: Mapping[str, SensitiveAttribute],
    ) -> FrequencySet:
        """Encode ``columns`` of the unit ``frame`` with their hierarchies and group equal tuples."""
        pairs = list(zip(columns, hierarchies, strict=True))
        workers = min(len(pairs), os.cpu_count() or 1)
        if len(frame) >= _THREADED_ROWS and workers > 1:  # Arrow's hashing releases the GIL
            cols = list(_threads().map(lambda qh: encode_leaves(frame[qh[0]], qh[1]), pairs))
        else:
            cols = [encode_leaves(frame[q], h) for q, h in pairs]
        ids, n, rows = combine_keys(cols, [h.size for h in hierarchies])
        counts = np.bincount(ids, minlength=n).astype(np.int64)
        hists = {a: Histograms.build(ids, n, enc.codes, enc.m) for a, enc in sensitive.items()}
        by_qi = np.empty((len(cols), n), dtype=np.int64)  # QIs x tuples: what the roll-up reads
        if rows is not None:
            by_qi[:] = rows.T
        else:
            first = first_positions(ids, n)
            for j, c in enumerate(cols):
                by_qi[j] = c[first]
        return cls(by_qi.T, counts, ids, hists, tuple(cols))
