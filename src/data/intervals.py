"""The one label format for generalized numbers and dates: writing it and reading it back.

Anonymization writes these labels (hierarchies, Mondrian, the transforms) and models and
attacks read them, so both sides use this module (it lives in ``privhealth.data`` because
``anon`` and ``models`` may not import each other). Labels of numeric ranges:

=====================  ==========================================  ==================
range                  label                                        read as [lo, hi]
=====================  ==========================================  ==================
one value              ``57`` / ``57.5``                            [57, 57]
whole numbers, closed  ``40-59`` (both ends included; ARX's form)   [40, 59]
half-open bin          ``[60, 70)`` (fractional data)               [60, 70]
closed range           ``[54.9, 57.53]`` (fractional data)          [54.9, 57.53]
top code               ``90+`` (that value or more)                 [90, inf]
fully generalized      ``*``                                        missing
=====================  ==========================================  ==================

Ranges of whole numbers always print as ``lo-hi``, whatever the method (a hierarchy's
bin [40, 60) of whole ages and Mondrian's class of ages 40..59 are both ``40-59``);
bracket notation is kept for fractional data, where it says which end is included.
The reader also takes Mondrian's former ``[lo-hi]`` form and ``(lo, hi]``.

Generalized dates (``privhealth.anon.hierarchy.Hierarchy.dates``) read as the period they
name, in decimal years: ``2019-03-14`` (day), ``2019-03`` (month), ``2019-Q1`` (quarter),
``2019`` (year), ``2010s`` (decade).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

ROOT = "*"
_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PATTERNS = (  # (regex with groups lo, hi), tried in order
    rf"^\s*(?P<lo>{_NUM})\s*$",  # 57
    rf"^\s*(?P<lo>{_NUM})\s*-\s*(?P<hi>{_NUM})\s*$",  # 40-59
    rf"^\s*[\[\(]\s*(?P<lo>{_NUM})\s*,\s*(?P<hi>{_NUM})\s*[\]\)]\s*$",  # [60, 70)
    rf"^\s*\[\s*(?P<lo>{_NUM})\s*-\s*(?P<hi>{_NUM})\s*\]\s*$",  # legacy [26-43]
    rf"^\s*(?P<lo>{_NUM})\s*\+\s*$",  # 90+
)
_SECONDS_PER_YEAR = 365.25 * 86400.0


# ---------------------------------------------------------------------- writing
def format_number(x: float) -> str:
    """A bound as text: whole numbers without a decimal point, others in ``%g``."""
    x = float(x)
    return str(int(x)) if x == np.round(x) else f"{x:g}"


def format_ranges(
    lo: np.ndarray, hi: np.ndarray, closed: bool = True, whole: bool | None = None
) -> np.ndarray:
    """Labels of ranges ``[lo, hi]`` (``closed``) or ``[lo, hi)``: ``lo-hi`` for whole numbers, else brackets.

    ``whole`` says the data are whole numbers (None: whole bounds mean whole data, right for
    closed ranges of values seen). A half-open range of whole numbers prints as the numbers
    it holds (``[40, 60)`` → ``40-59``); a range of one value prints as the value.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    whole_bounds = (lo == np.round(lo)) & (hi == np.round(hi))
    whole_mask: np.ndarray = whole_bounds if whole is None else whole_bounds & bool(whole)
    last = hi if closed else hi - 1
    out = np.empty(len(lo), dtype=object)
    for i in range(len(lo)):  # one label per class or bin, not per record
        if whole_mask[i]:
            out[i] = format_number(lo[i]) if lo[i] == last[i] else f"{format_number(lo[i])}-{format_number(last[i])}"
        elif closed and lo[i] == hi[i]:
            out[i] = format_number(lo[i])
        else:
            out[i] = f"[{format_number(lo[i])}, {format_number(hi[i])}{']' if closed else ')'}"
    return out


def format_top(value: float) -> str:
    """The top-code label: the value and everything above it (HIPAA's ``90+``)."""
    return f"{format_number(value)}+"


# ---------------------------------------------------------------------- reading
def parse_ranges(values: pd.Series) -> pd.DataFrame:
    """Columns ``lo``, ``hi`` (floats) of numeric labels; NaN where missing, ``*`` or not a range.

    Parsed once per distinct label. Numbers (numeric dtype) read as one-value ranges.
    """
    return range_bounds(values)[["lo", "hi"]]


def range_bounds(values: pd.Series) -> pd.DataFrame:
    """``parse_ranges`` plus ``closed``: whether the upper bound is included (``[60, 70)``: no)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.DataFrame({"lo": v, "hi": v, "closed": True}, index=values.index)
    return _per_distinct(values, _parse_range_text)


def parse_periods(values: pd.Series) -> pd.DataFrame:
    """Columns ``lo``, ``hi`` in decimal years of dates or date labels (the period a label names)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        y = decimal_years(values)
        return pd.DataFrame({"lo": y, "hi": y}, index=values.index)
    return _per_distinct(values, _parse_period_text)


def unparsed(values: pd.Series, parsed: pd.DataFrame) -> int:
    """How many present values other than ``*`` the parser could not read."""
    present = values.notna().to_numpy() & (values.astype(str).str.strip() != ROOT).to_numpy()
    return int((present & parsed["lo"].isna().to_numpy()).sum())


def decimal_years(values: pd.Series) -> np.ndarray:
    """Datetimes as decimal years (1970.0 = 1970-01-01), NaN where missing."""
    s = pd.to_datetime(values, errors="coerce")
    secs = (s - pd.Timestamp(0, tz=getattr(s.dt, "tz", None))).dt.total_seconds()
    return 1970.0 + secs.to_numpy(dtype=np.float64, na_value=np.nan) / _SECONDS_PER_YEAR


def _per_distinct(values: pd.Series, parse: Callable[[pd.Series], pd.DataFrame]) -> pd.DataFrame:
    codes, uniq = pd.factorize(values.astype(object), use_na_sentinel=True)
    table = parse(pd.Series(uniq, dtype=object).astype(str))
    out = {c: np.append(table[c].to_numpy(), np.nan if c != "closed" else True)[codes]  # code -1 → NaN
           for c in table.columns}
    return pd.DataFrame(out, index=values.index)


def _parse_range_text(text: pd.Series) -> pd.DataFrame:
    lo = np.full(len(text), np.nan)
    hi = np.full(len(text), np.nan)
    closed = ~text.str.strip().str.endswith(")").to_numpy(dtype=bool)
    for i, rx in enumerate(_PATTERNS):
        m = text.str.extract(rx)
        a = pd.to_numeric(m["lo"], errors="coerce").to_numpy(dtype=np.float64)
        b = pd.to_numeric(m["hi"], errors="coerce").to_numpy(dtype=np.float64) if "hi" in m else a
        if i == len(_PATTERNS) - 1:
            b = np.full(len(a), np.inf)  # top code: that value or more
        hit = np.isnan(lo) & ~np.isnan(a) & ~(a > b)  # 2019-03 is a month, not a range
        lo[hit], hi[hit] = a[hit], b[hit]
    return pd.DataFrame({"lo": lo, "hi": hi, "closed": closed})


def _parse_period_text(text: pd.Series) -> pd.DataFrame:
    t = text.str.strip()
    lo = np.full(len(t), np.nan)
    hi = np.full(len(t), np.nan)

    def put(mask: np.ndarray, start: pd.Series, end: pd.Series) -> None:
        m = mask & np.isnan(lo)
        lo[m] = decimal_years(start[m])
        hi[m] = decimal_years(end[m])

    day = t.str.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[ T]00:00:00)?").to_numpy()
    d = pd.to_datetime(t.str.slice(0, 10).where(day), errors="coerce")
    put(day, d, d)
    month = t.str.fullmatch(r"\d{4}-\d{2}").to_numpy()
    m0 = pd.to_datetime(t.where(month) + "-01", errors="coerce")
    put(month, m0, m0 + pd.offsets.MonthBegin(1))
    quarter = t.str.fullmatch(r"(?i)\d{4}-q[1-4]").to_numpy()
    q = pd.to_numeric(t.str.slice(-1).where(quarter), errors="coerce")
    q0 = pd.to_datetime(t.str.slice(0, 4).where(quarter) + "-" + ((q - 1) * 3 + 1).astype("Int64").astype(str)
                        .str.zfill(2) + "-01", errors="coerce")
    put(quarter, q0, q0 + pd.offsets.QuarterBegin(1, startingMonth=1))
    year = t.str.fullmatch(r"\d{4}").to_numpy()
    y0 = pd.to_datetime(t.where(year) + "-01-01", errors="coerce")
    put(year, y0, y0 + pd.offsets.YearBegin(1))
    decade = t.str.fullmatch(r"\d{3}0s").to_numpy()
    d0 = pd.to_datetime(t.str.slice(0, 4).where(decade) + "-01-01", errors="coerce")
    put(decade, d0, d0 + pd.DateOffset(years=10))
    return pd.DataFrame({"lo": lo, "hi": hi})
