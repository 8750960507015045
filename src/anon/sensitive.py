"""Encoding of a sensitive attribute: integer codes, its ordered domain and the reference distribution.

t-closeness compares each class with a reference distribution P_D. By default that is the
distribution in the table being measured; for a release made with suppression the
enforcing algorithms use the *input* table (as ARX does), and ``measure`` accepts the
input as ``reference`` to reproduce that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy
from privhealth.errors import ConfigError, HierarchyError


@dataclass(frozen=True, eq=False)
class SensitiveAttribute:
    """One sensitive attribute on integer codes, plus what the distances need."""

    name: str
    codes: np.ndarray  # code of each unit (entity)
    domain: np.ndarray  # value of each code
    q: np.ndarray  # reference distribution over codes (sums to 1)
    ordered: bool  # codes follow the attribute's order (ordered EMD allowed)
    hierarchy: Hierarchy | None = None

    @property
    def m(self) -> int:
        return len(self.domain)

    def level_codes(self) -> list[np.ndarray]:
        """Group code of each leaf at every level of the hierarchy (hierarchical EMD)."""
        if self.hierarchy is None:
            raise ConfigError(
                f"hierarchical EMD on '{self.name}' needs a generalization hierarchy for it"
            )
        return [self.hierarchy.codes(lev) for lev in range(self.hierarchy.height)]


def _lookup(values: pd.Series, domain: np.ndarray, name: str, what: str) -> np.ndarray:
    idx = pd.Index(domain).get_indexer(values)
    bad = idx < 0
    if bad.any():
        first = values.iloc[int(np.flatnonzero(bad)[0])]
        raise ConfigError(
            f"value '{first}' of sensitive attribute '{name}' is not in {what} "
            f"({int(bad.sum())} value(s) not covered)"
        )
    return idx.astype(np.int64)


def encode_sensitive(
    values: pd.Series,
    name: str,
    reference: pd.Series | None = None,
    hierarchy: Hierarchy | None = None,
    order: Sequence[Any] | None = None,
) -> SensitiveAttribute:
    """Codes of ``values`` and the reference distribution (``reference`` defaults to ``values``)."""
    ref = values if reference is None else reference
    for s, where in ((values, "table"), (ref, "reference table")):
        if s.isna().any():
            raise ConfigError(
                f"sensitive attribute '{name}' has {int(s.isna().sum())} missing value(s) in the "
                f"{where}; impute or drop them first"
            )
    if hierarchy is not None:
        try:
            codes = hierarchy.encode(values.reset_index(drop=True))
            ref_codes = codes if reference is None else hierarchy.encode(ref.reset_index(drop=True))
        except HierarchyError as exc:
            raise HierarchyError(str(exc).replace("column", "sensitive attribute", 1)) from None
        domain = np.asarray(hierarchy.domain)
        ordered = hierarchy.numeric
    elif order is not None:
        domain = np.asarray(list(order), dtype=object)
        if pd.Index(domain).has_duplicates:
            raise ConfigError(f"order given for sensitive attribute '{name}' lists a value twice")
        codes = _lookup(values, domain, name, "its declared order")
        ref_codes = codes if reference is None else _lookup(ref, domain, name, "its declared order")
        ordered = True
    elif isinstance(ref.dtype, pd.CategoricalDtype) and ref.dtype.ordered:
        domain = np.asarray(ref.cat.categories)
        codes = _lookup(values.astype(object), domain, name, "the reference categories")
        ref_codes = codes if reference is None else ref.cat.codes.to_numpy().astype(np.int64)
        ordered = True
    else:
        ordered = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
        ref_codes, uniques = pd.factorize(ref, sort=True)  # numeric or lexicographic order
        domain = np.asarray(uniques) if ordered else np.asarray(uniques, dtype=object)
        codes = ref_codes if reference is None else _lookup(values, domain, name, "the reference table")
        ref_codes = ref_codes.astype(np.int64)
        codes = codes.astype(np.int64)
    q = np.bincount(ref_codes, minlength=len(domain)) / max(len(ref_codes), 1)
    return SensitiveAttribute(name, codes, domain, q, ordered, hierarchy)
