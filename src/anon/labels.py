"""Reading released labels: normalized text, masks, pseudonym shapes, age bands and date periods.

One home for label parsing that both the Safe Harbor check and the attacks read, so neither
imports the other's package (``anon.safe_harbor`` → ``anon.labels`` ← ``anon.attacks``).
Interval labels themselves are parsed by ``privhealth.data.intervals``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

# Characters a masking step leaves behind; a value made only of these carries no information.
MASK_CHARS = r"\*X#\-\s\.\(\)/@_"
_MASKED = re.compile(rf"^[{MASK_CHARS}]*$")
_HEX_TAIL = re.compile(r"^[0-9a-f]+$")
# US states, codes and names: the one geographic unit Safe Harbor allows to release.
US_STATES = frozenset(
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm "
    "ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy pr gu vi as mp".split()
) | frozenset(
    s.lower() for s in (
        "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
        "District of Columbia", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa",
        "Kansas", "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota",
        "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey",
        "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon",
        "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah",
        "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming", "Puerto Rico",
    )
)
NUM = r"-?\d+(?:\.\d+)?"
DATE_UNITS = (  # (unit, pattern of a released label)
    ("day", re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ t]00:00:00)?$")),
    ("month", re.compile(r"^(\d{4}-\d{2})$")),
    ("quarter", re.compile(r"^(\d{4}-q[1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
    ("decade", re.compile(r"^(\d{3}0s)$")),
)


def on_distinct(s: pd.Series, fn: Callable[[pd.Series], Any]) -> Any:
    """An elementwise ``fn`` (Series → Series/DataFrame) computed once per distinct value of ``s``.

    Released columns repeat labels over many rows (a patient's blocs, age bands, ZIP3), and
    string work (regexes, case folding) costs per value in Python: evaluating it on the
    distinct values (plus one null, so ``fn``'s own null handling is kept) and spreading the
    result back by position gives the same output for a fraction of the work.
    """
    if pd.api.types.is_float_dtype(s.dtype):  # -0.0 and 0.0 share a hash but not a text
        return fn(s)
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    if 2 * len(uniq) > len(s):  # mostly distinct: nothing to save
        return fn(s)
    u = pd.Series(uniq, name=s.name)
    if (codes < 0).any():
        u = pd.concat([u, pd.Series([None], dtype=s.dtype, name=s.name)], ignore_index=True)
        codes = np.where(codes < 0, len(u) - 1, codes)
    out = fn(u).iloc[codes]
    out.index = s.index
    return out


def _norm(s: pd.Series) -> pd.Series:
    return s.astype("str").str.casefold().str.strip().str.replace(r"\s+", " ", regex=True)


def norm_text(s: pd.Series) -> pd.Series:
    """Case-folded, trimmed, whitespace-collapsed text (nulls stay null)."""
    return on_distinct(s, _norm)


def is_masked(values: pd.Series) -> pd.Series:
    """True where a value is made only of mask characters (``XXXX``, ``***-**-****``)."""
    return on_distinct(values, lambda v: v.astype("str").str.fullmatch(_MASKED.pattern).fillna(True).astype(bool))


def pseudonym_shape(values: pd.Series) -> list[tuple[str, int]]:
    """Plausible (prefix, hex length) splits if every value is ``prefix + lowercase hex`` of one length.

    An empty list means the column does not look like hash pseudonyms. All splits of the
    values' common prefix are returned (a short prefix may end in hex letters by chance).
    """
    v = pd.Series(pd.unique(values.dropna().astype("str")))
    if len(v) < 2:
        return []
    lengths = v.str.len()
    if lengths.nunique() != 1:
        return []
    width = int(lengths.iloc[0])
    common = _common_prefix(v.tolist())
    out = []
    for j in range(len(common), -1, -1):
        hex_len = width - j
        if not 8 <= hex_len <= 64:
            continue
        tail = v.str.slice(j)
        # digests hold letters a-f almost always; plain decimal numbers (raw MRNs) are not digests
        if tail.str.fullmatch(_HEX_TAIL.pattern).all() and tail.str.contains("[a-f]").mean() >= 0.5:
            out.append((common[:j], hex_len))
    return out


def _common_prefix(values: list[str]) -> str:
    lo, hi = min(values), max(values)
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


def age_intervals(col: pd.Series, top_code: float) -> tuple[np.ndarray, np.ndarray]:
    """Released age → [lo, hi] in years per patient (-inf/inf where it constrains nothing)."""
    if pd.api.types.is_numeric_dtype(col):
        return _age_intervals(col, top_code)
    both = on_distinct(col, lambda u: pd.DataFrame(np.stack(_age_intervals(u, top_code), axis=1)))
    return both[0].to_numpy(), both[1].to_numpy()


def _age_intervals(col: pd.Series, top_code: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(col)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    if pd.api.types.is_numeric_dtype(col):
        x = col.to_numpy(dtype=float)
        ok = ~np.isnan(x)
        lo[ok] = x[ok]
        hi[ok & (x < top_code)] = x[ok & (x < top_code)]  # a top-coded age means "or older"
        return lo, hi
    t = norm_text(col)
    done = np.zeros(n, bool)

    def take(rx: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = t.str.extract(rx)
        a = pd.to_numeric(m[0], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(m[1], errors="coerce").to_numpy(dtype=float) if m.shape[1] > 1 else a
        return a, b, ~np.isnan(a) & ~done

    a, b, hit = take(rf"^[\[\(]\s*({NUM})\s*,\s*({NUM})\s*[\]\)]$")  # [60, 70)
    lo[hit], hi[hit] = a[hit], b[hit]
    done |= hit
    a, b, hit = take(rf"^\[\s*({NUM})\s*-\s*({NUM})\s*\]$")  # Mondrian's [62.3-71.8], closed
    lo[hit], hi[hit] = a[hit], b[hit]
    done |= hit
    a, b, hit = take(rf"^({NUM})\s*-\s*({NUM})$")  # 60-69: integer bands include the upper year
    whole = (a == np.floor(a)) & (b == np.floor(b))
    lo[hit], hi[hit] = a[hit], np.where(whole, b + 1, b)[hit]
    done |= hit
    a, _, hit = take(rf"^({NUM})\s*\+$")  # 90+
    lo[hit] = a[hit]
    done |= hit
    a, _, hit = take(rf"^({NUM})$")  # a plain number, top-coded when >= top_code
    lo[hit] = a[hit]
    hi[hit] = np.where(a >= top_code, np.inf, a)[hit]
    return lo, hi


def period_bounds(col: pd.Series | None, n: int, years: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Released date (admission) → [first day, last day + 1) as days since epoch, per patient."""
    lo = np.full(n, _days(f"{int(years[0])}-01-01"), dtype=float)
    hi = np.full(n, _days(f"{int(years[1]) + 1}-01-01"), dtype=float)
    if col is None:
        return lo, hi
    if pd.api.types.is_datetime64_any_dtype(col):
        d = pd.to_datetime(col).dt.normalize()
        ok = d.notna().to_numpy()
        days = (d.to_numpy(dtype="datetime64[D]").astype(np.int64)).astype(float)
        lo[ok], hi[ok] = days[ok], days[ok] + 1
        return lo, hi
    t = norm_text(col)
    for unit, rx in DATE_UNITS:
        g = t.str.extract(rx)[0]
        ok = g.notna().to_numpy()
        if not ok.any():
            continue
        g = g[ok]
        if unit == "day":
            start = pd.to_datetime(g, errors="coerce")
            end = start + pd.Timedelta(days=1)
        elif unit == "month":
            start = pd.to_datetime(g + "-01", errors="coerce")
            end = start + pd.offsets.MonthBegin(1)
        elif unit == "quarter":
            y = g.str.slice(0, 4).astype(int)
            q = g.str.slice(6, 7).astype(int)
            start = pd.to_datetime(pd.DataFrame({"year": y, "month": 3 * q - 2, "day": 1}))
            end = start + pd.offsets.QuarterBegin(1, startingMonth=1)
        elif unit == "year":
            start = pd.to_datetime(g + "-01-01", errors="coerce")
            end = start + pd.offsets.YearBegin(1)
        else:
            y = g.str.slice(0, 4)
            start = pd.to_datetime(y + "-01-01", errors="coerce")
            end = pd.to_datetime((y.astype(int) + 10).astype(str) + "-01-01", errors="coerce")
        good = start.notna().to_numpy() & end.notna().to_numpy()
        idx = np.flatnonzero(ok)[good]
        lo[idx] = start[good].to_numpy(dtype="datetime64[D]").astype(np.int64)
        hi[idx] = end[good].to_numpy(dtype="datetime64[D]").astype(np.int64)
    return lo, hi


def _days(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))
