"""Suppression (Eq. 4): outlying values, listed cells and records of too-small classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import ROOT
from privhealth.anon.step import Step, require_columns
from privhealth.errors import ConfigError, SchemaError


class OutlierSuppressor(Step):
    """Eq. 4 for outliers: values outside the [q_low, q_high] quantiles learned in ``fit``.

    ``action='cell'`` blanks the value (NaN, so a model imputes it); ``action='record'``
    removes every row of an entity holding such a value (needs ``entity``).
    """

    def __init__(
        self,
        columns: Sequence[str],
        quantiles: tuple[float, float] = (0.005, 0.995),
        action: str = "cell",
        entity: str | None = None,
    ) -> None:
        lo, hi = (float(q) for q in quantiles)
        if not 0.0 <= lo < hi <= 1.0:
            raise ConfigError(f"OutlierSuppressor: quantiles must satisfy 0 <= low < high <= 1, got {quantiles}")
        if action not in ("cell", "record"):
            raise ConfigError(f"OutlierSuppressor: action must be 'cell' or 'record', got '{action}'")
        self.columns = list(columns)
        self.quantiles = (lo, hi)
        self.action = action
        self.entity = entity
        self.bounds: dict[str, tuple[float, float]] = {}

    def fit(self, frame: pd.DataFrame) -> Self:
        require_columns(frame, self.columns, "OutlierSuppressor")
        for c in self.columns:
            if not pd.api.types.is_numeric_dtype(frame[c]):
                raise SchemaError(f"OutlierSuppressor: column '{c}' is not numeric")
            q = frame[c].quantile(list(self.quantiles))
            self.bounds[c] = (float(q.iloc[0]), float(q.iloc[1]))
        return self

    def outliers(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Boolean frame: which cells fall outside the learned bounds."""
        return pd.DataFrame(
            {c: (frame[c] < lo) | (frame[c] > hi) for c, (lo, hi) in self.bounds.items()},
            index=frame.index,
        )

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out_mask = self.outliers(frame)
        if self.action == "cell":
            out = frame.copy()
            for c in self.bounds:
                out[c] = frame[c].mask(out_mask[c])
            return out
        hit = out_mask.any(axis=1)
        if self.entity:
            bad = frame.loc[hit, self.entity].unique()
            hit = frame[self.entity].isin(bad)
        return frame.loc[~hit]

    def describe(self) -> dict[str, Any]:
        return {"step": "OutlierSuppressor", "columns": self.columns, "action": self.action,
                "quantiles": list(self.quantiles)}


class CellSuppressor(Step):
    """Eq. 4 for whole columns: every value replaced by ``*`` (text) or NaN (numbers)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.columns, "CellSuppressor")
        out = frame.copy()
        for c in self.columns:
            if pd.api.types.is_numeric_dtype(frame[c]):
                out[c] = np.nan
            else:
                out[c] = pd.Series(ROOT, index=frame.index, dtype="str")
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "CellSuppressor", "columns": self.columns}


class SmallClassSuppressor(Step):
    """Removes the records of equivalence classes (on ``quasi``) holding fewer than ``k`` entities."""

    def __init__(self, quasi: Sequence[str], k: int, entity: str | None = None) -> None:
        if int(k) < 1:
            raise ConfigError(f"SmallClassSuppressor: k must be >= 1, got {k}")
        self.quasi = list(quasi)
        self.k = int(k)
        self.entity = entity

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.quasi + ([self.entity] if self.entity else []), "SmallClassSuppressor")
        groups = frame.groupby(self.quasi, sort=False, dropna=False, observed=True)
        if self.entity:
            sizes = groups[self.entity].transform("nunique")
        else:
            sizes = groups[self.quasi[0]].transform("size")
        return frame.loc[sizes.to_numpy() >= self.k]

    def describe(self) -> dict[str, Any]:
        return {"step": "SmallClassSuppressor", "quasi": self.quasi, "k": self.k}
