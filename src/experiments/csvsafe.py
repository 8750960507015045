"""CSV artefacts safe to open in a spreadsheet: no cell is read as a formula.

A released value, a column name or an override starting with ``= + - @`` (or a tab or
carriage return) is a formula to Excel, LibreOffice and Google Sheets (CSV injection,
OWASP). Text cells starting so get a leading ``'``, which spreadsheets show as text;
numbers are left as they are (a negative number is not text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(s: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or isinstance(
        s.dtype, pd.CategoricalDtype)


def defuse(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot start a spreadsheet formula."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not _text(s):
            continue
        s = s.astype(object)
        risky = s.map(type).eq(str) & s.astype(str).str.startswith(FORMULA_START)
        if risky.any():
            out[col] = s.where(~risky, "'" + s.astype(str))
    out.columns = [f"'{c}" if isinstance(c, str) and c.startswith(FORMULA_START) else c for c in out.columns]
    return out


def safe_csv(df: pd.DataFrame, path: str | Path | None = None, **kwargs: Any) -> str | None:
    """``df.to_csv`` with formula-looking text cells defused (the CSV text when ``path`` is None)."""
    return defuse(df).to_csv(path, **kwargs)
