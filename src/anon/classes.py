"""Equivalence classes on integer codes: grouping, entity reduction and per-class histograms.

Everything here works on integer codes, never on strings: each quasi-identifier is
factorized once, the codes are combined into one int64 key (mixed radix), and the key is
factorized into class ids. Per-class distributions of a sensitive attribute are kept
*sparse* — one (class, value, count) triple per value present in a class — so a million
rows with thousands of classes and thousands of sensitive values never need a dense
classes x values matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from privhealth.errors import ConfigError, PrivacyModelError

_KEY_LIMIT = 1 << 62


def factorize(values: pd.Series | np.ndarray, sort: bool = False) -> tuple[np.ndarray, int]:
    """Integer codes 0..m-1 of ``values`` and m (missing values become their own code)."""
    if not sort and isinstance(values, np.ndarray) and values.dtype.kind in "iu" and values.ndim == 1:
        codes, uniques = _hash_ints(values)
        return codes, len(uniques)
    codes, uniques = pd.factorize(values, sort=sort, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def combine(codes: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, int]:
    """Class id of each unit from several code columns (one int64 mixed-radix key, factorized).

    Ids are numbered in order of first appearance. When the product of cardinalities would
    overflow int64 the partial key is re-factorized first, so any number of columns works.
    """
    ids, n, _ = combine_keys(codes, cards)
    return ids, n


def combine_keys(codes: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, int, np.ndarray | None]:
    """``combine``, plus each class's codes as rows (classes x columns) when the mixed-radix key
    did not need re-factorizing (None otherwise): read from the distinct keys, not the units."""
    if len(codes) == 0:
        raise ConfigError("at least one quasi-identifier is needed to form equivalence classes")
    key = np.array(codes[0], dtype=np.int64)  # a copy: updated in place below
    radix = max(int(cards[0]), 1)
    whole = True
    for c, card in zip(codes[1:], cards[1:], strict=True):
        card = max(int(card), 1)
        if radix * card >= _KEY_LIMIT:
            key, radix = factorize(key)
            whole = False
        # in place: fresh temporaries of a few MB cost more in page faults than the arithmetic
        np.multiply(key, card, out=key)
        np.add(key, c, out=key)
        radix *= card
    ids, keys = _hash_ints(key)
    if not whole:
        return ids, len(keys), None
    rest = keys.copy()
    rows = np.empty((len(rest), len(codes)), dtype=np.int64)
    for j in range(len(codes) - 1, 0, -1):
        card = max(int(cards[j]), 1)
        rows[:, j] = rest % card
        rest //= card
    rows[:, 0] = rest
    return ids, len(rest), rows


def _hash_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64) and distinct values of an integer array, numbered by first appearance as
    ``pd.factorize`` does, by Arrow's hash kernel (a third of pandas' time on a few 100,000 keys)."""
    enc = pc.dictionary_encode(pa.array(values))
    return enc.indices.to_numpy().astype(np.int64), enc.dictionary.to_numpy()


def first_positions(ids: np.ndarray, n_classes: int) -> np.ndarray:
    """Position of the first unit of each class, for ids numbered in order of first appearance."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(len(ids), dtype=bool)
    new[0] = True
    np.greater(ids[1:], np.maximum.accumulate(ids)[:-1], out=new[1:])
    first = np.flatnonzero(new)
    if len(first) != n_classes:  # ids not in order of first appearance: fall back to a sort
        first = np.unique(ids, return_index=True)[1]
    return first


@dataclass(frozen=True)
class Histograms:
    """Sparse per-class distribution of one sensitive attribute: (class, value, count) triples.

    Triples are sorted by class, then value; only values present in a class appear.
    """

    cls: np.ndarray
    val: np.ndarray
    cnt: np.ndarray
    n_classes: int
    m: int

    @classmethod
    def build(
        cls,
        class_ids: np.ndarray,
        n_classes: int,
        values: np.ndarray,
        m: int,
        weights: np.ndarray | None = None,
    ) -> Histograms:
        """Count value codes per class (optionally weighted by unit counts)."""
        key = class_ids.astype(np.int64, copy=False) * m + values
        cells = n_classes * m
        if cells <= max(4 * len(key), 1 << 20):
            dense = np.bincount(key, weights=weights, minlength=cells)
            nz = np.flatnonzero(dense)
            cnt = dense[nz]
        elif weights is None:
            nz, cnt = np.unique(key, return_counts=True)
        else:
            nz, inv = np.unique(key, return_inverse=True)
            cnt = np.bincount(inv, weights=weights, minlength=len(nz))
        cnt = np.rint(cnt).astype(np.int64) if cnt.dtype.kind == "f" else cnt.astype(np.int64)
        return cls(nz // m, nz % m, cnt, n_classes, m)

    def rollup(self, mapping: np.ndarray, n_new: int) -> Histograms:
        """Histograms of coarser classes, ``mapping[old_class] = new_class`` (no row re-scan)."""
        return Histograms.build(mapping[self.cls], n_new, self.val, self.m, weights=self.cnt)

    def sizes(self) -> np.ndarray:
        return np.bincount(self.cls, weights=self.cnt, minlength=self.n_classes).astype(np.int64)

    def select(self, keep: np.ndarray) -> Histograms:
        """Only the classes where ``keep`` is True, renumbered 0..n_kept-1."""
        new = np.cumsum(keep) - 1
        sel = keep[self.cls]
        return Histograms(new[self.cls[sel]], self.val[sel], self.cnt[sel], int(keep.sum()), self.m)


def reduce_to_entities(
    df: pd.DataFrame, entity: str, constant: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per entity (its first row), after checking ``constant`` columns never vary within one.

    Returns the entity-level frame and, for every input row, the position of its entity.
    A patient whose quasi-identifiers or sensitive values change between rows would fall in
    several equivalence classes, so that is an error naming the column.
    """
    if entity not in df.columns:
        raise ConfigError(f"entity column '{entity}' is not in the table")
    eid, n_ent = factorize(df[entity])
    if df[entity].isna().any():
        raise ConfigError(f"entity column '{entity}' has missing values")
    first = first_positions(eid, n_ent)
    for col in constant:
        codes, card = factorize(df[col])
        pair_ids, pairs = combine([eid, codes], [n_ent, card])
        if pairs != n_ent:
            per_entity = np.bincount(eid[first_positions(pair_ids, pairs)], minlength=n_ent)
            raise PrivacyModelError(
                f"column '{col}' is not constant within entity '{entity}': "
                f"{int((per_entity > 1).sum())} entit(y/ies) have several values; a patient "
                f"must fall in exactly one equivalence class, so quasi-identifiers and sensitive "
                f"attributes must be patient-level (aggregate or choose one value per patient first)"
            )
    return df.iloc[first].reset_index(drop=True), eid


def check_columns(df: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """ConfigError naming the first column of ``role`` missing from ``df``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{role} column(s) {', '.join(repr(c) for c in missing)} not in the table "
            f"(columns: {', '.join(map(str, df.columns[:20]))}{' …' if df.shape[1] > 20 else ''})"
        )
    for c in columns:
        s = df[c]
        if pd.api.types.is_float_dtype(s) and np.isinf(s.to_numpy()).any():
            raise ConfigError(
                f"{role} column '{c}' holds {int(np.isinf(s.to_numpy()).sum())} infinite value(s); "
                f"fix or remove them first (missing values are allowed and form their own class)"
            )
