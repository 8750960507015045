"""Shared pieces of the attacks: ground-truth alignment, patient-level views, value normalization.

The scorer (never the attacker) knows which source row each released row came from: a
``Release``'s index is a subset of its source's index. Every attack is scored through that
alignment, with the patient (the source's entity) as the unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.labels import (  # noqa: F401  (re-exported: the attacks import them from here)
    MASK_CHARS,
    US_STATES,
    is_masked,
    norm_text,
    on_distinct,
    pseudonym_shape,
)
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset, Kind, Role
from privhealth.errors import SchemaError

# PII categories whose values compare as digits (separators, spaces and case do not matter).
DIGIT_CATEGORIES = frozenset({"ssn", "phone", "mrn", "account", "id", "zip"})


@dataclass(frozen=True)
class Alignment:
    """Source entity of every released row, and the released patients (the unit of every risk)."""

    row_entity: pd.Series  # index = release index, values = source entity id
    entities: pd.Index  # distinct released entities, in order of first appearance
    entity_column: str | None

    @property
    def n(self) -> int:
        return len(self.entities)


def align(source: Dataset, release: Release) -> Alignment:
    """Ground truth: the source entity of each released row (the release index must be a subset)."""
    idx = release.frame.index
    if not idx.isin(source.frame.index).all():
        bad = int((~idx.isin(source.frame.index)).sum())
        raise SchemaError(
            f"release '{release.method}': {bad} released row(s) have an index label that is not "
            f"in the source; attacks are scored through the index alignment"
        )
    ent = source.schema.entity
    if ent is None:
        row_entity = pd.Series(np.asarray(idx), index=idx)
    else:
        row_entity = source.frame[ent].loc[idx]
    return Alignment(row_entity, pd.Index(pd.unique(row_entity.to_numpy())), ent)


def patient_view(frame: pd.DataFrame, row_entity: pd.Series) -> pd.DataFrame:
    """One row per entity (its first row), indexed by entity: quasi-identifiers are per patient."""
    first = ~row_entity.duplicated(keep="first").to_numpy()
    out = frame.loc[first]
    out.index = pd.Index(row_entity.to_numpy()[first], name="__entity__")
    return out


def source_patients(source: Dataset) -> pd.DataFrame:
    """The source, one row per entity (first row), indexed by entity."""
    ent = source.schema.entity
    if ent is None:
        out = source.frame.copy()
        out.index = pd.Index(source.frame.index, name="__entity__")
        return out
    return patient_view(source.frame, source.frame[ent])


def state_level(values: pd.Series) -> bool:
    """Whether a column holds only US states (releasable under Safe Harbor, so not counted as PII)."""
    v = pd.Series(pd.unique(values.dropna().astype("str")), dtype="str")
    return len(v) > 0 and bool(norm_text(v).isin(US_STATES).all())


def pii_fields(source: Dataset, fields: list[str] | None = None) -> list[str]:
    """The PII fields counted by Eq. 15: columns with a PII category, plus the entity (stay) id.

    A column holding only US states (``state``) is left out: Safe Harbor allows releasing it,
    and a state names nobody. ``fields`` overrides the choice.
    """
    if fields is not None:
        missing = [f for f in fields if f not in source.frame.columns]
        if missing:
            raise SchemaError(f"attack setting 'pii_fields': column(s) {missing} are not in the source")
        return list(fields)
    out = [
        c.name for c in source.schema
        if c.pii is not None and c.name in source.frame.columns and not state_level(source.frame[c.name])
    ]
    ent = source.schema.entity
    if ent is not None and ent not in out:
        out.insert(0, ent)
    return out


def field_category(source: Dataset, field: str) -> str:
    """How a field's values compare: 'digits', 'date' or 'text'."""
    col = source.schema[field] if field in source.schema else None
    s = source.frame[field]
    if pd.api.types.is_datetime64_any_dtype(s) or (col is not None and col.pii == "date"):
        return "date"
    if col is not None and (col.pii in DIGIT_CATEGORIES or col.role is Role.ENTITY):
        return "digits"
    if col is not None and col.kind in (Kind.INTEGER,) and col.pii is not None:
        return "digits"
    return "text"


# ---------------------------------------------------------------------- normalization
def _digits(s: pd.Series) -> pd.Series:
    return s.astype("str").str.replace(r"\D", "", regex=True)


def digits(s: pd.Series) -> pd.Series:
    """Only the digits of each value (nulls stay null)."""
    return on_distinct(s, _digits)


def int_text(s: pd.Series) -> pd.Series:
    """Integral numbers as integer text ('101'), everything else null."""
    v = pd.to_numeric(s, errors="coerce").astype("float64")
    ok = v.notna() & (v == np.round(v)) & (v.abs() < 2**53)
    out = pd.Series(np.nan, index=s.index, dtype="str")
    if ok.any():  # integer → text once per distinct integer
        out[ok] = on_distinct(v[ok].astype("int64"), lambda u: u.astype("str"))
    return out


def date_text(s: pd.Series) -> pd.Series:
    """ISO dates (YYYY-MM-DD) of a datetime column (nulls stay null)."""
    return pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d").astype("str")


def field_keys(s: pd.Series, category: str) -> pd.Series:
    """The comparison key of a source identifier field, by category (see ``field_category``)."""
    if category == "date":
        return date_text(s)
    if category == "digits":
        if pd.api.types.is_numeric_dtype(s):
            return int_text(s)
        d = digits(s)
        return d.where(d.str.len() > 0)
    return norm_text(s)


def share(part: float, whole: float) -> float:
    """part / whole, 0 when there is no whole (no patients, no PII)."""
    return float(part) / float(whole) if whole else 0.0


def key_index(values: Iterable[Any]) -> pd.Index:
    """A hash index over a set of keys, for fast membership tests (``member``)."""
    return pd.Index(pd.unique(np.asarray(list(values), dtype=object)), dtype=object)


def member(values: pd.Series, index: pd.Index) -> np.ndarray:
    """Whether each value is in ``index`` (nulls: False); avoids the Arrow-backed ``isin``."""
    if len(index) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    codes, uniq = pd.factorize(values, use_na_sentinel=True)  # hash each distinct value once
    hit = index.get_indexer(np.asarray(uniq, dtype=object)) >= 0
    null_hit = bool(index.get_indexer(np.array([None], dtype=object))[0] >= 0)
    return np.where(codes >= 0, hit[np.maximum(codes, 0)] if len(hit) else False, null_hit)


def informative(values: pd.Series) -> bool:
    """Whether a released column still tells records apart (not constant, not fully masked)."""
    v = values.dropna()
    if v.nunique() < 2:
        return False
    if not pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_datetime64_any_dtype(v):
        return not bool(is_masked(v).all())
    return True
