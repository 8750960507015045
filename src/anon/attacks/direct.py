"""Direct scan: raw identifier values that survive anywhere in the released table or its header.

The attacker simply reads the release. For every PII field of every source patient the scan
asks whether the field's value (normalized: case and whitespace folded, digits only for SSN,
phone, MRN and other numbers, ISO form for dates) is in the release. A (patient, field) pair
counts as *recovered* when the value is found

1. as a whole cell (exact) in one of that patient's own released rows, any column; or
2. embedded in a text cell of that patient's own rows (values of at least
   ``min_substring_len`` characters, matched on word boundaries; digit identifiers matched
   against the digit groups of the text, so ``ssn: 123-45-6789`` is found); or
3. anywhere else in a text or date column, or in a column name, when the value is held by
   that patient alone and the field is a unique identifier by nature (name, SSN, MRN, phone,
   e-mail, account, id, the stay id): such a value names its owner wherever it appears.

Numeric columns are searched for digit identifiers of at least ``min_numeric_digits`` digits,
and only in the patient's own rows: a charttime or a lab value may equal some other patient's
stay id or phone digits by chance, which is not a leak. Fragments (e.g. the last four digits
of an SSN or phone number kept by a mask) are reported as *partial* exposures, separately,
and count in Eq. 15 only if ``count_partial`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.common import (
    Alignment,
    date_text,
    digits,
    field_category,
    field_keys,
    int_text,
    key_index,
    member,
    norm_text,
    on_distinct,
    source_patients,
)
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError

# PII categories that identify a person by themselves, wherever the value appears.
UNIQUE_BY_NATURE = frozenset({"name", "ssn", "mrn", "phone", "email", "account", "id"})
# A run of digit groups separated by phone/SSN separators, not glued to letters or digits.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ \-\.\(\)/]{1,3}\d+)*(?![0-9A-Za-z])")
_DIGIT_LIKE = r"[\d \-\.\(\)/+]*\d[\d \-\.\(\)/+]*"
# Date-shaped text (2010-10, 2010-10-05, 10/05/2010) is a date, not a number to read digits from.
_DATE_SHAPED = re.compile(r"^\d{4}-\d{1,2}(?:-\d{1,2})?$|^\d{1,2}/\d{1,2}/\d{2,4}$")
MIN_UNIQUE_DIGITS = 8
PAIR_COLUMNS = ["entity", "field"]


@dataclass
class DirectScanResult:
    """Which PII fields the release exposes, for which patients (pairs stay internal)."""

    recovered: pd.DataFrame  # (entity, field): whole values found
    partial: pd.DataFrame  # (entity, field): fragments found, not counted unless configured
    per_field: dict[str, int]
    partial_per_field: dict[str, int]
    channels: dict[str, int]
    columns_with_hits: dict[str, int]
    n_identifier_column_names: int
    min_substring_len: int
    min_fragment_len: int

    def to_dict(self) -> dict[str, Any]:
        """Counts only: fields, channels and released column names, never values."""
        return {
            "recovered_pairs": len(self.recovered),
            "recovered_patients_per_field": self.per_field,
            "partial_pairs": len(self.partial),
            "partial_patients_per_field": self.partial_per_field,
            "pairs_by_channel": self.channels,
            "pairs_by_released_column": self.columns_with_hits,
            "column_names_holding_identifiers": self.n_identifier_column_names,
            "min_substring_len": self.min_substring_len,
            "min_fragment_len": self.min_fragment_len,
        }


@dataclass
class SourceKeys:
    """Long table of the source's PII: one row per (patient, field) with its comparison key."""

    table: pd.DataFrame  # entity, field, category, key, numkey, unique_ok
    fields: list[str]
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.table)


def source_keys(source: Dataset, fields: list[str]) -> SourceKeys:
    """The (patient, field) pairs present in the source: PII_total of Eq. 15."""
    people = source_patients(source)
    ent_col = source.schema.entity
    parts, cats = [], {}
    for f in fields:
        cat = field_category(source, f)
        cats[f] = cat
        keys = field_keys(people[f], cat)
        ok = keys.notna() & (keys.str.len() > 0)
        col = source.schema[f] if f in source.schema else None
        unique_ok = f == ent_col or (col is not None and col.pii in UNIQUE_BY_NATURE)
        parts.append(
            pd.DataFrame(
                {
                    "entity": people.index[ok.to_numpy()],
                    "field": f,
                    "category": cat,
                    "key": keys[ok].to_numpy(),
                    "unique_ok": unique_ok,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["entity", "field", "category", "key", "unique_ok"]
    )
    table["numkey"] = table["key"].where(table["category"] == "digits").str.lstrip("0")
    holders = table.groupby("key", sort=False)["entity"].transform("nunique")
    # short numbers (a 6-digit stay id) collide with other numbers by chance: own rows only
    short = (table["category"] == "digits") & (table["key"].str.len() < MIN_UNIQUE_DIGITS)
    table["unique_ok"] = table["unique_ok"].astype(bool) & (holders == 1) & ~short
    return SourceKeys(table, list(fields), cats)


class Searcher:
    """Finds identifier keys embedded in text: an n-gram index of text keys plus digit groups."""

    def __init__(self, text_keys: Iterable[str], digit_keys: Iterable[str], min_len: int) -> None:
        self.min_len = int(min_len)
        self.by_prefix: dict[str, list[str]] = {}
        for k in set(text_keys):
            if len(k) >= self.min_len:
                self.by_prefix.setdefault(k[: self.min_len], []).append(k)
        self.digit_keys = {k for k in digit_keys if len(k) >= self.min_len}

    def find(self, text: str) -> set[str]:
        out: set[str] = set()
        n, L = len(text), self.min_len
        if self.by_prefix:
            for i in range(n - L + 1):
                cands = self.by_prefix.get(text[i : i + L])
                if not cands:
                    continue
                for k in cands:
                    j = i + len(k)
                    if text.startswith(k, i) and _bounded(text, i, j):
                        out.add(k)
        if self.digit_keys:
            for groups in digit_runs(text, skip_dates=True):
                for a in range(len(groups)):  # every contiguous span of the run's groups
                    joined = ""
                    for b in range(a, len(groups)):
                        joined += groups[b]
                        if joined in self.digit_keys:
                            out.add(joined)
        return out


def _bounded(text: str, i: int, j: int) -> bool:
    return (i == 0 or not text[i - 1].isalnum()) and (j == len(text) or not text[j].isalnum())


def digit_runs(text: str, skip_dates: bool = False) -> list[list[str]]:
    """Digit groups of each separator-joined run of digits not glued to letters."""
    runs = (m.group() for m in _DIGIT_RUN.finditer(text))
    return [re.findall(r"\d+", r) for r in runs if not (skip_dates and _DATE_SHAPED.match(r))]


def _digit_like(v: pd.Series) -> pd.Series:
    """Values shaped like a digit identifier (separated digit groups) and not like a date."""
    out = v.str.fullmatch(_DIGIT_LIKE).fillna(False).astype(bool)
    return out & ~v.str.match(_DATE_SHAPED.pattern).fillna(False).astype(bool)


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_datetime64_any_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def _pairs(frame: pd.DataFrame, col: str, keys: pd.Series, entity: pd.Series) -> pd.DataFrame:
    """Distinct (entity, column, value) triples of one column, nulls dropped."""
    ok = keys.notna().to_numpy()
    out = pd.DataFrame({"entity": entity.to_numpy()[ok], "value": keys.to_numpy()[ok]})
    out = out.drop_duplicates(ignore_index=True)
    out["column"] = col
    return out


def scan_release(
    source: Dataset,
    release: Release,
    alignment: Alignment,
    keys: SourceKeys,
    *,
    min_substring_len: int = 6,
    min_numeric_digits: int = 6,
    min_fragment_len: int = 4,
) -> DirectScanResult:
    """The direct scan (module docstring): recovered and partially exposed (patient, field) pairs."""
    for name, v in (("min_substring_len", min_substring_len), ("min_numeric_digits", min_numeric_digits),
                    ("min_fragment_len", min_fragment_len)):
        if int(v) < 2:
            raise ConfigError(f"attack setting '{name}' must be >= 2, got {v}")
    frame = release.frame
    ent = alignment.row_entity
    S = keys.table
    keys_arr = S["key"].to_numpy(dtype=object)  # iterating an Arrow-backed column is slow
    cat = S["category"].to_numpy(dtype=object)
    text_keys = set(keys_arr[cat == "text"])
    digit_keys = set(keys_arr[cat == "digits"])
    all_keys = set(keys_arr)
    all_index, digit_index = key_index(all_keys), key_index(digit_keys)
    searcher = Searcher(text_keys, digit_keys, min_substring_len)
    hits: list[pd.DataFrame] = []

    # text columns: exact cells, digit-only form of digit-like cells, embedded values
    text_cols = _text_columns(frame)
    triples = [_pairs(frame, c, norm_text(frame[c]), ent) for c in text_cols]
    T = pd.concat(triples, ignore_index=True) if triples else pd.DataFrame(columns=["entity", "value", "column"])
    exact = T[member(T["value"], all_index)]
    hits.append(exact.assign(key=exact["value"], channel="exact", numeric=False))
    digit_like = on_distinct(T["value"], _digit_like)
    dl = T[digit_like.to_numpy()].assign(key=lambda d: digits(d["value"]))
    dl = dl[member(dl["key"], digit_index) & (dl["key"] != dl["value"]).to_numpy()]
    hits.append(dl.assign(channel="exact", numeric=False))
    distinct = pd.unique(T["value"].to_numpy())
    found = [(v, k) for v in distinct if len(v) >= min_substring_len for k in searcher.find(v) if k != v]
    if found:
        emb = pd.DataFrame(found, columns=["value", "key"])
        emb = T.merge(emb, on="value")
        hits.append(emb.assign(channel="embedded", numeric=False))

    # date columns: ISO day against date fields
    for c in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c]):
            d = _pairs(frame, c, date_text(frame[c]), ent)
            d = d[member(d["value"], all_index)]
            hits.append(d.assign(key=d["value"], channel="exact", numeric=False))

    # numeric columns: integral values against long digit identifiers, own rows only
    num = S[(S["category"] == "digits") & (S["key"].str.len() >= min_numeric_digits)]
    numkeys = key_index(num["numkey"].dropna())
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and len(numkeys):
            vals = int_text(s)
            vals = vals.where(member(vals, numkeys))
            if vals.notna().any():
                d = _pairs(frame, c, vals, ent)
                d = d.merge(num[["numkey", "key"]].drop_duplicates(), left_on="value", right_on="numkey")
                hits.append(d.drop(columns="numkey").assign(channel="numeric", numeric=True))

    # column names: exact or embedded, attributable only through unique identifiers
    names = norm_text(pd.Series([str(c) for c in frame.columns], dtype="str"))
    name_hits: list[Any] = []
    for n in names:
        ks = ({n} & all_keys) | searcher.find(n)
        name_hits.extend(ks)
    n_name_cols = int(sum(1 for n in names if ({n} & all_keys) or searcher.find(n)))
    if name_hits:
        hits.append(pd.DataFrame({"entity": None, "value": None, "column": "<column name>",
                                  "key": name_hits, "channel": "column_name", "numeric": False}))

    H = pd.concat([h for h in hits if len(h)], ignore_index=True) if any(len(h) for h in hits) else None
    recovered = _attribute(H, S)
    partial = _fragments(T, S, recovered, min_fragment_len, set(keys.fields))
    return DirectScanResult(
        recovered=recovered[PAIR_COLUMNS],
        partial=partial,
        per_field=_per_field(recovered, keys.fields),
        partial_per_field=_per_field(partial, keys.fields),
        channels={str(k): int(v) for k, v in recovered.groupby("channel").size().items()},
        columns_with_hits={
            str(k): int(v)
            for k, v in recovered.drop_duplicates([*PAIR_COLUMNS, "column"]).groupby("column").size().items()
        },
        n_identifier_column_names=n_name_cols,
        min_substring_len=int(min_substring_len),
        min_fragment_len=int(min_fragment_len),
    )


def _attribute(H: pd.DataFrame | None, S: pd.DataFrame) -> pd.DataFrame:
    """Turn released hits into recovered (entity, field) pairs by the own-row and unique rules."""
    cols = [*PAIR_COLUMNS, "channel", "column"]
    if H is None or H.empty:
        return pd.DataFrame(columns=cols)
    own_h = H[H["entity"].notna()].astype({"entity": S["entity"].dtype})
    own = own_h.merge(S[["entity", "key", "field"]], on=["entity", "key"])
    own = own.assign(channel=own["channel"].where(own["channel"] != "numeric", "exact"))
    own = own.assign(channel="own_" + own["channel"])
    uniq = S[S["unique_ok"]][["entity", "key", "field"]].rename(columns={"entity": "owner"})
    far = H[~H["numeric"].astype(bool)].merge(uniq, on="key")
    far = far[far["entity"].isna() | (far["entity"] != far["owner"])]
    far = far.assign(
        entity=far["owner"],
        channel=np.where(far["channel"] == "column_name", "column_name", "unique_elsewhere"),
    )
    both = pd.concat([own[cols], far[cols]], ignore_index=True)
    # one channel per pair: own-row evidence first
    order = {"own_exact": 0, "own_embedded": 1, "unique_elsewhere": 2, "column_name": 3}
    both = both.assign(_o=both["channel"].map(order)).sort_values("_o", kind="stable")
    return both.drop_duplicates(PAIR_COLUMNS).drop(columns="_o").reset_index(drop=True)


def _fragments(
    T: pd.DataFrame, S: pd.DataFrame, recovered: pd.DataFrame, min_len: int, fields: set[str]
) -> pd.DataFrame:
    """Digit fragments (>= min_len digits) of a patient's own digit identifiers in its own text cells.

    A fragment counts for field f when found in the released column f itself (a mask that kept
    the last digits) or in a column that is no PII field (free text): the last four digits of a
    phone number are not a fragment of the MRN just because they happen to occur in it.
    """
    empty = pd.DataFrame(columns=PAIR_COLUMNS)
    if T.empty:
        return empty
    distinct = pd.unique(T["value"].to_numpy())
    groups = [(v, g) for v in distinct for run in digit_runs(v) for g in run if len(g) >= min_len]
    if not groups:
        return empty
    G = T.merge(pd.DataFrame(groups, columns=["value", "group"]), on="value")[["entity", "column", "group"]]
    G = G.drop_duplicates().merge(S.loc[S["category"] == "digits", ["entity", "field", "key"]], on="entity")
    G = G[(G["column"] == G["field"]) | ~G["column"].isin(fields)]
    hit = np.fromiter((g in k and g != k for g, k in zip(G["group"], G["key"], strict=True)), bool, len(G))
    out = G.loc[hit, PAIR_COLUMNS].drop_duplicates()
    done = pd.MultiIndex.from_frame(recovered[PAIR_COLUMNS]) if len(recovered) else None
    if done is not None:
        out = out[~pd.MultiIndex.from_frame(out).isin(done)]
    return out.reset_index(drop=True)


def _per_field(pairs: pd.DataFrame, fields: list[str]) -> dict[str, int]:
    counts = pairs.groupby("field").size() if len(pairs) else pd.Series(dtype=int)
    return {f: int(counts.get(f, 0)) for f in fields}
