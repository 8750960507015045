"""The unit table: input checks, one row per entity, sensitive attributes encoded.

Measuring, the lattice search and Mondrian all count *units*: rows, or patients when an
``entity`` column is given (longitudinal data, many rows per patient). Quasi-identifiers
and sensitive attributes must then be constant per patient, so each patient falls in
exactly one equivalence class; the table is reduced to one row per patient first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.classes import check_columns, reduce_to_entities
from privhealth.anon.criteria import Criterion, KAnonymity, hierarchy_for, order_for
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.sensitive import SensitiveAttribute, encode_sensitive
from privhealth.errors import ConfigError, PrivacyModelError


@dataclass(frozen=True, eq=False)
class Units:
    """Entity-level (or row-level) frame with encoded sensitive attributes."""

    frame: pd.DataFrame  # one row per unit, index 0..n-1
    row_unit: np.ndarray | None  # unit position of every input row (None: rows are units)
    sensitive: dict[str, SensitiveAttribute]
    entity: str | None

    @property
    def n(self) -> int:
        return len(self.frame)


def check_roles(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str],
    entity: str | None,
) -> None:
    """ConfigError for unknown columns, a sensitive attribute that is also a QI, and the like."""
    if isinstance(quasi_identifiers, str) or isinstance(sensitive, str):
        raise ConfigError("quasi_identifiers and sensitive must be lists of column names")
    if len(quasi_identifiers) == 0:
        raise ConfigError("no quasi-identifiers given")
    dup = sorted({q for q in quasi_identifiers if list(quasi_identifiers).count(q) > 1})
    if dup:
        raise ConfigError(f"quasi-identifier(s) listed twice: {', '.join(dup)}")
    check_columns(df, quasi_identifiers, "quasi-identifier")
    check_columns(df, sensitive, "sensitive")
    both = [s for s in sensitive if s in quasi_identifiers]
    if both:
        raise ConfigError(
            f"column '{both[0]}' is declared both sensitive and quasi-identifier; "
            f"a column has one role"
        )
    if entity is not None:
        check_columns(df, [entity], "entity")
        if entity in quasi_identifiers or entity in sensitive:
            raise ConfigError(f"entity column '{entity}' cannot also be a quasi-identifier or sensitive")


def prepare_units(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    entity: str | None = None,
    criteria: Sequence[Criterion] = (),
    hierarchies: Mapping[str, Hierarchy] | None = None,
    order: Mapping[str, Sequence[Any]] | None = None,
    reference: pd.DataFrame | None = None,
) -> Units:
    """Validate roles, reduce to entities and encode sensitive attributes against ``reference``."""
    check_roles(df, quasi_identifiers, sensitive, entity)
    if entity is not None:
        frame, row_unit = reduce_to_entities(df, entity, [*quasi_identifiers, *sensitive])
    else:
        frame, row_unit = df.reset_index(drop=True), None
    ref = None
    if reference is not None:
        check_columns(reference, sensitive, "sensitive (reference table)")
        if entity is not None and entity in reference.columns:
            ref = reduce_to_entities(reference, entity, list(sensitive))[0]
        else:
            ref = reference.reset_index(drop=True)
    hierarchies = dict(hierarchies or {})
    order = dict(order or {})
    enc = {}
    for s in sensitive:
        h = hierarchies.get(s) or hierarchy_for(criteria, s)
        o = order.get(s) or order_for(criteria, s)
        enc[s] = encode_sensitive(frame[s], s, None if ref is None else ref[s], h, o)
    return Units(frame, row_unit, enc, entity)


def validate_request(criteria: Sequence[Criterion], suppression_limit: float) -> None:
    """ConfigError for an empty criteria list or a suppression limit outside [0, 1]."""
    if not criteria:
        raise ConfigError("no privacy criterion given")
    if (
        isinstance(suppression_limit, bool)
        or not isinstance(suppression_limit, int | float)
        or not 0 <= suppression_limit <= 1
    ):
        raise ConfigError(f"suppression limit must be a fraction in [0, 1], got {suppression_limit!r}")


def check_k(criteria: Sequence[Criterion], n: int, what: str) -> None:
    """PrivacyModelError when k exceeds the number of entities (no release can exist)."""
    for c in criteria:
        if isinstance(c, KAnonymity) and c.k > n:
            raise PrivacyModelError(f"k={c.k} is larger than the number of {what} ({n})")
