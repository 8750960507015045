"""How a column becomes numbers for the models: plain numbers, datetimes, generalized ranges and periods.

A numeric or date column that anonymization generalized holds labels (``40-59``, ``[54.9,
57.53]``, ``90+``, ``2019-03``, ``*``; the format of ``privhealth.data.intervals``). How the
models read them is ``task.generalized``:

* ``midpoint`` (default): one number, the middle of the range or period (a top code ``90+``
  reads as 90; ``*`` as missing, imputed like any missing value). The feature keeps the
  column's name, so raw and anonymized models see the same features;
* ``bounds``: two numbers, ``<col>__lo`` and ``<col>__hi`` (a top code's open end reads as
  its finite end);
* ``onehot``: the paper's reading: the label is a category (one-hot, most frequent
  ``max_categories`` labels), except labels that parse as plain numbers.

Dates, raw or generalized, are decimal years. Categorical generalizations (ZIP ``021**``)
stay categories: their hierarchy level's label is one-hot encoded in every mode.
A column counts as generalized when the schema says it was numeric or a date (its kind, or
``Column.generalized`` in a release's schema) and every present label on the training rows
parses; otherwise it is one-hot, as before.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from privhealth.data.intervals import decimal_years, parse_periods, parse_ranges, unparsed
from privhealth.data.schema import Column, Kind

GeneralizedMode = Literal["midpoint", "bounds", "onehot"]
MODES: tuple[str, ...] = ("midpoint", "bounds", "onehot")
PARTS = {"midpoint": (("", "mid"),), "bounds": (("__lo", "lo"), ("__hi", "hi"))}


def origin(col: Column) -> str | None:
    """'numeric' or 'datetime' when the column holds (possibly generalized) numbers or dates."""
    if col.generalized:
        return col.generalized
    if col.kind is Kind.DATETIME:
        return "datetime"
    if col.kind in (Kind.NUMERIC, Kind.INTEGER, Kind.BINARY):
        return "numeric"
    return None


def readable(s: pd.Series, kind: str) -> bool:
    """Every present value other than ``*`` reads as a range (numbers) or a period (dates)."""
    return unparsed(s, _parse(s, kind)) == 0


def read(s: pd.Series, kind: str, part: str) -> np.ndarray:
    """The ``mid``, ``lo`` or ``hi`` value of each label (NaN where missing, ``*`` or unreadable)."""
    r = _parse(s, kind)
    lo = r["lo"].to_numpy(dtype=np.float64)
    hi = r["hi"].to_numpy(dtype=np.float64)
    hi = np.where(np.isinf(hi), lo, hi)  # a top code: the finite end
    lo = np.where(np.isinf(lo), hi, lo)
    if part == "lo":
        return lo
    if part == "hi":
        return hi
    return (lo + hi) / 2.0


def _parse(s: pd.Series, kind: str) -> pd.DataFrame:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    return parse_periods(s) if kind == "datetime" else parse_ranges(s)


def numeric_like(s: pd.Series) -> bool:
    """Numbers, booleans, datetimes, or text whose every non-missing value parses as a number."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return True
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    present = s.dropna()
    if len(present) == 0:
        return True
    return bool(pd.to_numeric(present, errors="coerce").notna().all())


def to_float(s: pd.Series) -> np.ndarray:
    """A column as float64 (datetimes as decimal years, like a generalized "1950"; bad text → NaN)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_datetime64_any_dtype(s):
        return decimal_years(s)
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
