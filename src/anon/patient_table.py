"""The patient-level table a synthesizer learns from, and the step that maps records to it.

A longitudinal table (one row per 4-hour bloc) is reduced to one row per patient: a column
constant within every patient keeps its value; a time-varying numeric column becomes its mean
over the patient's first ``window_blocs`` rows (the prediction window, in time order); a
time-varying text column keeps its first value. ``WindowMean`` is the same rule as a
scikit-style step that keeps every row (each row of a patient gets the patient's window
value), so that ``Release.apply`` can map held-out raw records the way a synthetic release
was made. A table with one row per entity (Adult) passes through unchanged.

Worked example: a patient with HR 80, 100, 120 in blocs 1-3 and ``window_blocs=2`` gets HR 90.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from privhealth.anon.transforms import Step, _require_columns
from privhealth.errors import ConfigError


def time_order(frame: pd.DataFrame, entity: str, time: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by entity then time (stable), so "first rows" mean the earliest blocs."""
    keys = [entity, *[t for t in time if t in frame.columns]]
    return frame.sort_values(keys, kind="stable")


def varying_columns(frame: pd.DataFrame, entity: str, columns: Sequence[str]) -> list[str]:
    """The columns among ``columns`` that take more than one value within some entity."""
    if not columns:
        return []
    n = frame.groupby(entity, sort=False)[list(columns)].nunique(dropna=False)
    return [c for c in columns if int(n[c].max()) > 1]


class WindowMean(Step):
    """Replace each time-varying numeric column by its mean over the entity's first ``window`` rows.

    Fitted on the release's source (which columns vary); in ``transform`` every row is kept and
    gets its entity's window mean, the index unchanged.
    """

    def __init__(self, entity: str, time: Sequence[str] = (), window: int = 6,
                 columns: Sequence[str] | None = None) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"WindowMean: window must be a whole number of rows >= 1 (got {window!r})")
        self.entity = str(entity)
        self.time = [str(t) for t in time]
        self.window = int(window)
        self.columns = None if columns is None else [str(c) for c in columns]

    def fit(self, frame: pd.DataFrame) -> WindowMean:
        _require_columns(frame, [self.entity], "WindowMean")
        if self.columns is None:
            numeric = [c for c in frame.columns if c != self.entity and c not in self.time
                       and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
            self.columns = varying_columns(frame, self.entity, numeric)
        return self

    def window_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per entity (indexed by entity value): each fitted column's mean over the window."""
        cols = list(self.columns or [])
        ordered = time_order(frame[[self.entity, *self.time, *cols]] if self.time else frame[[self.entity, *cols]],
                             self.entity, self.time)
        first = ordered.groupby(self.entity, sort=False).cumcount() < self.window
        return ordered.loc[first.to_numpy()].groupby(self.entity, sort=False)[cols].mean()

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            raise ConfigError("WindowMean: call fit before transform")
        _require_columns(frame, [self.entity, *self.columns], "WindowMean")
        if not self.columns:
            return frame
        means = self.window_values(frame)
        out = frame.copy()
        pos = means.index.get_indexer(frame[self.entity])
        for c in self.columns:
            out[c] = means[c].to_numpy(dtype=np.float64)[pos]
        return out


def patient_table(frame: pd.DataFrame, entity: str, time: Sequence[str], window: int,
                  columns: Sequence[str]) -> tuple[pd.DataFrame, WindowMean]:
    """One row per entity of ``columns`` (see the module doc) and the fitted ``WindowMean`` step.

    The rows follow the entities' order of first appearance; the index is the entity value.
    """
    cols = [c for c in columns if c not in (entity, *time)]
    step = WindowMean(entity, time, window).fit(frame[[entity, *[t for t in time if t in frame], *cols]])
    ordered = time_order(frame, entity, time)
    table = ordered.groupby(entity, sort=False)[cols].first()
    varying = [c for c in step.columns or [] if c in cols]
    if varying:
        table[varying] = step.window_values(frame)[varying].reindex(table.index)
    return table, step
