"""A static table joined to a long one (entity, time, variable, value — or wide), windowed into blocs.

Longitudinal exports come as one row per measurement: ``(entity id, time, variable, value)``
(long), or one row per time point with a column per variable (wide). The sequence model needs
one row per (entity, bloc). ``window_long`` builds it, vectorised (no loop over rows or
entities):

1. each long row is matched to its entity of the static table (an id not in the static table,
   an unparseable time or a non-numeric value is an error naming the file, column and row);
2. each entity's *index time* is its first long row (``index: first``), its last
   (``index: last``) or a declared column of the static table (``index: <column>``);
3. rows with ``0 <= t - index < window`` (``first``/column; blocs counted forward from the
   index) or ``0 <= index - t < window`` (``last``; the window ends at the last row) fall in
   bloc ``floor(|t - index| / step)`` (``last``: counted back, so the last row is the last bloc);
4. each variable becomes a numeric column: the mean (or ``agg: last``) of its values in the
   bloc, NaN where none was measured.

Every entity of the static table gets exactly ``window / step`` rows (bloc 0 … n−1), its static
columns repeated, and the bloc number as the table's first ``time`` column. Worked example
(``index: first``, ``window: 8``, ``step: 4``): entity 1 with heart rate 80 at t=0, 90 at t=2,
100 at t=5 and 70 at t=9 gets bloc 0: hr=85 (mean of 80, 90), bloc 1: hr=100; t=9 lies outside.
Times that are dates are counted in hours (``window: 24, step: 4`` = the first day in 4-hour
blocs); numeric times in their own units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from privhealth.data.schema import Column, Dataset, Kind, Role, TableSchema
from privhealth.errors import ConfigError, SchemaError

INDEX_MODES = ("first", "last")
AGGREGATES = ("mean", "last")


@dataclass(frozen=True)
class LongSpec:
    """``data.long``: where the long table is and how to window it (see the module doc).

    Bad settings raise ``ConfigError`` (checked before any run: ``settings.check_settings``); bad
    data in the files ``SchemaError``, naming the file, column and row.
    """

    path: str
    time: str
    window: float
    step: float
    id: str | None = None  # None: the static table's entity column name
    variable: str | None = None  # long format: the column naming the variable …
    value: str | None = None  # … and the column holding its value
    columns: tuple[str, ...] | None = None  # wide format: one column per variable
    index: str = "first"  # first | last | a column of the static table
    agg: str = "mean"
    bloc_column: str = "bloc"
    variables: tuple[str, ...] | None = None  # keep only these variables (long format)
    sep: str | None = None
    encoding: str = "utf-8"
    extra: str = "drop"  # other columns of the long table: drop | error
    time_kind: str = "auto"  # auto (numbers when most times parse as numbers, else dates) | numeric | datetime
    roles: Mapping[str, str] = field(default_factory=dict)  # variable → role (default insensitive)

    @classmethod
    def of(cls, cfg: Mapping[str, Any] | LongSpec) -> LongSpec:
        if isinstance(cfg, LongSpec):
            return cfg
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"data.long: unknown key(s) {unknown} (known: {sorted(known)})")
        for key in ("path", "time", "window", "step"):
            if cfg.get(key) is None:
                raise ConfigError(f"data.long.{key} is required")
        args = dict(cfg)
        for key in ("columns", "variables"):
            if args.get(key) is not None:
                args[key] = tuple(str(c) for c in args[key])
        spec = cls(**args)
        spec.check()
        return spec

    def check(self) -> None:
        for key in ("window", "step"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise ConfigError(f"data.long.{key} must be a positive number, got {v!r}")
        n = self.window / self.step
        if abs(n - round(n)) > 1e-9:
            raise ConfigError(f"data.long.window ({self.window}) must be a whole number of steps ({self.step})")
        if (self.columns is None) == (self.variable is None or self.value is None):
            raise ConfigError("data.long: give either 'variable' and 'value' (long format) or 'columns' (wide format)")
        if self.columns is not None and self.variables is not None:
            raise ConfigError("data.long.variables selects variables of the long format; with 'columns' list them there")
        if self.agg not in AGGREGATES:
            raise ConfigError(f"data.long.agg must be one of {AGGREGATES}, got {self.agg!r}")
        if self.time_kind not in ("auto", "numeric", "datetime"):
            raise ConfigError(f"data.long.time_kind must be auto, numeric or datetime, got {self.time_kind!r}")
        if self.extra not in ("drop", "error"):
            raise ConfigError(f"data.long.extra must be drop or error, got {self.extra!r}")

    @property
    def n_blocs(self) -> int:
        return round(self.window / self.step)


def read_long(spec: LongSpec, id_kind: Kind, read: Any) -> pd.DataFrame:
    """The long table as (id, t, variable, value) rows, validated; ``t`` in hours for dates.

    ``read(path, sep, encoding, expected_columns)`` reads the raw file (size and cell limits apply).
    """
    idc = spec.id
    assert idc is not None
    value_cols = list(spec.columns) if spec.columns is not None else [str(spec.value)]
    names = [idc, spec.time] + ([str(spec.variable)] if spec.columns is None else []) + value_cols
    raw = read(spec.path, spec.sep, spec.encoding, names)
    src = str(spec.path)
    missing = [c for c in names if c not in raw.columns]
    if missing:
        raise SchemaError(f"{src}: missing column(s) {', '.join(repr(m) for m in missing)} named in data.long")
    extras = [c for c in raw.columns if c not in names]
    if extras and spec.extra == "error":
        raise SchemaError(f"{src}: unexpected column(s) {extras[:10]} (data.long.extra=error)")
    time_kind = Kind(spec.time_kind) if spec.time_kind != "auto" else (
        Kind.NUMERIC if _mostly_numeric(raw[spec.time]) else Kind.DATETIME)
    cols = [Column(idc, Role.ENTITY, id_kind, nullable=False), Column(spec.time, Role.TIME, time_kind, nullable=False)]
    if spec.columns is None:
        cols += [Column(str(spec.variable), Role.INSENSITIVE, Kind.STRING, nullable=False),
                 Column(str(spec.value), Role.INSENSITIVE, Kind.NUMERIC)]
    else:
        cols += [Column(c, Role.INSENSITIVE, Kind.NUMERIC) for c in value_cols]
    frame = TableSchema(tuple(cols)).validate(raw[names], source=src)
    t = frame[spec.time]
    hours = _hours(t) if time_kind is Kind.DATETIME else t.to_numpy(np.float64)
    if spec.columns is None:
        out = pd.DataFrame({"id": frame[idc].to_numpy(), "t": hours, "row": np.arange(1, len(frame) + 1),
                            "variable": frame[str(spec.variable)].to_numpy(), "value": frame[str(spec.value)].to_numpy()})
    else:  # wide: one (variable, value) pair per cell
        n = len(frame)
        out = pd.DataFrame({
            "id": np.tile(frame[idc].to_numpy(), len(value_cols)), "t": np.tile(hours, len(value_cols)),
            "row": np.tile(np.arange(1, n + 1), len(value_cols)),
            "variable": np.repeat(value_cols, n),
            "value": np.concatenate([frame[c].to_numpy(np.float64, na_value=np.nan) for c in value_cols]),
        })
    out.attrs["time_kind"] = time_kind
    return out.loc[out["value"].notna()].reset_index(drop=True)


def _hours(s: pd.Series) -> np.ndarray:
    """Dates as hours since 1970 (NaN for missing), whatever the datetime resolution or time zone."""
    secs = (s - pd.Timestamp(0, tz=getattr(s.dt, "tz", None))).dt.total_seconds()
    return secs.to_numpy(np.float64, na_value=np.nan) / 3600.0


def _mostly_numeric(s: pd.Series) -> bool:
    """Whether at least half the present times read as numbers (the others are then reported as bad)."""
    present = s.dropna()
    return bool(len(present)) and float(pd.to_numeric(present, errors="coerce").notna().mean()) >= 0.5


def window_long(static: Dataset, spec: LongSpec | Mapping[str, Any], read: Any) -> Dataset:
    """``static`` (one row per entity) joined to the long table of ``spec``, one row per (entity, bloc)."""
    spec = LongSpec.of(spec)
    schema, frame = static.schema, static.frame
    entity = schema.entity
    if entity is None:
        raise SchemaError(f"{static.metadata.get('source', static.name)}: data.long needs an entity column in the static schema")
    spec = replace(spec, id=spec.id or entity)
    src = str(static.metadata.get("source", static.name))
    ids = frame[entity]
    dup = ids.duplicated()
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0]) + 1
        raise SchemaError(f"{src}: entity column '{entity}' repeats an id (data row {first}); the static table "
                          "of data.long needs one row per entity")
    long = read_long(spec, schema[entity].kind, read)
    code = pd.Index(ids.to_numpy()).get_indexer(long["id"].to_numpy())
    unknown = code < 0
    if unknown.any():
        rows = long["row"].to_numpy()[unknown]
        raise SchemaError(f"{spec.path}: column '{spec.id}' has {int(unknown.sum())} row(s) whose entity id is not in "
                          f"the static table {src} (first at data row {int(rows.min())})")
    variables = _variables(spec, long)
    clash = sorted(set(variables) & set(schema.column_names) | ({spec.bloc_column} & set(schema.column_names)))
    if clash:
        raise SchemaError(f"{spec.path}: variable/bloc column name(s) {clash} are already columns of the static "
                          "table; rename them (data.long.bloc_column for the bloc)")
    long = long.loc[long["variable"].isin(variables).to_numpy()]
    code = pd.Index(ids.to_numpy()).get_indexer(long["id"].to_numpy())
    t = long["t"].to_numpy(np.float64)
    index = _index_times(spec, static, code, t, long.attrs.get("time_kind", Kind.NUMERIC))
    n_blocs = spec.n_blocs
    ahead = t - index[code] if spec.index != "last" else index[code] - t
    inside = (ahead >= 0) & (ahead < spec.window)
    bloc = np.floor(ahead[inside] / spec.step).astype(np.int64)
    if spec.index == "last":
        bloc = n_blocs - 1 - bloc
    cells = pd.DataFrame({"code": code[inside], "bloc": bloc, "variable": long["variable"].to_numpy()[inside],
                          "t": t[inside], "value": long["value"].to_numpy(np.float64)[inside]})
    grouped = cells.sort_values(["code", "bloc", "variable", "t"], kind="stable").groupby(
        ["code", "bloc", "variable"], sort=True)["value"]
    per_cell = grouped.mean() if spec.agg == "mean" else grouped.last()
    wide = per_cell.unstack("variable").reindex(columns=variables)
    grid = pd.MultiIndex.from_product([np.arange(len(frame)), np.arange(n_blocs)], names=["code", "bloc"])
    wide = wide.reindex(grid)
    out = frame.iloc[np.repeat(np.arange(len(frame)), n_blocs)].reset_index(drop=True)
    out[spec.bloc_column] = np.tile(np.arange(n_blocs, dtype=np.int64), len(frame))
    for v in variables:
        out[v] = wide[v].to_numpy(np.float64)
    unknown_roles = sorted(set(spec.roles) - set(variables))
    if unknown_roles:
        raise SchemaError(f"data.long.roles names {unknown_roles}, which are not variables of {spec.path}")
    # entity, then the bloc (the first time column: the sequence's order), the static columns, the variables
    cols = [schema[entity], Column(spec.bloc_column, Role.TIME, Kind.INTEGER, nullable=False)]
    cols += [c for c in schema.columns if c.name != entity]
    cols += [Column(v, spec.roles.get(v, "insensitive"), Kind.NUMERIC) for v in variables]
    new_schema = TableSchema(tuple(cols))
    out = out[new_schema.column_names]
    meta = {k: v for k, v in static.metadata.items() if k != "sha256"}  # the frame's hash fingerprints it
    meta.update({"long_source": str(spec.path), "long_rows": int(len(long)), "long_rows_in_window": int(inside.sum()),
                 "blocs": n_blocs})
    return Dataset(frame=out, schema=new_schema, name=static.name, hierarchies=dict(static.hierarchies), metadata=meta)


def _variables(spec: LongSpec, long: pd.DataFrame) -> list[str]:
    """The variables to pivot, in a stable order (the declared list, else sorted)."""
    present = sorted(pd.unique(long["variable"]).tolist())
    if spec.columns is not None:
        return list(spec.columns)
    if spec.variables is None:
        return present
    absent = [v for v in spec.variables if v not in set(present)]
    if absent:
        raise SchemaError(f"{spec.path}: data.long.variables names {absent}, not found in column '{spec.variable}'")
    return list(spec.variables)


def _index_times(spec: LongSpec, static: Dataset, code: np.ndarray, t: np.ndarray, time_kind: Kind) -> np.ndarray:
    """Each static entity's index time (NaN where it has none: no row, no window)."""
    n = len(static.frame)
    if spec.index in INDEX_MODES:
        out = np.full(n, np.nan)
        if len(t):
            s = pd.Series(t).groupby(code)
            agg = s.min() if spec.index == "first" else s.max()
            out[agg.index.to_numpy()] = agg.to_numpy()
        return out
    col = spec.index
    if col not in static.schema:
        raise ConfigError(f"data.long.index must be first, last or a column of the static table; "
                          f"'{col}' is none of them")
    s = static.frame[col]
    kind = static.schema[col].kind
    if time_kind is Kind.DATETIME:
        if kind is not Kind.DATETIME:
            raise SchemaError(f"data.long.index column '{col}' is {kind}, but the long table's times are dates: "
                              "declare it kind: datetime")
        return _hours(s)
    if kind not in (Kind.NUMERIC, Kind.INTEGER):
        raise SchemaError(f"data.long.index column '{col}' is {kind}, but the long table's times are numbers")
    return s.to_numpy(np.float64, na_value=np.nan)


__all__ = ["LongSpec", "read_long", "window_long"]
