"""Defaults derived from a table's schema, so the enforced methods work on any table.

Hierarchies (used for every quasi-identifier that has no declared one):

- numeric: nested intervals. A column named like an age gets 5-, 10- and 20-year bands
  with the HIPAA ``90+`` top code (when ages reach 90); any other numeric column gets
  intervals cut at its deciles, then every other decile, then the median (declare
  widths instead with ``{type: intervals, levels: [10, 20]}``);
- dates: day → month → year → ``*`` (dates of birth also → decade);
- text with ``pii: zip``: digits masked one by one (``1234*`` … ``*``);
- anything else: flat (the value, then ``*``).

Identifier steps (``RoleIdentifiers``): direct identifiers are removed, the entity id is
replaced by a keyed HMAC pseudonym (so an entity's rows stay linked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.transforms import DEFAULT_KEY_ENV, DropColumns, Pseudonymizer, RuleSet
from privhealth.data.schema import Column, Kind, Role, TableSchema

AGE_NAME = re.compile(r"(?i)(^|_)age($|_|s$)")
BIRTH_NAME = re.compile(r"(?i)birth|dob")
AGE_TOP_CODE = 90


def derived_spec(col: Column, values: pd.Series) -> dict[str, Any]:
    """The hierarchy spec (as ``build_hierarchy`` reads it) that ``col`` gets by default."""
    if col.kind is Kind.DATETIME:
        levels = ["month", "year", "decade"] if BIRTH_NAME.search(col.name) else ["month", "year"]
        return {"type": "dates", "levels": levels}
    if col.kind in (Kind.NUMERIC, Kind.INTEGER):
        v = pd.to_numeric(values, errors="coerce").dropna()
        if AGE_NAME.search(col.name):
            top = AGE_TOP_CODE if len(v) and v.max() >= AGE_TOP_CODE else None
            return {"type": "intervals", "levels": [5, 10, 20], "top_code": top}
        return {"type": "intervals", "levels": quantile_cuts(v)} if v.nunique() > 2 else {"type": "flat"}
    if col.pii == "zip":
        return {"type": "prefix"}
    return {"type": "flat"}


def quantile_cuts(v: pd.Series) -> list[list[float]]:
    """Nested cut points: deciles, every other decile, the median; each level a subset of the one below."""
    x = v.to_numpy(dtype=float)
    integer = bool(np.all(x == np.round(x)))
    top = x.max() + (1.0 if integer else max(abs(x.max()) * 1e-9, 1e-9))
    inner = np.quantile(x, np.linspace(0.1, 0.9, 9))
    inner = np.unique(np.ceil(inner) if integer else inner)
    inner = inner[(inner > x.min()) & (inner < top)]
    fine = [float(x.min()), *map(float, inner), float(top)]
    mid = fine[1:-1]
    coarse = [fine[0], *mid[1::2], fine[-1]]
    inner_coarse = coarse[1:-1]
    half = [fine[0], *([inner_coarse[len(inner_coarse) // 2]] if inner_coarse else []), fine[-1]]
    levels = [fine, coarse, half]
    return [lev for i, lev in enumerate(levels) if i == 0 or lev != levels[i - 1]]


def default_hierarchies(schema: TableSchema, frame: pd.DataFrame, quasi: Sequence[str],
                        declared: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Hierarchy per quasi-identifier: the data source's own (ARX tables, e.g. Adult), else derived."""
    out: dict[str, Any] = {}
    for q in quasi:
        col = schema[q]
        if declared and q in declared:
            numeric = col.kind in (Kind.NUMERIC, Kind.INTEGER)
            out[q] = Hierarchy.from_frame(q, declared[q], numeric=numeric)
        else:
            out[q] = derived_spec(col, frame[q])
    return out


class RoleIdentifiers:
    """Identifier steps from the roles: drop direct identifiers, keyed pseudonym for the entity id."""

    def __init__(self, key_env: str | None = DEFAULT_KEY_ENV, key_file: str | None = None) -> None:
        self.key_env = key_env
        self.key_file = key_file

    def for_schema(self, schema: TableSchema) -> RuleSet:
        steps = []
        if schema.entity is not None:
            steps.append(Pseudonymizer([schema.entity], key_env=self.key_env, key_file=self.key_file))
        direct = [c.name for c in schema if c.role is Role.DIRECT]
        if direct:
            steps.append(DropColumns(direct, missing_ok=True))
        return RuleSet(steps)
