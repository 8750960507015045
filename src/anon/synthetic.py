"""Synthetic releases: ``anon=dp_synthetic`` (MST, (ε, δ)-DP) and ``anon=synthetic`` (Gaussian copula, no DP).

The synthesizer learns the *patient-level table* (``privhealth.anon.patient_table``: static
columns, time-varying numbers as their mean over the prediction window) after the identifier
decisions below, samples as many synthetic patients as the source has, and writes them in the
source's layout with one row per synthetic patient, so that the same privacy measurement,
attacks and models read it:

* direct identifiers (names, SSN, MRN, address, phone, e-mail) are dropped, never synthesized,
  and the entity column holds fresh codes ``SYN000001`` … that carry nothing of any ID; of the
  time columns only the first (``bloc``) is kept, set to its first value;
* quasi-identifiers named in ``coarsen`` are generalized first (ZIP → 3 digits, date of birth →
  year, admission → month), so no full ZIP or date can be copied from a raw record; other
  datetime columns are coarsened to the month;
* for MST, numbers are cut into ``bins`` equal-width bins over ``bounds`` (default: the data's
  range, see docs/synthetic.md) and decoded uniformly within the bin; integers are rounded.

Each synthetic patient is placed in the *slot* of one source patient with the same label
(sorted by label, at random within a label) and takes that patient's first row index. Slots are
pipeline bookkeeping, never released (the exported release drops the index and the rows are
in sampling order): they let the folds, the scorer and the attacks, which join a release to
its source by row index, run unchanged. A synthetic record is not its slot's patient: what the
attacks find through a slot is chance, which is the point being measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.copula import gaussian_copula
from privhealth.anon.mst import cdp_rho, mst
from privhealth.anon.patient_table import patient_table, time_order
from privhealth.anon.recipe import Recipe
from privhealth.anon.release import Release, make_release
from privhealth.anon.transforms import DropColumns, Generalizer, RandomCode
from privhealth.data.schema import Dataset, Kind
from privhealth.errors import ConfigError

METHODS = ("mst", "copula")
NAN_CODE = "__nan__"
MONTH = {"type": "dates", "levels": ["month"]}


class Encoding:
    """Per-column integer codes of the patient table (categories, or numeric bins) and their inverse."""

    def __init__(self, table: pd.DataFrame, discrete: Sequence[str], bins: int,
                 bounds: Mapping[str, Sequence[float]] | None = None) -> None:
        self.discrete = [c for c in table.columns if c in discrete]
        self.numeric = [c for c in table.columns if c not in self.discrete]
        self.categories: dict[str, np.ndarray] = {}
        self.edges: dict[str, np.ndarray] = {}
        for c in self.discrete:
            vals = table[c].astype(object).where(table[c].notna(), NAN_CODE)
            self.categories[c] = np.array(sorted(pd.unique(vals), key=str), dtype=object)
        for c in self.numeric:
            lo, hi = (bounds or {}).get(c) or (np.nanmin(table[c]), np.nanmax(table[c]))
            if not np.isfinite(lo) or not np.isfinite(hi):
                lo, hi = 0.0, 1.0
            self.edges[c] = np.linspace(float(lo), float(hi) if hi > lo else float(lo) + 1.0, bins + 1)
        self.has_missing = {c: bool(table[c].isna().any()) for c in self.numeric}

    def sizes(self) -> dict[str, int]:
        """Number of codes per column (a numeric column with missing values has a last code 'missing')."""
        return {**{c: len(v) for c, v in self.categories.items()},
                **{c: len(e) - 1 + self.has_missing[c] for c, e in self.edges.items()}}

    def codes(self, table: pd.DataFrame, numeric_too: bool = True) -> pd.DataFrame:
        """Codes of ``table``: categories by position; numbers by bin (or kept, ``numeric_too=False``)."""
        out = {}
        for c in self.discrete:
            vals = table[c].astype(object).where(table[c].notna(), NAN_CODE).astype(str)
            out[c] = pd.Index(self.categories[c].astype(str)).get_indexer(vals)
        for c in self.numeric:
            v = table[c].to_numpy(dtype=np.float64)
            if not numeric_too:
                out[c] = v
                continue
            e = self.edges[c]
            b = np.clip(np.searchsorted(e, np.clip(v, e[0], e[-1]), side="right") - 1, 0, len(e) - 2)
            out[c] = np.where(np.isnan(v), len(e) - 1, b)
        return pd.DataFrame(out, index=table.index)[list(table.columns)]

    def decode(self, codes: pd.DataFrame, rng: np.random.Generator, binned: bool = True) -> pd.DataFrame:
        """Values of codes: categories back; bins to a uniform value within the bin (NaN for 'missing')."""
        out: dict[str, Any] = {}
        for c in self.discrete:
            vals = self.categories[c][np.clip(codes[c].to_numpy(dtype=np.int64), 0, len(self.categories[c]) - 1)]
            out[c] = pd.Series(vals, dtype=object).replace({NAN_CODE: np.nan}).to_numpy()
        for c in self.numeric:
            if not binned:
                out[c] = codes[c].to_numpy(dtype=np.float64)
                continue
            e = self.edges[c]
            b = codes[c].to_numpy(dtype=np.int64)
            miss = b >= len(e) - 1
            b = np.minimum(b, len(e) - 2)
            out[c] = np.where(miss, np.nan, e[b] + rng.random(b.size) * (e[b + 1] - e[b]))
        return pd.DataFrame(out)[list(codes.columns)]


def label_codes(source: pd.Series, synth: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The two label columns as joint integer codes (missing labels as their own code)."""
    both = pd.concat([source, synth], ignore_index=True)
    if pd.api.types.is_numeric_dtype(source) and pd.api.types.is_numeric_dtype(synth):
        both = both.astype(np.float64)
    codes, _ = pd.factorize(both.astype(object).where(both.notna(), NAN_CODE).astype(str), sort=True)
    return codes[: len(source)], codes[len(source):]


def slot_positions(y_source: np.ndarray, y_synth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each synthetic record, the position of the source patient whose slot it takes.

    Both sides are sorted by label (ties at random) and paired in that order, so the number of
    records placed with a patient of another label is the difference in label counts.
    Example: source labels [0, 1, 0], synthetic [1, 0, 0] → synthetic 0 takes source 1.
    """
    src = np.lexsort((rng.random(y_source.size), y_source))
    syn = np.lexsort((rng.random(y_synth.size), y_synth))
    pos = np.empty(y_synth.size, dtype=np.int64)
    pos[syn] = src
    return pos


class SyntheticAnonymizer:
    """Releases synthetic patients learnt from the source: MST (DP) or a Gaussian copula (no DP)."""

    def __init__(
        self,
        method: str = "mst",
        name: str | None = None,
        epsilon: float | None = None,
        delta: float | None = None,
        window_blocs: int = 6,
        bins: int = 16,
        max_categories: int = 1000,
        coarsen: Mapping[str, Mapping[str, Any]] | None = None,
        bounds: Mapping[str, Sequence[float]] | None = None,
        iters: int = 2000,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"anon.method must be one of {METHODS} (got {method!r})")
        if method == "mst":
            if epsilon is None or isinstance(epsilon, bool) or not float(epsilon) > 0:
                raise ConfigError(f"anon.epsilon must be a number > 0 for anon=dp_synthetic (got {epsilon!r})")
            if delta is not None and not 0 < float(delta) < 1:
                raise ConfigError(f"anon.delta must be in (0, 1) or null for 1/n² (got {delta!r})")
        elif epsilon is not None:
            raise ConfigError("anon=synthetic (Gaussian copula) has no privacy budget: anon.epsilon must be null")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ConfigError(f"anon.bins must be an integer >= 2 (got {bins!r})")
        self.method = method
        self.name = name or ("dp_synthetic" if method == "mst" else "synthetic")
        self.epsilon = None if epsilon is None else float(epsilon)
        self.delta = None if delta is None else float(delta)
        self.window = int(window_blocs)
        self.bins = bins
        self.max_categories = int(max_categories)
        self.coarsen = {str(c): dict(s) for c, s in (coarsen or {}).items()}
        self.bounds = {str(c): list(b) for c, b in (bounds or {}).items()}
        self.iters = int(iters)
        self.seed = int(seed)

    # ------------------------------------------------------------------ steps
    def _coarsener(self, dataset: Dataset) -> Generalizer | None:
        frame, schema = dataset.frame, dataset.schema
        specs = {c: s for c, s in self.coarsen.items() if c in frame.columns}
        for c in schema:
            if c.kind is Kind.DATETIME and c.role.value not in ("time", "direct", "entity") and c.name not in specs:
                specs[c.name] = MONTH
        return Generalizer(specs, {c: 1 for c in specs}).fit(frame) if specs else None

    def _discrete(self, table: pd.DataFrame, dataset: Dataset) -> list[str]:
        """Columns synthesized as categories: text, binary, or at most ``bins`` distinct numbers."""
        kinds = {c.name: c.kind for c in dataset.schema}
        out = []
        for c in table.columns:
            s = table[c]
            numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            if not numeric or kinds.get(c) is Kind.BINARY or s.nunique(dropna=True) <= self.bins:
                out.append(c)
                if not numeric and s.nunique() > self.max_categories and self.method == "mst":
                    raise ConfigError(
                        f"column '{c}' has {s.nunique()} categories (anon.max_categories={self.max_categories}): "
                        f"coarsen it (anon.coarsen.{c}) or drop it before synthesis"
                    )
        return out

    def _synthesize(self, table: pd.DataFrame, enc: Encoding, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if self.method == "mst":
            codes = mst(enc.codes(table), enc.sizes(), float(self.epsilon or 0), self._delta(n),
                        seed=int(rng.integers(2**31)), n_rows=n, iters=self.iters)
            return enc.decode(codes, rng)
        codes = gaussian_copula(enc.codes(table, numeric_too=False), enc.discrete, n, seed=int(rng.integers(2**31)))
        return enc.decode(codes, rng, binned=False)

    def _delta(self, n: int) -> float:
        return self.delta if self.delta is not None else 1.0 / max(n, 2) ** 2

    # ------------------------------------------------------------------ the release
    def anonymize(self, dataset: Dataset) -> Release:
        schema, frame = dataset.schema, dataset.frame
        entity, target = schema.entity, schema.target
        if entity is None or target is None:
            raise ConfigError(f"anon={self.name} needs an entity and a target column in '{dataset.name}'")
        time = [t for t in schema.time if t in frame.columns]
        direct = [c for c in schema.direct if c in frame.columns]
        rng = np.random.default_rng(self.seed)
        coarsener = self._coarsener(dataset)
        source = coarsener.transform(frame) if coarsener is not None else frame
        cols = [c for c in frame.columns if c not in (entity, *time, *direct)]
        table, window = patient_table(source, entity, time, self.window, cols)
        n = len(table)
        enc = Encoding(table, self._discrete(table, dataset), self.bins, self.bounds)
        synth = self._synthesize(table, enc, n, rng)
        synth = _with_types(synth, table, dataset)

        firsts = time_order(frame[[entity, *time]], entity, time).groupby(entity, sort=False).head(1)
        first_row = pd.Series(firsts.index, index=firsts[entity].to_numpy()).reindex(table.index)
        y_src, y_syn = label_codes(table[target], synth[target])
        pos = slot_positions(np.asarray(y_src), np.asarray(y_syn), rng)
        out = synth.copy()
        out.index = pd.Index(first_row.to_numpy()[pos], name=frame.index.name)
        out.insert(0, entity, [f"SYN{i + 1:06d}" for i in range(n)])
        keep_time = time[:1]
        for t in keep_time:
            out.insert(1, t, frame[t].min())
        out = out[[c for c in frame.columns if c in out.columns]]
        mismatched = int((np.asarray(y_src)[pos] != np.asarray(y_syn)).sum())

        dropped = [*direct, *time[1:]]
        steps: list[Any] = [window]
        if coarsener is not None:
            steps.append(coarsener)
        steps += [DropColumns(dropped, missing_ok=True), RandomCode([entity], prefix="SYN", seed=self.seed)]
        describe = [
            {"step": "DropColumns", "columns": dropped, "why": "direct identifiers and extra time columns: never synthesized"},
            {"step": "PatientTable", "window_blocs": self.window, "varying": list(window.columns or [])},
            {"step": "Coarsen", "columns": sorted(coarsener.levels) if coarsener else []},
            {"step": "Synthesize", "method": self.method, "bins": self.bins,
             "discrete": enc.discrete, "numeric": enc.numeric},
        ]
        details: dict[str, Any] = {"synthetic": {"method": self.method, "n_synthetic": n,
                                                 "slots_other_label": mismatched,
                                                 "bounds_from_data": [c for c in enc.numeric if c not in self.bounds]}}
        if self.method == "mst":
            delta = self._delta(n)
            details["dp"] = {"epsilon": self.epsilon, "delta": delta, "rho": cdp_rho(float(self.epsilon or 0), delta),
                             "mechanism": "MST (zCDP, mbi)"}
        return make_release(dataset, out, self.name, describe, recipe=Recipe(steps), **details)


def _with_types(synth: pd.DataFrame, table: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """Synthetic columns in the table's types: integer kinds rounded (int64 when complete), text as str."""
    kinds = {c.name: c.kind for c in dataset.schema}
    out = synth.copy()
    for c in out.columns:
        t = table[c]
        if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t):
            v = pd.to_numeric(out[c], errors="coerce").astype(np.float64)
            if kinds.get(c) in (Kind.INTEGER, Kind.BINARY) and pd.api.types.is_integer_dtype(t):
                v = v.round()
                out[c] = v.astype(np.int64) if v.notna().all() else v
            else:
                out[c] = v
        else:
            out[c] = out[c].astype("str").where(out[c].notna(), None) if t.dtype == object or \
                pd.api.types.is_string_dtype(t) else out[c]
    return out
