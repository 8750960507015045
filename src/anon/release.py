"""Anonymizers (Eq. 8, D' = A(D; θ)) and the release they produce.

An anonymizer takes a validated ``Dataset`` and returns a ``Release``: the anonymized
table (its index a subset of the source's, so released rows stay aligned with their
source rows for evaluation), the schema of what was released, and a description of
what was done that is safe to log. The pipeline measures and attacks the release; it
never writes the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pandas as pd

from privhealth.anon.transforms import RuleSet, Step
from privhealth.data.schema import Dataset, Kind, TableSchema


@dataclass
class Release:
    """An anonymized table with its schema and provenance (no source values)."""

    frame: pd.DataFrame
    schema: TableSchema
    method: str
    steps: list[dict[str, Any]]
    n_entities_in: int
    n_rows_in: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n_entities_out(self) -> int:
        ent = self.schema.entity
        return int(self.frame[ent].nunique()) if ent else len(self.frame)

    @property
    def suppressed_fraction(self) -> float:
        """Fraction of entities (patients) removed from the release by record suppression."""
        if self.n_entities_in == 0:
            return 0.0
        return 1.0 - self.n_entities_out / self.n_entities_in

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "steps": self.steps,
            "n_entities_in": self.n_entities_in,
            "n_entities_out": self.n_entities_out,
            "suppressed_fraction": self.suppressed_fraction,
            **self.details,
        }


class Anonymizer(Protocol):
    """Anything that turns a Dataset into a Release."""

    name: str

    def anonymize(self, dataset: Dataset) -> Release: ...


def release_schema(schema: TableSchema, frame: pd.DataFrame) -> TableSchema:
    """The source schema restricted to released columns, with kinds updated where values became labels.

    A numeric or date column that now holds text (``60-69``, ``021**``, ``*``) is
    categorical in the release; a pseudonymized integer ID becomes a string.
    """
    cols = []
    for c in schema:
        if c.name not in frame.columns:
            continue
        s = frame[c.name]
        numeric_now = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        if c.kind in (Kind.NUMERIC, Kind.INTEGER, Kind.BINARY, Kind.DATETIME) and not numeric_now:
            if not (c.kind is Kind.DATETIME and pd.api.types.is_datetime64_any_dtype(s)):
                c = replace(c, kind=Kind.CATEGORICAL if c.pii is None else Kind.STRING)
        cols.append(c)
    return TableSchema(tuple(cols))


def make_release(
    dataset: Dataset, frame: pd.DataFrame, method: str, steps: Sequence[dict[str, Any]], **details: Any
) -> Release:
    return Release(
        frame=frame,
        schema=release_schema(dataset.schema, frame),
        method=method,
        steps=list(steps),
        n_entities_in=dataset.n_entities,
        n_rows_in=len(dataset.frame),
        details=dict(details),
    )


class RuleBasedAnonymizer:
    """Applies a fixed chain of steps (the paper's approach): no privacy model is enforced."""

    def __init__(self, steps: Sequence[Step], name: str = "rules") -> None:
        self.rules = RuleSet(steps)
        self.name = name

    def anonymize(self, dataset: Dataset) -> Release:
        out = self.rules.fit_transform(dataset.frame)
        return make_release(dataset, out, self.name, self.rules.describe()["steps"])


class NoAnonymization:
    """The identity: releases the data as is (the raw baseline every attack is compared with)."""

    name = "none"

    def anonymize(self, dataset: Dataset) -> Release:
        return make_release(dataset, dataset.frame, self.name, [])
