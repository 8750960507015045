"""The prediction task and its features: which rows, which label, which inputs.

Task: predict a patient's binary target (``mortality_90d``) from the first
``window_blocs`` blocs (4 h each; default 6 = 24 h) of the stay. Tabular models get one
row per patient (last/min/max/mean of each time-varying numeric column over the window,
the last value of each static numeric column, the number of observed blocs, one-hot
categorical columns); sequence models get the bloc sequence padded to ``window_blocs``
with its length. Imputation (median) and Min-Max scaling (the paper's Eq. 1) are fitted
on the training split only.

Features come from the schema's roles only: quasi-identifier, sensitive and insensitive
columns are features; direct identifiers, the entity, time columns and the target never
are, nor are the columns in ``TaskConfig.exclude`` (outcomes recorded after the window).
The same code takes raw and anonymized frames: string/categorical columns of the schema
(zip, …) are one-hot encoded; a numeric or date column stays numeric while every value
parses as a number. A generalized one (an age "60-69", a month "2019-03") is read as set by
``task.generalized`` (``privhealth.models.readers``): its midpoint (default), its two bounds,
or, the paper's reading, one-hot labels. Dates are decimal years. Decided on the training frame.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from privhealth.data.schema import Kind, Role, TableSchema
from privhealth.errors import ConfigError, SchemaError
from privhealth.models import readers
from privhealth.models.readers import numeric_like, to_float
from privhealth.models.scaling import MinMaxScaler, impute, nanmedian

InputKind = Literal["tabular", "sequence"]

# Outcomes that the AI Clinician table records beside the target: known only after the
# window, so using them as features would leak the label.
OUTCOME_COLUMNS: tuple[str, ...] = (
    "died_in_hosp",
    "died_within_48h_of_out_time",
    "delay_end_of_record_and_discharge_or_death",
    "mortality_90d",
)
FEATURE_ROLES = (Role.QUASI, Role.SENSITIVE, Role.INSENSITIVE)
OTHER = "__other__"
_SUMMARIES = ("last", "min", "max", "mean")


@dataclass(frozen=True)
class TaskConfig:
    """Settings of the prediction task (window, time column, category cap, scaling clip)."""

    window_blocs: int = 6  # blocs from the first observed one; 6 × 4 h = the first 24 h
    bloc_hours: float = 4.0  # length of one bloc in hours (labels and docs only)
    time_column: str | None = None  # None: the schema's first time column (bloc)
    bloc_length: float | None = None  # time-column units per bloc; None: 1, or 4 h for datetimes
    max_categories: int = 20  # one-hot columns per categorical column, the rest → __other__
    exclude: tuple[str, ...] = OUTCOME_COLUMNS  # never features, whatever their role
    static_columns: tuple[str, ...] | None = None  # None: numeric columns constant per patient
    clip: tuple[float, float] | None = (0.0, 1.0)  # scaled values outside the training range
    generalized: str = "midpoint"  # generalized numbers/dates: midpoint | bounds | onehot (the paper's)

    def __post_init__(self) -> None:
        if self.generalized not in readers.MODES:
            raise ConfigError(
                f"task.generalized must be one of {', '.join(readers.MODES)} (got {self.generalized!r})"
            )
        w = self.window_blocs
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 1:
            raise ConfigError(f"task.window_blocs must be a whole number of blocs >= 1 (got {w!r})")
        object.__setattr__(self, "window_blocs", int(w))
        _positive("task.bloc_hours", self.bloc_hours)
        if self.bloc_length is not None:
            _positive("task.bloc_length", self.bloc_length)
        m = self.max_categories
        if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
            raise ConfigError(f"task.max_categories must be an integer >= 1 (got {m!r})")
        object.__setattr__(self, "exclude", tuple(str(c) for c in self.exclude))
        if self.static_columns is not None:
            object.__setattr__(self, "static_columns", tuple(str(c) for c in self.static_columns))
        if self.clip is not None:
            lo, hi = (float(v) for v in self.clip)
            if not lo < hi:
                raise ConfigError(
                    f"task.clip must be (low, high) with low < high (got {self.clip!r})"
                )
            object.__setattr__(self, "clip", (lo, hi))

    @property
    def window_hours(self) -> float:
        return self.window_blocs * self.bloc_hours

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | TaskConfig | None) -> TaskConfig:
        """Build from a config mapping (e.g. ``cfg.task``); unknown keys raise ConfigError."""
        if cfg is None:
            return cls()
        if isinstance(cfg, TaskConfig):
            return cfg
        known = [f.name for f in fields(cls)]
        unknown = [k for k in cfg if k not in known and not str(k).startswith("_")]
        if unknown:
            raise ConfigError(unknown_message("task", unknown, known))
        return cls(**{k: v for k, v in cfg.items() if k in known})


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be a number > 0 (got {value!r})")


def unknown_message(owner: str, unknown: list[str], known: list[str]) -> str:
    """'owner: unknown parameter(s) ... (did you mean ...?; accepted: ...)' for ConfigError."""
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), known, n=1)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return f"{owner}: unknown parameter(s) {', '.join(hints)}; accepted: {', '.join(sorted(known))}"


@dataclass(frozen=True, eq=False)
class ModelInput:
    """Patient-level model input: ``X`` (n, p) tabular or (n, T, f) sequence, labels, lengths."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    kind: InputKind
    lengths: np.ndarray | None = None  # observed blocs per patient (sequence input)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[-1])

    def take(self, n: int) -> ModelInput:
        """The first ``n`` patients, tiled when ``n`` exceeds the size (inference timing)."""
        if len(self) == 0:
            raise ValueError("cannot take patients from an empty input")
        idx = np.arange(n) % len(self)
        lengths = None if self.lengths is None else self.lengths[idx]
        return ModelInput(self.X[idx], self.y[idx], self.feature_names, self.kind, lengths)


def _patient_codes(ids: pd.Series, index: pd.Index) -> np.ndarray:
    """Patient number per row, patients ordered by their smallest index label.

    Neither the row order nor the identifier values decide it: a shuffled frame gives the same
    patients in the same order, and so does the same release under another pseudonym key (a
    release keeps its source's index). Sorting by identifier would let the key reorder the
    training rows and change every model trained on them.
    """
    try:
        by_label = np.argsort(index.to_numpy(), kind="stable")
    except TypeError:  # labels of mixed types: fall back to row order
        by_label = np.arange(len(ids))
    codes = np.empty(len(ids), dtype=np.int64)
    codes[by_label] = pd.factorize(ids.to_numpy()[by_label], sort=False)[0]
    return codes


@dataclass(eq=False)
class _Window:
    """Rows of the first ``window_blocs`` blocs, grouped by patient then time, with labels."""

    rows: pd.DataFrame  # window rows, positional index
    codes: np.ndarray  # patient number (0..n-1) of each window row
    step: np.ndarray  # position of the row in its patient's sequence (0..window_blocs-1)
    y: np.ndarray  # label per patient (int8)
    n_patients: int
    n_dropped: int  # patients without a label (or without a timed row), left out


@dataclass
class FeaturePipeline:
    """Builds tabular or sequence inputs from a bloc-level frame; ``fit`` on training rows only."""

    schema: TableSchema
    task: TaskConfig = field(default_factory=TaskConfig)
    # fitted state
    numeric_tv: list[str] = field(default_factory=list, init=False)
    numeric_static: list[str] = field(default_factory=list, init=False)
    categories: dict[str, list[str]] = field(default_factory=dict, init=False)
    readers: dict[str, tuple[str, str, str]] = field(default_factory=dict, init=False)  # feature → (column, kind, part)
    tabular_names: tuple[str, ...] = field(default=(), init=False)
    sequence_names: tuple[str, ...] = field(default=(), init=False)
    fitted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.task = TaskConfig.from_mapping(self.task)
        if self.schema.entity is None:
            raise SchemaError(
                "the schema declares no entity column: the task needs one per patient"
            )
        if self.schema.target is None:
            raise SchemaError("the schema declares no target column: the task needs a label")
        self.entity: str = self.schema.entity
        self.target: str = self.schema.target
        if self.task.time_column is not None:
            if self.task.time_column not in self.schema:
                raise ConfigError(
                    f"task.time_column '{self.task.time_column}' is not a column of the schema"
                )
            self.time_column: str | None = self.task.time_column
        else:
            self.time_column = self.schema.time[0] if self.schema.time else None

    # ------------------------------------------------------------------ public
    def fit(self, frame: pd.DataFrame) -> FeaturePipeline:
        """Decide column treatments and fit imputers and scalers on ``frame`` (training rows)."""
        win = self._window(frame)
        if win.n_patients == 0:
            raise SchemaError("the training split has no labelled patient")
        candidates = [
            c
            for c in self.schema.names(*FEATURE_ROLES)
            if c in frame.columns and c not in self.task.exclude
        ]
        numeric: list[str] = []
        categorical: list[str] = []
        self.readers = {}
        for c in candidates:
            col = self.schema[c]
            origin = readers.origin(col)
            textual = col.kind in (Kind.STRING, Kind.CATEGORICAL) and not col.generalized  # zip "02139"
            values = win.rows[c]
            plain = not textual and numeric_like(values)
            year_text = origin == "datetime" and not pd.api.types.is_datetime64_any_dtype(values)  # "1950"
            labels = origin is not None and (not plain or year_text) and readers.readable(values, origin)
            if self.task.generalized != "onehot" and labels:
                for suffix, part in readers.PARTS[self.task.generalized]:
                    self.readers[c + suffix] = (c, origin, part)
                    numeric.append(c + suffix)
            else:
                (numeric if plain else categorical).append(c)
        num = self._numeric_block(win, numeric)
        g = num.groupby(win.codes, sort=True)
        lo, hi = g.min(), g.max()
        if self.task.static_columns is not None:
            unknown = [c for c in self.task.static_columns if c not in numeric]
            if unknown:
                raise ConfigError(
                    f"task.static_columns names {unknown}, not numeric feature columns of the frame"
                )
            static = set(self.task.static_columns)
        else:
            static = {c for c in numeric if bool(((hi[c] == lo[c]) | lo[c].isna()).all())}
        self.numeric_static = [c for c in numeric if c in static]
        self.numeric_tv = [c for c in numeric if c not in static]
        self.categories = {}
        for c in categorical:
            last = _last_text(win.rows[c], win.codes, win.n_patients)
            counts = last.value_counts(dropna=True)
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
            self.categories[c] = [str(v) for v, _ in ordered[: self.task.max_categories]]

        tab, names = self._tabular_raw(win)
        self.tabular_names = tuple(names)
        self._tab_median = nanmedian(tab, names)
        self._tab_scaler = MinMaxScaler(self.task.clip).fit(impute(tab, self._tab_median))

        seq = self._sequence_rows(win)
        self._seq_median = nanmedian(seq, self.numeric_tv)
        self._seq_scaler = MinMaxScaler(self.task.clip).fit(impute(seq, self._seq_median))
        static_names = [n for n in names if self._is_static_feature(n)]
        self.sequence_names = tuple(self.numeric_tv) + tuple(static_names)
        self.fitted = True
        return self

    def transform(self, frame: pd.DataFrame, kind: InputKind) -> ModelInput:
        """Patient-level input of ``kind`` ('tabular' or 'sequence') for the frame's patients."""
        if not self.fitted:
            raise RuntimeError("FeaturePipeline.transform called before fit")
        if kind not in ("tabular", "sequence"):
            raise ConfigError(f"input kind must be 'tabular' or 'sequence' (got {kind!r})")
        missing = [c for c in self._used_columns() if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"frame lacks feature column(s) {missing} that the pipeline was fitted with"
            )
        win = self._window(frame)
        tab_raw, names = self._tabular_raw(win)
        tab = self._tab_scaler.transform(impute(tab_raw, self._tab_median))
        if kind == "tabular":
            return ModelInput(tab.astype(np.float32), win.y, tuple(names), "tabular")
        seq = self._seq_scaler.transform(impute(self._sequence_rows(win), self._seq_median))
        static_mask = np.array([self._is_static_feature(n) for n in names], dtype=bool)
        static = tab[:, static_mask]
        T, k = self.task.window_blocs, len(self.numeric_tv)
        X = np.zeros((win.n_patients, T, k + static.shape[1]), dtype=np.float32)
        X[win.codes, win.step, :k] = seq
        X[:, :, k:] = static[:, None, :]
        lengths = np.bincount(win.codes, minlength=win.n_patients).astype(np.int64)
        return ModelInput(X, win.y, self.sequence_names, "sequence", lengths)

    def fit_transform(self, frame: pd.DataFrame, kind: InputKind) -> ModelInput:
        return self.fit(frame).transform(frame, kind)

    @property
    def scaler(self) -> MinMaxScaler:
        """The fitted tabular scaler (its ``min_``/``max_`` come from training rows only)."""
        return self._tab_scaler

    # ------------------------------------------------------------------ window and labels
    def _window(self, frame: pd.DataFrame) -> _Window:
        for col, what in ((self.entity, "entity"), (self.target, "target")):
            if col not in frame.columns:
                raise SchemaError(f"frame lacks the {what} column '{col}' of the task")
        if self.time_column is not None and self.time_column not in frame.columns:
            raise SchemaError(f"frame lacks the time column '{self.time_column}' of the task")
        ids = frame[self.entity]
        if ids.isna().any():
            raise SchemaError(
                f"entity column '{self.entity}' has {int(ids.isna().sum())} missing value(s)"
            )
        codes = _patient_codes(ids, frame.index)
        n_all = int(codes.max()) + 1 if len(codes) else 0
        t, unit = self._time_values(frame)
        order = np.lexsort((t, codes))
        cs, ts = codes[order], t[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.array([], int)
        rank = np.arange(len(cs)) - starts[cs] if len(cs) else np.array([], int)
        first = ts[starts][cs] if len(cs) else ts
        with np.errstate(invalid="ignore"):
            in_win = ((ts - first) < self.task.window_blocs * unit) & (
                rank < self.task.window_blocs
            )

        y_all = _patient_labels(frame[self.target], codes, n_all, self.target)
        has_rows = np.bincount(cs[in_win], minlength=n_all) > 0
        keep = ~np.isnan(y_all) & has_rows
        renum = np.cumsum(keep) - 1
        sel = in_win & keep[cs]
        rows = frame.iloc[order[sel]].reset_index(drop=True)
        return _Window(
            rows=rows,
            codes=renum[cs[sel]],
            step=rank[sel],
            y=y_all[keep].astype(np.int8),
            n_patients=int(keep.sum()),
            n_dropped=int(n_all - keep.sum()),
        )

    def _time_values(self, frame: pd.DataFrame) -> tuple[np.ndarray, float]:
        """Row times as floats (NaN where unknown) and the length of one bloc in those units."""
        if self.time_column is None:
            return np.arange(len(frame), dtype=np.float64), 1.0
        s = frame[self.time_column]
        if pd.api.types.is_datetime64_any_dtype(s):
            secs = (s - pd.Timestamp(0, tz=getattr(s.dt, "tz", None))).dt.total_seconds()
            return secs.to_numpy(dtype=np.float64, na_value=np.nan), self.task.bloc_length or (
                self.task.bloc_hours * 3600.0
            )
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return vals, self.task.bloc_length or 1.0

    # ------------------------------------------------------------------ feature blocks
    def _used_columns(self) -> list[str]:
        cols = self.numeric_tv + self.numeric_static + list(self.categories)
        return list(dict.fromkeys(self.readers.get(c, (c,))[0] for c in cols))

    def _read(self, rows: pd.DataFrame, c: str) -> np.ndarray:
        if c in self.readers:
            src, kind, part = self.readers[c]
            return readers.read(rows[src], kind, part)
        return to_float(rows[c])

    def _numeric_block(self, win: _Window, cols: list[str]) -> pd.DataFrame:
        data = {c: self._read(win.rows, c) for c in cols}
        return pd.DataFrame(
            data, index=pd.RangeIndex(len(win.rows)), columns=cols, dtype=np.float64
        )

    def _tabular_raw(self, win: _Window) -> tuple[np.ndarray, list[str]]:
        """Unimputed, unscaled patient × feature matrix and its column names."""
        n = win.n_patients
        blocks: list[np.ndarray] = []
        names: list[str] = []
        if self.numeric_tv:
            g = self._numeric_block(win, self.numeric_tv).groupby(win.codes, sort=True)
            stats = [_full(getattr(g, s)(), n) for s in _SUMMARIES]  # each n × k
            blocks.append(np.stack(stats, axis=2).reshape(n, -1))  # c1_last, c1_min, …
            names += [f"{c}__{s}" for c in self.numeric_tv for s in _SUMMARIES]
        if self.numeric_static:
            g = self._numeric_block(win, self.numeric_static).groupby(win.codes, sort=True)
            blocks.append(_full(g.last(), n))
            names += list(self.numeric_static)
        blocks.append(np.bincount(win.codes, minlength=n).astype(np.float64)[:, None])
        names.append("n_blocs")
        for c, cats in self.categories.items():
            last = _last_text(win.rows[c], win.codes, n)
            code = pd.Index(cats).get_indexer(last)  # -1: missing or not a kept category
            onehot = np.zeros((n, len(cats) + 1))
            known = code >= 0
            onehot[np.flatnonzero(known), code[known]] = 1.0
            onehot[(~known) & last.notna().to_numpy(), len(cats)] = 1.0
            blocks.append(onehot)
            names += [f"{c}={v}" for v in cats] + [f"{c}={OTHER}"]
        return np.concatenate(blocks, axis=1), names

    def _is_static_feature(self, name: str) -> bool:
        """Patient-level columns repeated along sequences: static numerics and one-hots."""
        return name in self.numeric_static or name.split("=", 1)[0] in self.categories

    def _sequence_rows(self, win: _Window) -> np.ndarray:
        """Time-varying numeric values per window row, forward-filled within each patient."""
        block = self._numeric_block(win, self.numeric_tv)
        if not self.numeric_tv:
            return np.zeros((len(block), 0))
        return block.groupby(win.codes, sort=False).ffill().to_numpy(dtype=np.float64)


# ---------------------------------------------------------------------- helpers
def _patient_labels(target: pd.Series, codes: np.ndarray, n: int, name: str) -> np.ndarray:
    """One 0/1 label per patient (NaN where none); SchemaError if not binary or not constant."""
    raw = target.astype(object) if isinstance(target.dtype, pd.CategoricalDtype) else target
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & target.notna()
    if bad.any():
        raise SchemaError(f"target column '{name}' has {int(bad.sum())} non-numeric value(s)")
    v = vals.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isnan(v) | (v == 0) | (v == 1)
    if not ok.all():
        raise SchemaError(
            f"target column '{name}' must be binary 0/1; {int((~ok).sum())} row(s) hold other values"
        )
    g = pd.Series(v).groupby(codes, sort=True)
    lo = _full(g.min().to_frame(), n)[:, 0]
    hi = _full(g.max().to_frame(), n)[:, 0]
    mixed = lo != hi
    if np.any(mixed & ~np.isnan(lo)):
        raise SchemaError(
            f"target column '{name}' is not constant within {int(np.sum(mixed & ~np.isnan(lo)))} "
            "patient(s); the task needs one label per patient"
        )
    return hi


def _full(stat: pd.DataFrame, n: int) -> np.ndarray:
    """Group statistics as an n-row array (groups 0..n-1; absent groups are NaN)."""
    return stat.reindex(pd.RangeIndex(n)).to_numpy(dtype=np.float64, na_value=np.nan)


def _last_text(s: pd.Series, codes: np.ndarray, n: int) -> pd.Series:
    """Each patient's last non-missing value of a categorical column, as text."""
    text = s.astype("str").where(s.notna())
    last = text.groupby(codes, sort=True).last()
    return last.reindex(pd.RangeIndex(n))
