"""Anonymizers (Eq. 8, D' = A(D; θ)) and the release they produce.

An anonymizer takes a validated ``Dataset`` and returns a ``Release``: the anonymized
table (its index a subset of the source's, so released rows stay aligned with their
source rows for evaluation), the schema of what was released, and a description of
what was done that is safe to log. The pipeline measures and attacks the release; it
never writes the source.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.loss import full_domain_utility
from privhealth.anon.recipe import Recipe
from privhealth.anon.transforms import Generalizer, RuleSet, Step
from privhealth.data.schema import Dataset, Kind, Role, TableSchema
from privhealth.errors import ConfigError, SchemaError


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
    recipe: Recipe | None = field(default=None, repr=False)  # maps new records (``apply``)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Map raw records in the anonymizer's input layout (e.g. held-out test patients) the way
        this release was made, suppressing none; returns the release's columns and dtypes.

        The rules are ``privhealth.anon.recipe``'s (identifiers, then the release's generalization)
        and, for Mondrian, ``privhealth.anon.boxes``'s (records in no class's box). The index is kept.
        """
        if self.recipe is None:
            raise ConfigError(
                f"release '{self.method}' cannot map new records: it carries no recipe (made by an "
                f"anonymizer that records none, or read from a cache entry written without one)"
            )
        if not isinstance(frame, pd.DataFrame):
            raise SchemaError(f"Release.apply needs a DataFrame, got {type(frame).__name__}")
        out = self.recipe.apply(frame)
        missing = [c for c in self.frame.columns if c not in out.columns]
        if missing:
            raise SchemaError(
                f"Release.apply: the records lack column(s) {missing} of release '{self.method}'"
            )
        out = out[list(self.frame.columns)]
        for c, t in self.frame.dtypes.items():
            if out[c].dtype != t:
                try:
                    out[c] = out[c].astype(t)
                except (TypeError, ValueError):
                    raise SchemaError(
                        f"Release.apply: column '{c}' of the mapped records cannot take the release's type {t}"
                    ) from None
        return out

    @property
    def n_entities_out(self) -> int:
        ent = self.schema.entity
        return int(self.frame[ent].nunique()) if ent else len(self.frame)

    @property
    def suppressed_fraction(self) -> float:
        """Fraction of entities (patients) removed from the release by record suppression."""
        if self.n_entities_in == 0:
            return 0.0
        return (self.n_entities_in - self.n_entities_out) / self.n_entities_in

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
    categorical in the release, marked ``generalized`` (numeric or datetime) so that readers
    can still take its labels as ranges; a pseudonymized integer ID becomes a string.
    """
    cols = []
    for c in schema:
        if c.name not in frame.columns:
            continue
        s = frame[c.name]
        numeric_now = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        if c.kind in (Kind.NUMERIC, Kind.INTEGER, Kind.BINARY, Kind.DATETIME) and not numeric_now:
            if not (c.kind is Kind.DATETIME and pd.api.types.is_datetime64_any_dtype(s)):
                was = "datetime" if c.kind is Kind.DATETIME else "numeric"
                c = replace(c, kind=Kind.CATEGORICAL if c.pii is None else Kind.STRING,
                            generalized=None if c.role in (Role.DIRECT, Role.ENTITY) else was)
        cols.append(c)
    return TableSchema(tuple(cols))


def make_release(
    dataset: Dataset, frame: pd.DataFrame, method: str, steps: Sequence[dict[str, Any]],
    recipe: Recipe | None = None, **details: Any
) -> Release:
    return Release(
        frame=frame,
        schema=release_schema(dataset.schema, frame),
        method=method,
        steps=list(steps),
        n_entities_in=dataset.n_entities,
        n_rows_in=len(dataset.frame),
        details=dict(details),
        recipe=recipe,
    )


def entity_rows(frame: pd.DataFrame, entity: str | None, columns: Sequence[str]) -> pd.DataFrame:
    """One row per entity (its first), for per-patient measures on longitudinal tables."""
    cols = list(dict.fromkeys(columns))
    if entity is None:
        return frame[cols]
    return frame.drop_duplicates(subset=[entity])[[entity, *[c for c in cols if c != entity]]]


def rule_based_utility(
    dataset: Dataset,
    release: Release,
    hierarchies: Mapping[str, Hierarchy],
    levels: Mapping[str, int],
    quasi: Sequence[str],
    k: int = 1,
) -> dict[str, Any]:
    """Information loss of a fixed generalization (the paper's rule set), per patient."""
    entity = dataset.schema.entity
    hs = {q: hierarchies.get(q) or Hierarchy.flat(q, dataset.frame[q]) for q in quasi}
    lv = {q: int(levels.get(q, 0)) for q in quasi}
    units = entity_rows(dataset.frame, entity, quasi)
    if entity is not None:
        kept = np.isin(units[entity].to_numpy(), dataset.frame.loc[release.frame.index, entity].unique())
    else:
        kept = np.isin(units.index.to_numpy(), release.frame.index.to_numpy())
    return full_domain_utility(units, hs, lv, suppressed=~kept, k=k).to_dict()


class RuleBasedAnonymizer:
    """Applies a fixed chain of steps (the paper's approach): no privacy model is enforced.

    ``identifiers`` (pseudonymize, mask, drop) run first, then ``steps``.

    ``k``, ``l`` and ``t`` are *targets* the release is judged against in reports (the
    paper's Fig. 6 asks "k-anonymity satisfied?"); unlike ``EnforcedAnonymizer`` nothing
    makes the release meet them.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        name: str = "rules",
        identifiers: RuleSet | Sequence[Step] | None = None,
        k: int | None = None,
        l: float | None = None,  # noqa: E741 - the privacy model's name
        t: float | None = None,
        needs: Mapping[str, str] | None = None,
    ) -> None:
        ident = identifiers.steps if isinstance(identifiers, RuleSet) else list(identifiers or [])
        self.rules = RuleSet([*ident, *steps])
        self.name = name
        self.targets = {"k": k, "l": l, "t": t}
        self.needs = dict(needs or {})

    def check_needs(self, dataset: Dataset) -> None:
        """ConfigError listing the columns (and what each must hold) that a rule set written for one table lacks."""
        lacking = {c: what for c, what in self.needs.items() if c not in dataset.frame.columns}
        if lacking:
            listed = "; ".join(f"'{c}' ({what})" for c, what in lacking.items())
            raise ConfigError(
                f"anon={self.name} names its columns: table '{dataset.name}' lacks {listed}. Rename your "
                "columns to these, copy the rule set's YAML with your names, or use anon=optimal / "
                "anon=mondrian, whose defaults follow your schema's roles (docs/your-data.md)"
            )

    def anonymize(self, dataset: Dataset) -> Release:
        self.check_needs(dataset)
        out = self.rules.fit_transform(dataset.frame)
        release = make_release(dataset, out, self.name, self.rules.describe()["steps"],
                               recipe=Recipe([copy.deepcopy(self.rules)]), targets=self.targets)
        quasi = [q for q in dataset.schema.quasi if q in out.columns]
        if quasi:
            hierarchies: dict[str, Hierarchy] = {}
            levels: dict[str, int] = {}
            for step in self.rules.steps:
                if isinstance(step, Generalizer):
                    hierarchies.update(step.hierarchies)
                    levels.update(step.levels)
            release.details["utility"] = rule_based_utility(
                dataset, release, hierarchies, levels, quasi, k=int(self.targets["k"] or 1)
            )
        return release


class NoAnonymization:
    """The identity: releases the data as is (the raw baseline every attack is compared with)."""

    name = "none"

    def anonymize(self, dataset: Dataset) -> Release:
        return make_release(dataset, dataset.frame, self.name, [], recipe=Recipe([]))
