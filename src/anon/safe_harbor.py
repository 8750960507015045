"""HIPAA Safe Harbor check (45 CFR 164.514(b)(2)) of a release, category by category.

Each of the 18 identifier categories (A-R) is PASS, FAIL or NOT APPLICABLE, with the
offending columns and the reasons (never the values). A category is decided from the
schema's PII categories *and* from the released values: a date column that still holds a
month, an age column with values over 89, a ZIP column with more than three digits or a
restricted three-digit prefix (intervals, as Mondrian releases them, are judged by their
bounds: ``[88-98]`` is an age over 89 that is not the ``90+`` top code), masked columns that keep parts of the identifier (the last
four digits of an SSN or phone number, an e-mail's domain: HHS's guidance counts "parts or
derivatives" of identifiers), free-text columns matching SSN, phone, e-mail, URL, IP, VIN or
full-date patterns. It checks structured data only: names inside free text, biometrics and
photographs cannot be recognised from values, so "NOT APPLICABLE" means "no column declared
and no pattern found", not "verified absent".

Re-identification codes (164.514(c)): a code may stay in the release only if it is not
derived from information about the individual. A keyed hash of the MRN or stay id *is*
derived from it (anyone holding the key and an MRN recomputes the code), and sequential
codes follow the source IDs' order; both are reported as FAIL under the identifier's category
(MRN: H, stay id and other numbers: R). Random codes (``RandomCode``) pass.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.labels import (
    US_STATES,
    is_masked,
    norm_text,
    on_distinct,
    pseudonym_shape,
)
from privhealth.anon.release import Release
from privhealth.anon.transforms import RESTRICTED_ZIP3
from privhealth.data.intervals import range_bounds
from privhealth.data.schema import Role, TableSchema

PASS, FAIL, NOT_APPLICABLE = "PASS", "FAIL", "NOT APPLICABLE"
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("A", "names"),
    ("B", "geographic subdivisions smaller than a state (ZIP: first 3 digits only where > 20,000 people)"),
    ("C", "all elements of dates except year, and ages over 89"),
    ("D", "telephone numbers"),
    ("E", "fax numbers"),
    ("F", "e-mail addresses"),
    ("G", "social security numbers"),
    ("H", "medical record numbers"),
    ("I", "health plan beneficiary numbers"),
    ("J", "account numbers"),
    ("K", "certificate/license numbers"),
    ("L", "vehicle identifiers and serial numbers, including license plates"),
    ("M", "device identifiers and serial numbers"),
    ("N", "web URLs"),
    ("O", "IP addresses"),
    ("P", "biometric identifiers, including finger and voice prints"),
    ("Q", "full-face photographs and comparable images"),
    ("R", "any other unique identifying number, characteristic, or code"),
)
PII_CATEGORY = {"name": "A", "address": "B", "zip": "B", "date": "C", "phone": "D", "email": "F",
                "ssn": "G", "mrn": "H", "account": "J", "id": "R"}
UNDETECTABLE = {"E": "fax numbers cannot be told from phone numbers by value (see D)",
                "I": "no health-plan column declared; such numbers have no checkable format",
                "K": "no certificate/license column declared; no checkable format",
                "M": "no device column declared; no checkable format",
                "P": "not recognisable in structured values",
                "Q": "not recognisable in structured values"}
VALUE_PATTERNS: tuple[tuple[str, str, re.Pattern], ...] = (
    ("G", "SSN pattern", re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")),
    ("D", "phone-number pattern", re.compile(r"(?<!\d)(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?!\d)")),
    ("F", "e-mail pattern", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("N", "URL pattern", re.compile(r"(?i)\b(?:https?://|www\.)\S+")),
    ("O", "IPv4 pattern", re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")),
    ("L", "VIN pattern", re.compile(r"(?<![A-Za-z0-9])(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])")),
    ("C", "full-date pattern", re.compile(r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})(?!\d)")),
)
_AGE_NAME = re.compile(r"(?i)(^|_)age($|_|s$)")
_BIRTH_NAME = re.compile(r"(?i)birth|dob")
_YEARS = re.compile(r"^(\d{4})(?:s|-\d{2}|-\d{2}-\d{2}|-q[1-4])?$")


@dataclass
class SafeHarborItem:
    """One identifier category: its status, the columns at fault and why (no values)."""

    code: str
    identifier: str
    status: str
    columns: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass
class SafeHarborReport:
    """The 18 categories; the release passes when none fails."""

    items: list[SafeHarborItem]
    notes: list[str]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[str]:
        return [i.code for i in self.items if i.status == FAIL]

    def status(self, code: str) -> str:
        return next(i.status for i in self.items if i.code == code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": "HIPAA Safe Harbor, 45 CFR 164.514(b)(2)",
            "passed": self.passed,
            "failed_categories": self.failed,
            "categories": [i.__dict__ for i in self.items],
            "notes": self.notes,
        }


def code_columns(release: Release) -> tuple[dict[str, str], set[str]]:
    """Columns holding codes: derived (pseudonymizer scheme) and random, read from the release's steps."""
    derived: dict[str, str] = {}
    random: set[str] = set()
    for step in release.steps:
        if step.get("step") == "Pseudonymizer":
            for c in step.get("columns", []):
                derived[str(c)] = str(step.get("scheme", "hash"))
        elif step.get("step") == "RandomCode":
            random.update(str(c) for c in step.get("columns", []))
    return derived, random


def check_safe_harbor(
    release: Release,
    source_schema: TableSchema | None = None,
    *,
    age_columns: Sequence[str] | None = None,
    age_top_code: float = 90.0,
    reference_year: int | None = None,
) -> SafeHarborReport:
    """Check a release against Safe Harbor's 18 categories (module docstring)."""
    frame, schema = release.frame, release.schema
    found: dict[str, list[tuple[str, str]]] = {c: [] for c, _ in CATEGORIES}
    applicable: set[str] = set()
    notes: list[str] = []
    derived, random = code_columns(release)
    ages = set(age_columns) if age_columns is not None else {c for c in frame.columns if _AGE_NAME.search(str(c))}
    ref_year = int(reference_year or _dt.date.today().year)

    for sch in (source_schema, schema):
        for col in sch or ():
            if col.pii in PII_CATEGORY:
                applicable.add(PII_CATEGORY[col.pii])
            if col.role is Role.ENTITY:
                applicable.add("R")
            if _AGE_NAME.search(col.name) or col.role is Role.TIME:
                applicable.add("C")

    for c in frame.columns:
        s = frame[c]
        if not s.notna().any():
            continue  # an empty column releases nothing
        col = schema[c] if c in schema else None
        cat = col.pii if col is not None else None
        code = PII_CATEGORY.get(cat or "", "R")
        if c in random:
            applicable.add(code)
            notes.append(f"column '{c}' holds random codes not derived from the individual: allowed "
                         "as a re-identification code (164.514(c)) if the mapping is not disclosed")
            continue
        shaped = bool(pseudonym_shape(s)) if not pd.api.types.is_numeric_dtype(s) else False
        if c in derived or (shaped and (cat is not None or (col is not None and col.role is Role.ENTITY))):
            how = derived.get(c, "a hash-like code")
            found[code].append((c, f"code derived from the identifier ({how}): 164.514(c)(1) allows only "
                                   "codes not derived from information about the individual"))
            continue
        if col is not None and col.role is Role.ENTITY:
            found["R"].append((c, "the record's unique identifier is released as is"))
        if cat in ("name", "phone", "email", "ssn", "mrn", "account", "id"):
            _check_masked(s, c, code, found)
        elif cat == "address":
            _check_address(s, c, found)
        elif cat == "zip":
            _check_zip(s, c, found)
        if cat == "date" or pd.api.types.is_datetime64_any_dtype(s):
            applicable.add("C")
            _check_date(frame, c, found, ref_year)
        if col is not None and col.role is Role.TIME and pd.api.types.is_numeric_dtype(s):
            med = float(np.nanmedian(s.to_numpy(dtype=float))) if s.notna().any() else 0.0
            if 1e8 <= abs(med) <= 1e11:
                found["C"].append((c, "timestamps (seconds since 1970) keep month and day; date-shifted "
                                      "timestamps too (shifting is not a Safe Harbor method)"))
        if c in ages:
            applicable.add("C")
            if _ages_over_top(s.dropna(), age_top_code):
                found["C"].append((c, "ages over 89 are not aggregated into a single '90 or older' category "
                                      "(an age or age interval reaches past 89 without being the top code)"))
        if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s):
            _scan_values(s, c, found)
        if _column_name_identifier(str(c)):
            found["R"].append((c, "the column name itself looks like an identifier value"))

    items = []
    for code, title in CATEGORIES:
        hits = found[code]
        if hits:
            cols = list(dict.fromkeys(c for c, _ in hits))
            reasons = list(dict.fromkeys(f"{c}: {r}" for c, r in hits))
            items.append(SafeHarborItem(code, title, FAIL, cols, reasons))
        elif code in applicable:
            items.append(SafeHarborItem(code, title, PASS))
        else:
            why = UNDETECTABLE.get(code, "no such column declared and no matching values found")
            items.append(SafeHarborItem(code, title, NOT_APPLICABLE, [], [why]))
    notes += [
        "164.514(b)(2)(ii): Safe Harbor also requires that the covered entity has no actual knowledge "
        "that the remaining information could identify an individual; a successful linkage attack "
        "(see the linkage figures) is such knowledge.",
        "Structured data only: identifiers inside free text (names, places) are not recognised.",
    ]
    return SafeHarborReport(items, notes)


def label_bounds(values: pd.Series) -> pd.DataFrame:
    """Bounds ``lo``, ``hi`` and ``closed`` (upper bound included) of released labels, per row.

    Every interval form releases carry, read by the one label reader
    (``privhealth.data.intervals``); ``*`` is (-inf, inf); anything else (``021**``,
    ``2019-03``) gets NaN bounds.
    """
    out = range_bounds(values)
    if not pd.api.types.is_numeric_dtype(values):
        star = (values.astype("string").str.strip() == "*").fillna(False).to_numpy()
        out.loc[star, ["lo", "hi"]] = [-np.inf, np.inf]
    return out


def _ages_over_top(s: pd.Series, top: float) -> bool:
    """Whether an age or age interval reaches ``top`` (90) without being the single ``90+`` top code.

    A plain age ≥ ``top`` counts as top-coded ("90 or older"); an open-ended ``x+`` or ``*``
    aggregates every older age into one category and passes when ``x`` ≤ ``top``; any
    finite interval that includes an age ≥ ``top`` (``[88-98]``, ``85-94``, ``[80, 95)``) fails.
    """
    b = label_bounds(s)
    lo, hi, closed = b["lo"].to_numpy(), b["hi"].to_numpy(), b["closed"].to_numpy(dtype=bool)
    hi = np.where((lo == hi) & (lo >= top), np.inf, hi)  # a plain 90 is the top code itself
    reaches = (hi > top) | ((hi == top) & closed)
    return bool(((reaches & np.isfinite(hi)) | (np.isinf(hi) & (lo > top))).any())


def _check_masked(s: pd.Series, c: str, code: str, found: dict) -> None:
    v = s.dropna()
    if len(v) == 0:
        return
    masked = is_masked(v)
    if masked.all():
        return
    has_mask = on_distinct(v, lambda u: u.astype("str").str.contains(r"[\*#]|X{2,}", regex=True))
    if has_mask.any():
        found[code].append((c, "masking keeps parts of the identifier (HHS guidance: parts or "
                               "derivatives of identifiers are identifiers)"))
    else:
        found[code].append((c, "identifier values are released"))


def _check_address(s: pd.Series, c: str, found: dict) -> None:
    v = norm_text(s.dropna())
    if len(v) == 0 or is_masked(s.dropna()).all():
        return
    if v.isin(US_STATES | {"*"}).all():
        return  # state level is allowed
    found["B"].append((c, "geographic units smaller than a state (street, city) are released"))


def _check_zip(s: pd.Series, c: str, found: dict) -> None:
    v = pd.Series(pd.unique(s.dropna().astype("str").str.strip()), dtype="str")  # any() over distinct labels
    if len(v) == 0:
        return
    b = label_bounds(v)
    ranged = (b["lo"] < b["hi"]).to_numpy() & np.isfinite(b["lo"].to_numpy())
    if ranged.any():
        _check_zip_ranges(b[ranged], c, found)
        v = v[~ranged]
    digits = v.str.extract(r"^(\d*)")[0].fillna("")
    if (digits.str.len() > 3).any() or (v.str.replace(r"\D", "", regex=True).str.len() > 3).any():
        found["B"].append((c, "ZIP codes keep more than their first three digits"))
    zip3 = digits.str.slice(0, 3)
    if zip3.isin(RESTRICTED_ZIP3).any():
        found["B"].append((c, "a restricted 3-digit ZIP prefix (area of 20,000 people or fewer) is not "
                              "replaced by 000"))


def _check_zip_ranges(b: pd.DataFrame, c: str, found: dict) -> None:
    """ZIP intervals (Mondrian ``[2100-2199]``) pass only as unions of whole unrestricted 3-digit areas."""
    lo, hi, closed = b["lo"].to_numpy(), b["hi"].to_numpy(), b["closed"].to_numpy(dtype=bool)
    last = np.where(closed, hi, hi - 1)  # last ZIP the interval includes
    whole = (lo % 100 == 0) & ((last % 100 == 99) | np.isinf(hi))
    if not whole.all():
        found["B"].append((c, "ZIP intervals are narrower than whole three-digit ZIP areas"))
    one = (lo // 100 == last // 100) & whole
    zip3 = pd.Series((lo[one] // 100).astype(int).astype(str)).str.zfill(3)
    if zip3.isin(RESTRICTED_ZIP3).any():
        found["B"].append((c, "a restricted 3-digit ZIP area (20,000 people or fewer) is released as an "
                              "interval instead of 000"))


def _check_date(frame: pd.DataFrame, c: str, found: dict, ref_year: int) -> None:
    s = frame[c]
    if pd.api.types.is_datetime64_any_dtype(s):
        if s.notna().any():
            found["C"].append((c, "full dates (day and month) are released"))
        return
    t = pd.Series(pd.unique(norm_text(s.dropna())), dtype="str")
    if t.str.fullmatch(r"\d{4}-(\d{2}(-\d{2})?|q[1-4])").any():
        found["C"].append((c, "dates keep month, quarter or day"))
        return
    b = label_bounds(s.dropna())
    lo, hi = b["lo"].to_numpy(), b["hi"].to_numpy()
    ranged = np.isfinite(lo) & np.isfinite(hi) & (lo < hi)
    if (ranged & ((lo < 1000) | (hi > 2999) | (lo != np.round(lo)) | (hi != np.round(hi)))).any():
        found["C"].append((c, "date intervals have bounds finer than a year (day or month numbers)"))
    if _BIRTH_NAME.search(str(c)):
        years = _earliest_year(s)
        ref = pd.Series(ref_year, index=s.index, dtype=float)
        others = [o for o in frame.columns if o != c and _is_date_like(frame[o])]
        if others:
            per_row = pd.concat([_first_year(frame[o]) for o in others], axis=1).max(axis=1)
            ref = per_row.fillna(ref_year)
        if ((ref - years) >= 90).any():
            found["C"].append((c, "years of birth indicate ages over 89 (must be aggregated)"))


def _is_date_like(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s):
        return False
    t = norm_text(s.dropna().head(200))
    return len(t) > 0 and bool(t.str.fullmatch(_YEARS.pattern).all())


def _first_year(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.year.astype(float)
    return on_distinct(s, lambda u: pd.to_numeric(norm_text(u).str.extract(_YEARS.pattern)[0], errors="coerce"))


def _earliest_year(s: pd.Series) -> pd.Series:
    """Earliest calendar year a label allows (``1930s`` and ``[1930-1948]`` → 1930): a label that
    includes anyone born 90 or more years before the reference year indicates an age over 89."""
    lo = label_bounds(s)["lo"]
    return lo.where(np.isfinite(lo)).fillna(_first_year(s))


def _scan_values(s: pd.Series, c: str, found: dict) -> None:
    distinct = pd.Series(pd.unique(s.dropna().astype("str")), dtype="str")
    if len(distinct) == 0:
        return
    for code, what, rx in VALUE_PATTERNS:
        if distinct.str.contains(rx.pattern, regex=True).any():
            found[code].append((c, f"values match the {what}"))


def _column_name_identifier(name: str) -> bool:
    return any(rx.search(name) for code, _, rx in VALUE_PATTERNS if code in ("G", "D", "F"))
