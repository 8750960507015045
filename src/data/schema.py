"""Column roles and table schemas: the contract every loader, transform and model relies on.

A schema says, for each column, what it is *for* (its role in anonymization: direct
identifier, quasi-identifier, sensitive, insensitive, target, entity id, time) and what
it *is* (its kind: numeric, integer, binary, categorical, string, datetime). Loaders
validate every table against one, so a wrong file stops with an error naming the column
instead of flowing on as a silently wrong release.

Error messages name columns, row numbers and problems, never cell values: a cell may be
a raw identifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import pandas as pd

from privhealth.errors import SchemaError


class Role(StrEnum):
    """What a column is for, in the vocabulary of statistical disclosure control."""

    DIRECT = "direct"  # identifies a person on its own: name, SSN, MRN, phone, e-mail
    QUASI = "quasi"  # identifies in combination: age, sex, ZIP, dates
    SENSITIVE = "sensitive"  # must not be learned about a person: diagnosis, outcome
    INSENSITIVE = "insensitive"  # released as is: vitals, labs
    TARGET = "target"  # label of the prediction task
    ENTITY = "entity"  # the person (or stay) a row belongs to; many rows per entity allowed
    TIME = "time"  # ordering of an entity's rows (bloc, charttime)


class Kind(StrEnum):
    """What a column holds; decides how it is parsed and validated."""

    NUMERIC = "numeric"
    INTEGER = "integer"
    BINARY = "binary"
    CATEGORICAL = "categorical"
    STRING = "string"
    DATETIME = "datetime"


# PII categories used by masking, the leakage scan and the HIPAA Safe Harbor check.
PII_CATEGORIES = (
    "name",
    "ssn",
    "mrn",
    "address",
    "zip",
    "phone",
    "email",
    "date",
    "account",
    "id",
)

ExtraPolicy = Literal["error", "drop", "keep"]


@dataclass(frozen=True)
class Column:
    """One column of a schema: its name, role, kind and (for identifiers) PII category."""

    name: str
    role: Role
    kind: Kind
    pii: str | None = None
    nullable: bool = True
    description: str = ""
    generalized: str | None = None  # in a release: 'numeric'/'datetime' values now held as labels

    def __post_init__(self) -> None:
        if self.generalized not in (None, "numeric", "datetime"):
            raise SchemaError(
                f"column '{self.name}': 'generalized' must be numeric or datetime, got '{self.generalized}'"
            )
        if not self.name:
            raise SchemaError("a schema column has an empty name")
        try:
            object.__setattr__(self, "role", Role(self.role))
        except ValueError:
            raise SchemaError(
                f"column '{self.name}': unknown role '{self.role}' "
                f"(expected one of {', '.join(r.value for r in Role)})"
            ) from None
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise SchemaError(
                f"column '{self.name}': unknown kind '{self.kind}' "
                f"(expected one of {', '.join(k.value for k in Kind)})"
            ) from None
        if self.pii is not None and self.pii not in PII_CATEGORIES:
            raise SchemaError(
                f"column '{self.name}': unknown PII category '{self.pii}' "
                f"(expected one of {', '.join(PII_CATEGORIES)})"
            )


@dataclass(frozen=True)
class TableSchema:
    """An ordered set of columns with roles; validates and coerces DataFrames."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError(f"schema declares column(s) more than once: {', '.join(dupes)}")
        for role in (Role.ENTITY, Role.TARGET):
            cols = self.names(role)
            if len(cols) > 1:
                raise SchemaError(
                    f"schema declares {len(cols)} columns with role '{role}' "
                    f"({', '.join(cols)}); at most one is allowed"
                )

    # ------------------------------------------------------------------ access
    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(f"unknown column '{name}': not in the schema")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def names(self, *roles: Role | str) -> list[str]:
        """Column names having any of the given roles, in schema order."""
        wanted = {Role(r) for r in roles}
        return [c.name for c in self.columns if c.role in wanted]

    def _single(self, role: Role) -> str | None:
        cols = self.names(role)
        return cols[0] if cols else None

    @property
    def entity(self) -> str | None:
        return self._single(Role.ENTITY)

    @property
    def target(self) -> str | None:
        return self._single(Role.TARGET)

    @property
    def time(self) -> list[str]:
        return self.names(Role.TIME)

    @property
    def direct(self) -> list[str]:
        return self.names(Role.DIRECT)

    @property
    def quasi(self) -> list[str]:
        return self.names(Role.QUASI)

    @property
    def sensitive(self) -> list[str]:
        return self.names(Role.SENSITIVE)

    @property
    def insensitive(self) -> list[str]:
        return self.names(Role.INSENSITIVE)

    # ------------------------------------------------------------------ derive
    def with_roles(self, roles: Mapping[str, Role | str]) -> TableSchema:
        """A copy with some columns' roles changed (e.g. declare another sensitive attribute)."""
        for name in roles:
            self[name]  # raises on unknown names
        return TableSchema(
            tuple(replace(c, role=Role(roles[c.name])) if c.name in roles else c for c in self)
        )

    def subset(self, names: Iterable[str]) -> TableSchema:
        keep = list(names)
        for name in keep:
            self[name]
        return TableSchema(tuple(c for c in self.columns if c.name in set(keep)))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for c in self.columns:
            d: dict[str, Any] = {"role": c.role.value, "kind": c.kind.value}
            if c.pii:
                d["pii"] = c.pii
            if not c.nullable:
                d["nullable"] = False
            if c.generalized:
                d["generalized"] = c.generalized
            out[c.name] = d
        return out

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Mapping[str, Any]]) -> TableSchema:
        """Build from ``{column: {role:, kind:, pii:, nullable:}}`` as written in YAML configs."""
        if not mapping:
            raise SchemaError("the schema declares no columns")
        cols = []
        for name, spec in mapping.items():
            if not isinstance(spec, Mapping):
                raise SchemaError(
                    f"column '{name}': expected a mapping with 'role' and 'kind', got {type(spec).__name__}"
                )
            unknown = set(spec) - {"role", "kind", "pii", "nullable", "description", "generalized"}
            if unknown:
                raise SchemaError(f"column '{name}': unknown schema key(s) {sorted(unknown)}")
            for key in ("role", "kind"):
                if key not in spec:
                    raise SchemaError(f"column '{name}': schema entry lacks '{key}'")
            cols.append(
                Column(
                    name=str(name),
                    role=spec["role"],
                    kind=spec["kind"],
                    pii=spec.get("pii"),
                    nullable=bool(spec.get("nullable", True)),
                    description=str(spec.get("description", "")),
                    generalized=spec.get("generalized"),
                )
            )
        return cls(tuple(cols))

    # ------------------------------------------------------------------ validate
    def validate(
        self, df: pd.DataFrame, source: str = "table", extra: ExtraPolicy = "error"
    ) -> pd.DataFrame:
        """Check ``df`` against the schema and return a copy with coerced dtypes.

        Raises SchemaError naming the source, the column and the problem: duplicate or
        missing columns, unexpected extra columns (unless ``extra`` is 'drop' or 'keep'),
        an empty table, values of the wrong type, infinities, or nulls where none are allowed.
        """
        cols = [str(c) for c in df.columns]
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise SchemaError(f"{source}: duplicate column name(s): {', '.join(dupes)}")
        missing = [c.name for c in self.columns if c.name not in cols]
        if missing:
            raise SchemaError(
                f"{source}: missing column(s) {', '.join(repr(m) for m in missing)} "
                f"required by the schema"
            )
        extras = [c for c in cols if c not in self]
        if extras and extra == "error":
            shown = ", ".join(repr(e) for e in extras[:10]) + (" …" if len(extras) > 10 else "")
            raise SchemaError(
                f"{source}: unexpected column(s) {shown} not in the schema "
                f"(declare them, or load with extra='drop')"
            )
        if len(df) == 0:
            raise SchemaError(f"{source}: the table has a header but no data rows")
        out = {}
        for c in self.columns:
            col = df[c.name]
            if c.role == Role.QUASI and (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
                col = nfkc(col)
            out[c.name] = _coerce(col, c, source)
        if extra == "keep":
            for e in extras:
                out[e] = df[e]
        result = pd.DataFrame(out, index=df.index)
        return result


@dataclass
class Dataset:
    """A validated table with its schema, optional generalization hierarchies and provenance."""

    frame: pd.DataFrame
    schema: TableSchema
    name: str
    hierarchies: dict[str, pd.DataFrame] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_entities(self) -> int:
        ent = self.schema.entity
        return int(self.frame[ent].nunique()) if ent else len(self.frame)


# ---------------------------------------------------------------------- coercion
def _row_numbers(mask: pd.Series, limit: int = 5) -> str:
    """Positions (1-based data rows) where ``mask`` holds, for messages that must not echo values."""
    pos = np.flatnonzero(mask.to_numpy()) + 1
    shown = ", ".join(str(p) for p in pos[:limit])
    return shown + (f" and {len(pos) - limit} more" if len(pos) > limit else "")


def nfkc(s: pd.Series) -> pd.Series:
    """Strings in Unicode NFKC form (full-width '１２３' → '123'), so one value is one equivalence class."""
    normed = s.str.normalize("NFKC")
    return normed.where(normed.notna(), s)


def _coerce(s: pd.Series, col: Column, source: str) -> pd.Series:
    where = f"{source}: column '{col.name}'"
    null_in = s.isna()
    if col.kind in (Kind.NUMERIC, Kind.INTEGER, Kind.BINARY):
        if pd.api.types.is_bool_dtype(s):
            s = s.astype("int8")
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & ~null_in
        if bad.any():
            raise SchemaError(
                f"{where} ({col.kind}) has {int(bad.sum())} non-numeric value(s) at data row(s) "
                f"{_row_numbers(bad)}"
            )
        num = num.astype("float64")
        inf = np.isinf(num.to_numpy())
        if inf.any():
            raise SchemaError(
                f"{where} has {int(inf.sum())} infinite value(s) at data row(s) "
                f"{_row_numbers(pd.Series(inf))}"
            )
        if col.kind is Kind.BINARY:
            ok = num.isna() | num.isin([0.0, 1.0])
            if not ok.all():
                raise SchemaError(
                    f"{where} is binary but has value(s) other than 0/1 at data row(s) "
                    f"{_row_numbers(~ok)}"
                )
        if col.kind in (Kind.INTEGER, Kind.BINARY):
            vals = num.to_numpy()
            finite = ~np.isnan(vals)
            if (np.abs(vals[finite]) > 2**53).any():
                raise SchemaError(f"{where} has integer value(s) too large to represent exactly")
            frac = np.zeros(len(vals), dtype=bool)
            frac[finite] = vals[finite] != np.round(vals[finite])
            if frac.any():
                raise SchemaError(
                    f"{where} is {col.kind} but has non-integral value(s) at data row(s) "
                    f"{_row_numbers(pd.Series(frac))}"
                )
            out = num.astype("Int64") if num.isna().any() else num.astype("int64")
        else:
            out = num
    elif col.kind is Kind.DATETIME:
        if pd.api.types.is_datetime64_any_dtype(s):
            out = s
        else:
            out = pd.to_datetime(s, errors="coerce")
            bad = out.isna() & ~null_in
            if bad.any():
                raise SchemaError(
                    f"{where} (datetime) has {int(bad.sum())} unparseable or out-of-range "
                    f"date(s) at data row(s) {_row_numbers(bad)}"
                )
    else:  # categorical / string: keep text, nulls stay null
        out = s.astype("str")
        if col.kind is Kind.CATEGORICAL:
            out = out.astype("category")
    if not col.nullable:
        nulls = pd.Series(out).isna()
        if nulls.any():
            raise SchemaError(
                f"{where} must not be empty but has {int(nulls.sum())} missing value(s) at "
                f"data row(s) {_row_numbers(nulls)}"
            )
    return out
