"""Pseudonym reversal: a dictionary attack on hash pseudonyms by someone who knows the scheme.

The attacker reads the release, sees columns of the form ``prefix + hex`` (e.g. ``P3fa9…``,
16 hex characters), and knows (or guesses, as Kerckhoffs' principle says they may) that
they are truncated SHA-256 digests of the original IDs. Without the key they can still
enumerate the plausible ID space (every integer between the lowest and highest ID of the
source's ID format, zero-padded to its width; or every value of that column in their
auxiliary register) and hash each candidate: with an unkeyed hash every pseudonym falls;
with HMAC under a secret key none does, unless the key is among the guessed weak keys.

The space is enumerated completely when it holds at most ``max_candidates`` values;
otherwise a uniform random subset of that size is hashed, what it recovers is counted (a
measured lower bound) and the full-enumeration rate is extrapolated beside it. Python hashes
about 2 million candidates a second; a GPU cracker does billions, so the budget bounds this
measurement, not the attacker.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.common import (
    Alignment,
    int_text,
    patient_view,
    pseudonym_shape,
    source_patients,
)
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError


@dataclass
class ColumnReversal:
    """The outcome for one pseudonymized column (counts only)."""

    column: str
    dictionary: str
    space_size: int
    enumerated: int
    complete: bool
    n_pseudonyms: int
    n_reversed: int
    n_correct: int
    patients_recovered: int
    matched_scheme: str
    estimated_full_rate: float


@dataclass
class ReversalResult:
    """All columns attacked, and the (patient, field) pairs recovered."""

    columns: list[ColumnReversal]
    recovered: pd.DataFrame  # (entity, field)
    skipped: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [asdict(c) for c in self.columns],
            "recovered_pairs": len(self.recovered),
            "skipped": self.skipped,
        }


def _digest(candidate: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(candidate).hexdigest()
    return hmac.new(key, candidate, hashlib.sha256).hexdigest()


def reversal_attack(
    source: Dataset,
    release: Release,
    alignment: Alignment,
    fields: Sequence[str],
    *,
    population: pd.DataFrame | None = None,
    max_candidates: int = 2_000_000,
    bounds: Mapping[str, Sequence[int]] | None = None,
    guessed_keys: Sequence[str] = (),
    seed: int = 0,
) -> ReversalResult:
    """Try to reverse every released identifier column that looks like hash pseudonyms."""
    if int(max_candidates) < 1:
        raise ConfigError(f"attack setting 'reversal_max_candidates' must be >= 1, got {max_candidates}")
    bounds = dict(bounds or {})
    unknown = sorted(set(bounds) - set(fields))
    if unknown:
        raise ConfigError(f"attack setting 'reversal_bounds' names non-identifier column(s) {unknown}")
    keys: list[tuple[str, bytes | None]] = [("sha256", None)]
    keys += [(f"hmac-sha256 with guessed key #{i + 1}", k.encode()) for i, k in enumerate(guessed_keys)]
    released = patient_view(release.frame, alignment.row_entity)
    truth = source_patients(source).loc[released.index]
    rng = np.random.default_rng(seed)
    results, recovered, skipped = [], [], {}
    for col in fields:
        if col not in release.frame.columns:
            continue
        shapes = pseudonym_shape(release.frame[col])
        if not shapes:
            continue
        cands, label, space, complete = _dictionary(
            col, source, population, bounds.get(col), int(max_candidates), rng
        )
        if cands is None:
            skipped[col] = label
            continue
        found, scheme = _crack(released[col], shapes, cands, keys)
        pseud = released[col].astype("str")
        back = pseud.map(found)
        true_text = _canonical_text(truth[col])
        correct = back.notna() & (back == true_text)
        n_pseud = int(pseud.nunique())
        n_rev = len(found)  # every cracked pseudonym is a released one
        n_ok = int(pseud[correct].nunique())
        frac = len(cands) / space if space else 1.0
        est = min(1.0, n_ok / n_pseud / frac) if n_pseud and frac > 0 else 0.0
        results.append(
            ColumnReversal(col, label, int(space), len(cands), complete, n_pseud, n_rev, n_ok,
                           int(correct.sum()), scheme, float(est))
        )
        recovered.append(pd.DataFrame({"entity": released.index[correct.to_numpy()], "field": col}))
    rec = pd.concat(recovered, ignore_index=True) if recovered else pd.DataFrame(columns=["entity", "field"])
    return ReversalResult(results, rec, skipped)


def _canonical_text(s: pd.Series) -> pd.Series:
    """The text a pseudonymizer hashes: integral numbers without '.0', strings stripped."""
    if pd.api.types.is_numeric_dtype(s):
        return int_text(s)
    return s.astype("str").str.strip()


def _dictionary(
    col: str,
    source: Dataset,
    population: pd.DataFrame | None,
    bound: Sequence[int] | None,
    budget: int,
    rng: np.random.Generator,
) -> tuple[list[str] | None, str, int, bool]:
    """The attacker's candidate list for a column: an integer range, or register values."""
    s = pd.Series(pd.unique(source.frame[col].dropna()))
    text = _canonical_text(s).dropna()
    is_int = bool(text.str.fullmatch(r"\d+").all()) if len(text) else False
    if is_int:
        widths = text.str.len()
        padded = bool((text.str.startswith("0")).any()) and widths.nunique() == 1
        width = int(widths.iloc[0]) if padded else 0
        if bound is not None:
            if len(bound) != 2 or int(bound[0]) > int(bound[1]):
                raise ConfigError(f"attack setting 'reversal_bounds.{col}' must be [low, high] with low <= high")
            lo, hi = int(bound[0]), int(bound[1])
            label = "integer range (configured)"
        else:
            v = text.astype("int64")
            lo, hi = int(v.min()), int(v.max())
            label = "integer range of the ID format (observed low..high)"
        space = hi - lo + 1
        complete = space <= budget
        if complete:
            ints = np.arange(lo, hi + 1, dtype=np.int64)
        else:
            ints = lo + rng.choice(space, size=budget, replace=False).astype(np.int64)
        cands = ints.astype(str)
        if width:
            cands = np.strings.zfill(cands, width)
        return cands.tolist(), label, space, complete
    if population is not None and col in population.columns:
        vals = pd.unique(population[col].dropna().astype("str").str.strip())
        if len(vals) > budget:
            vals = rng.choice(vals, size=budget, replace=False)
        return list(vals), "values of the auxiliary register", len(vals), True
    return None, "no plausible dictionary (not integer IDs, not in the auxiliary register)", 0, False


def _crack(
    pseudonyms: pd.Series,
    shapes: list[tuple[str, int]],
    candidates: list[str],
    keys: list[tuple[str, bytes | None]],
) -> tuple[dict[str, str], str]:
    """Pseudonym → candidate for every candidate whose digest matches, under each guessed scheme."""
    values = pd.unique(pseudonyms.dropna().astype("str"))
    tables = [(p, n, {v[len(p):]: v for v in values}) for p, n in shapes]
    found: dict[str, str] = {}
    matched = "none"
    for name, key in keys:
        hit = False
        for cand in candidates:
            d = _digest(cand.encode(), key)
            for _, n, table in tables:
                v = table.get(d[:n])
                if v is not None:
                    found.setdefault(v, cand)
                    hit = True
        if hit and matched == "none":
            matched = name
    return found, matched
