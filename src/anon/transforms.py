"""Anonymization transforms of the paper (Eq. 2-4 and masking), as small composable steps.

Each step follows scikit-learn's convention: ``fit(frame)`` learns what it needs from
the data (hierarchy domains, outlier bounds), ``transform(frame)`` returns a new frame
(the input is never modified; the index is kept so released rows stay aligned with
their source rows), ``fit_transform`` does both. ``RuleSet`` chains steps, like a
scikit-learn ``Pipeline``. All steps are vectorized: per-row work is done by pandas
string methods or array lookups, and keyed hashing runs once per distinct value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy, build_hierarchy
from privhealth.anon.step import Step
from privhealth.anon.step import require_columns as _require_columns
from privhealth.anon.suppression import CellSuppressor, OutlierSuppressor, SmallClassSuppressor  # noqa: F401
from privhealth.errors import ConfigError, SecretError

DEFAULT_KEY_ENV = "PRIVHEALTH_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16


# ---------------------------------------------------------------------- Eq. 2
def load_key(key_env: str | None = DEFAULT_KEY_ENV, key_file: str | Path | None = None) -> bytes:
    """The pseudonymization key: from the environment variable if set, else the key file.

    Never read from the logged config. A missing or short key is an error: there is no
    fallback to an unkeyed hash, which anyone can reverse by enumerating the ID space.
    """
    raw: bytes | None = None
    source = ""
    if key_env and os.environ.get(key_env):
        raw = os.environ[key_env].encode()
        source = f"environment variable {key_env}"
    elif key_file:
        p = Path(key_file)
        if p.is_file():
            raw = p.read_bytes().strip()
            source = f"key file {p}"
    if raw is None:
        where = " or ".join(
            x for x in (f"environment variable {key_env}" if key_env else "", f"key file {key_file}" if key_file else "") if x
        )
        raise SecretError(
            f"no pseudonymization key found (looked in {where or 'nowhere: no source configured'}); "
            f"set one, e.g. `export {key_env or DEFAULT_KEY_ENV}=$(python -c 'import secrets; "
            f"print(secrets.token_hex(32))')`. Pseudonyms are never made without a key."
        )
    if len(raw) < MIN_KEY_BYTES:
        raise SecretError(f"the pseudonymization key from {source} is shorter than {MIN_KEY_BYTES} bytes")
    return raw


class Pseudonymizer(Step):
    """Eq. 2, ID_pseudo = f(ID_real) with f = HMAC-SHA256 under a secret key.

    Deterministic (the same ID maps to the same pseudonym across tables and runs with
    the same key) and non-reversible without the key. Two unkeyed schemes exist for
    demonstrations only and require ``allow_unkeyed=True``: ``sha256`` (so the
    pseudonym-reversal attack can show why it must not be used) and ``sequential``
    (P1, P2, … by first appearance, as printed in the paper's Fig. 4).
    """

    def __init__(
        self,
        columns: Sequence[str],
        key_env: str | None = DEFAULT_KEY_ENV,
        key_file: str | None = None,
        prefix: str = "P",
        hex_chars: int = 16,
        scheme: str = "hmac-sha256",
        allow_unkeyed: bool = False,
    ) -> None:
        if scheme not in ("hmac-sha256", "sha256", "sequential"):
            raise ConfigError(
                f"Pseudonymizer: unknown scheme '{scheme}' (expected hmac-sha256; sha256 and "
                f"sequential exist for demonstrations only)"
            )
        if scheme != "hmac-sha256" and not allow_unkeyed:
            raise ConfigError(
                f"Pseudonymizer: scheme '{scheme}' is not keyed, so it can be reversed or linked "
                f"without a secret; it is only allowed with allow_unkeyed=true (attack "
                f"demonstrations, the paper's toy printout)"
            )
        if not 8 <= hex_chars <= 64:
            raise ConfigError("Pseudonymizer: hex_chars must be between 8 and 64")
        self.columns = list(columns)
        self.key_env = key_env
        self.key_file = key_file
        self.prefix = prefix
        self.hex_chars = int(hex_chars)
        self.scheme = scheme
        self._key: bytes | None = None

    def fit(self, frame: pd.DataFrame) -> Self:
        if self.scheme == "hmac-sha256":
            self._key = load_key(self.key_env, self.key_file)
        return self

    def pseudonyms(self, values: pd.Series) -> pd.Series:
        """Pseudonym of each value; hashing runs once per distinct value."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if self.scheme == "sequential":
            labels = np.array([f"{self.prefix}{i + 1}" for i in range(len(uniques))], dtype=object)
            out = np.where(codes >= 0, labels[np.maximum(codes, 0)] if len(labels) else None, None)
            return pd.Series(out, index=values.index, dtype="str")
        if self.scheme == "hmac-sha256":
            if self._key is None:
                self.fit(pd.DataFrame())
            key = self._key
            digests = [
                hmac.new(key, _canonical(u), hashlib.sha256).hexdigest()[: self.hex_chars]  # type: ignore[arg-type]
                for u in uniques
            ]
        else:
            digests = [hashlib.sha256(_canonical(u)).hexdigest()[: self.hex_chars] for u in uniques]
        labels = np.array([self.prefix + d for d in digests], dtype=object)
        if len(set(labels)) != len(labels):
            raise ConfigError(
                f"Pseudonymizer: pseudonym collision with hex_chars={self.hex_chars}; use more characters"
            )
        out = np.where(codes >= 0, labels[np.maximum(codes, 0)] if len(labels) else None, None)
        return pd.Series(out, index=values.index, dtype="str")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require_columns(frame, self.columns, "Pseudonymizer")
        out = frame.copy()
        for c in self.columns:
            out[c] = self.pseudonyms(frame[c])
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "Pseudonymizer", "columns": self.columns, "scheme": self.scheme}


def _canonical(value: Any) -> bytes:
    """One byte form per ID, so 101, 101.0 and '101' give the same pseudonym."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, np.integer | np.floating):
        return _canonical(value.item())
    return str(value).strip().encode()


# ---------------------------------------------------------------------- Safe Harbor helpers
# 3-digit ZIP prefixes whose areas held 20,000 people or fewer in the 2000 census: under HIPAA
# Safe Harbor (45 CFR 164.514(b)(2)(i)(B)) they must be released as 000.
RESTRICTED_ZIP3 = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
     "879", "884", "890", "893"}
)


class SafeHarborZip(Step):
    """ZIP codes cut to their first three digits, with the restricted prefixes replaced by ``000``."""

    def __init__(self, columns: Sequence[str], replacement: str = "000") -> None:
        self.columns = list(columns)
        self.replacement = str(replacement)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require_columns(frame, self.columns, "SafeHarborZip")
        out = frame.copy()
        for c in self.columns:
            if pd.api.types.is_numeric_dtype(frame[c]):  # 2215.0 → 02215
                digits = frame[c].round().astype("Int64").astype("str").str.zfill(5)
            else:
                digits = frame[c].astype("str").str.replace(r"\D", "", regex=True)
            zip3 = digits.str.slice(0, 3)
            short = zip3.str.len() < 3
            zip3 = zip3.mask(zip3.isin(RESTRICTED_ZIP3) | short, self.replacement)
            out[c] = zip3.where(frame[c].notna()).astype("str")
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "SafeHarborZip", "columns": self.columns}


class RandomCode(Step):
    """Replaces IDs by random codes not derived from them (45 CFR 164.514(c) re-identification codes).

    Each distinct value gets ``prefix`` + ``hex_chars`` random hex digits drawn from the
    operating system's entropy (or from ``seed``, for tests). No mapping is kept, so the codes
    link a patient's rows within this release only: they cannot be recomputed from the ID,
    unlike a keyed hash, and they do not follow the IDs' order, unlike sequential codes.
    """

    def __init__(self, columns: Sequence[str], prefix: str = "R", hex_chars: int = 16,
                 seed: int | None = None) -> None:
        if not 8 <= int(hex_chars) <= 32:
            raise ConfigError("RandomCode: hex_chars must be between 8 and 32")
        self.columns = list(columns)
        self.prefix = str(prefix)
        self.hex_chars = int(hex_chars)
        self.seed = seed

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require_columns(frame, self.columns, "RandomCode")
        rng = np.random.default_rng(self.seed)
        out = frame.copy()
        for c in self.columns:
            codes, uniques = pd.factorize(frame[c], use_na_sentinel=True)
            labels = self._labels(len(uniques), rng)
            vals = np.where(codes >= 0, labels[np.maximum(codes, 0)] if len(labels) else None, None)
            out[c] = pd.Series(vals, index=frame.index, dtype="str")
        return out

    def _labels(self, n: int, rng: np.random.Generator) -> np.ndarray:
        while True:
            raw = rng.integers(0, 256, size=(n, (self.hex_chars + 1) // 2), dtype=np.uint8)
            hexes = np.array([b.tobytes().hex()[: self.hex_chars] for b in raw], dtype=object)
            if len(set(hexes)) == n:  # a collision among 2^64 codes is all but impossible
                return np.array([self.prefix + h for h in hexes], dtype=object)

    def describe(self) -> dict[str, Any]:
        return {"step": "RandomCode", "columns": self.columns, "scheme": "random"}


# ---------------------------------------------------------------------- masking
class Masker(Step):
    """Format-aware masking: hide all or part of a value, keeping its shape where useful.

    Rules per column (``{column: {rule: ..., ...}}``):
    ``full`` (replace by ``char * width``, the paper's ``XXXX``), ``keep_last`` (n
    characters kept, the rest masked: 123-45-6789 → *******6789), ``ssn`` (the paper's
    example: → ``*-6789``), ``phone`` (digits but the last 4 masked, separators kept),
    ``email`` (local part masked, domain kept), ``regex`` (``pattern`` replaced by ``repl``).
    """

    RULES = ("full", "keep_last", "ssn", "phone", "email", "regex")

    def __init__(self, rules: Mapping[str, Mapping[str, Any] | str]) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        for col, spec in rules.items():
            spec = {"rule": spec} if isinstance(spec, str) else dict(spec)
            rule = spec.get("rule")
            if rule not in self.RULES:
                raise ConfigError(
                    f"Masker: column '{col}' has unknown rule '{rule}' (expected one of {', '.join(self.RULES)})"
                )
            if rule == "regex":
                if "pattern" not in spec:
                    raise ConfigError(f"Masker: column '{col}': rule 'regex' needs a 'pattern'")
                try:
                    re.compile(spec["pattern"])
                except re.error as exc:
                    raise ConfigError(f"Masker: column '{col}': invalid regex: {exc}") from None
            self.rules[col] = spec

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require_columns(frame, list(self.rules), "Masker")
        out = frame.copy()
        for col, spec in self.rules.items():
            out[col] = mask_series(frame[col], **spec)
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "Masker", "rules": {c: s["rule"] for c, s in self.rules.items()}}


def mask_series(s: pd.Series, rule: str, **opts: Any) -> pd.Series:
    """Apply one masking rule to a column (nulls stay null)."""
    text = s.astype("str")
    char = str(opts.get("char", "*"))
    if rule == "full":
        out = pd.Series(char * int(opts.get("width", 4)), index=s.index, dtype="str")
    elif rule == "keep_last":
        n = int(opts.get("n", 4))
        out = text.str.replace(rf".(?=.{{{n}}})", char, regex=True)
    elif rule == "ssn":
        digits = text.str.replace(r"\D", "", regex=True)
        out = char + "-" + digits.str.slice(-4)
    elif rule == "phone":
        n = int(opts.get("n", 4))
        # a digit followed by at least n more digits is masked; separators are kept
        out = text.str.replace(rf"\d(?=(?:\D*\d){{{n}}})", char, regex=True)
    elif rule == "email":
        out = text.str.replace(r"^[^@]*", char * int(opts.get("width", 4)), regex=True)
    else:  # regex
        out = text.str.replace(opts["pattern"], str(opts.get("repl", char)), regex=True)
    return out.where(s.notna(), None).astype("str")


# ---------------------------------------------------------------------- Eq. 3
class Generalizer(Step):
    """Eq. 3, v' = G(v): replace quasi-identifiers by their label at a hierarchy level.

    ``hierarchies`` maps columns to hierarchy specs (see ``build_hierarchy``) or ready
    ``Hierarchy`` objects; ``levels`` gives the level per column (0 = unchanged).
    Functional hierarchies (intervals, prefix, dates) are built for the values seen in
    ``fit``; a value met later that the hierarchy does not cover raises an error naming it.
    """

    def __init__(
        self,
        hierarchies: Mapping[str, Mapping[str, Any] | Hierarchy],
        levels: Mapping[str, int] | None = None,
    ) -> None:
        self.specs = dict(hierarchies)
        self.levels = {c: int(v) for c, v in (levels or {c: 1 for c in self.specs}).items()}
        unknown = set(self.levels) - set(self.specs)
        if unknown:
            raise ConfigError(f"Generalizer: level given for column(s) without a hierarchy: {sorted(unknown)}")
        self.hierarchies: dict[str, Hierarchy] = {}

    def fit(self, frame: pd.DataFrame) -> Self:
        _require_columns(frame, list(self.specs), "Generalizer")
        for col, spec in self.specs.items():
            h = spec if isinstance(spec, Hierarchy) else build_hierarchy(col, spec, frame[col])
            level = self.levels.get(col, 1)
            if not 0 <= level <= h.max_level:
                raise ConfigError(
                    f"Generalizer: level {level} for column '{col}' is outside its hierarchy's 0..{h.max_level}"
                )
            self.hierarchies[col] = h
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.hierarchies:
            raise ConfigError("Generalizer: transform called before fit")
        out = frame.copy()
        for col, h in self.hierarchies.items():
            level = self.levels.get(col, 1)
            if level == 0:
                continue
            vals = frame[col]
            notna = vals.notna()
            labels = np.full(len(vals), None, dtype=object)
            labels[notna.to_numpy()] = h.generalize(vals[notna], level)
            out[col] = pd.Series(labels, index=frame.index, dtype="str")
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "Generalizer", "levels": dict(self.levels)}


class DropColumns(Step):
    """Removes columns from the release (the strongest suppression)."""

    def __init__(self, columns: Sequence[str], missing_ok: bool = False) -> None:
        self.columns = list(columns)
        self.missing_ok = missing_ok

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.missing_ok:
            _require_columns(frame, self.columns, "DropColumns")
        return frame.drop(columns=[c for c in self.columns if c in frame.columns])

    def describe(self) -> dict[str, Any]:
        return {"step": "DropColumns", "columns": self.columns}


class RuleSet(Step):
    """An ordered chain of steps (like scikit-learn's Pipeline): fit each on the output of the previous."""

    def __init__(self, steps: Sequence[Step]) -> None:
        for i, s in enumerate(steps):
            if not isinstance(s, Step):
                raise ConfigError(f"RuleSet: step {i} is a {type(s).__name__}, not an anonymization step")
        self.steps = list(steps)

    def fit(self, frame: pd.DataFrame) -> Self:
        self.fit_transform(frame)
        return self

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame
        for s in self.steps:
            out = s.fit_transform(out)
        return out

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame
        for s in self.steps:
            out = s.transform(out)
        return out

    def describe(self) -> dict[str, Any]:
        return {"step": "RuleSet", "steps": [s.describe() for s in self.steps]}
