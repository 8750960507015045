"""Anonymeter's singling-out, linkability and inference evaluators on a release (Giomi et al. 2023).

Anonymeter measures what a release reveals about the records it was made from (``ori``)
*beyond* what it reveals about people it never saw (``control``, disjoint from ``ori``): each
risk is (attack rate on ori − attack rate on control) / (1 − control rate), with a Wilson
confidence interval. This module prepares the three tables on one row per patient in one
coding and runs the evaluators; it returns only rates and counts, never a data value.

The coding: ``ori`` and ``control`` (raw records) are mapped through the release's own recipe
(``Release.apply``: the same masks, generalized labels, window means and coarsening) and
``syn`` is the release itself, so all three share columns and labels. A generalized label
(``[50, 60)``, ``021**``, ``*-6789``) is a category, compared by equality; time-varying numbers
become the patient's mean over the first ``window`` blocs (``patient_table``). Code columns
(pseudonyms, random codes) are left out: they are unique by construction and no attacker can
code the raw records with the release's key. Worked example: a release equal to ``ori`` gives
risks near 1; a sample independent of ``ori`` and ``control`` gives risks near 0
(tests/test_anonymeter.py).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.leakage import risk_quasi
from privhealth.anon.patient_table import patient_table
from privhealth.anon.release import Release
from privhealth.anon.safe_harbor import code_columns
from privhealth.data.schema import Role
from privhealth.errors import ConfigError, PrivHealthError, SchemaError

KEYS = ("enabled", "n_attacks", "n_cols", "n_neighbors", "columns", "aux_cols", "secret",
        "confidence_level")
MISSING = "<missing>"  # the category of a missing label (anonymeter's encoders need no nulls)


@dataclass(frozen=True)
class AnonymeterSettings:
    """``attack.anonymeter`` (conf/attack/default.yaml): attacks per evaluator and the columns used.

    ``aux_cols``: the linkability attacker's two partial views (null: the quasi-identifiers vs the
    other columns); ``secret``: the inference target (null: the task's target); ``columns``: the
    columns compared (null: every column the release keeps but codes, entity and time). ori is
    never sampled down: singling-out queries come from every released record and succeed only on
    its own patient, so a smaller ori would dilute that risk.
    """

    enabled: bool = True
    n_attacks: int = 500
    n_cols: int = 3
    n_neighbors: int = 1
    columns: tuple[str, ...] | None = None
    aux_cols: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    secret: str | None = None
    confidence_level: float = 0.95

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> AnonymeterSettings:
        m = dict(m or {})
        unknown = sorted(set(m) - set(KEYS))
        if unknown:
            raise ConfigError(f"attack.anonymeter: unknown setting(s) {unknown}; known: {list(KEYS)}")
        if m.get("columns") is not None:
            m["columns"] = tuple(str(c) for c in m["columns"])
        aux = m.get("aux_cols")
        if aux is not None:
            if len(aux) != 2 or not all(isinstance(a, Sequence) and not isinstance(a, str) and a for a in aux):
                raise ConfigError("attack.anonymeter.aux_cols must be null or two non-empty lists of columns")
            m["aux_cols"] = (tuple(map(str, aux[0])), tuple(map(str, aux[1])))
        s = cls(**m)
        if not isinstance(s.enabled, bool):
            raise ConfigError(f"attack.anonymeter.enabled must be true or false (got {s.enabled!r})")
        for name, low in (("n_attacks", 10), ("n_cols", 1), ("n_neighbors", 1)):
            v = getattr(s, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"attack.anonymeter.{name} must be an integer >= {low} (got {v!r})")
        if not isinstance(s.confidence_level, int | float) or not 0 < s.confidence_level < 1:
            raise ConfigError(f"attack.anonymeter.confidence_level must be in (0, 1) (got {s.confidence_level!r})")
        return s


@dataclass
class Tables:
    """ori, syn and control on one row per patient in the release's coding, and the column roles."""

    ori: pd.DataFrame
    syn: pd.DataFrame
    control: pd.DataFrame
    quasi: list[str]
    other: list[str]
    secret: str
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it is not compared


def comparable_tables(release: Release, ori: pd.DataFrame, control: pd.DataFrame, window: int,
                      settings: AnonymeterSettings) -> Tables:
    """The three tables anonymeter compares (module doc): ``release`` made from ``ori``'s patients
    only, ``control`` raw records of other patients, both raw frames in the anonymizer's input layout."""
    schema = release.schema
    entity, time = schema.entity, list(schema.time)
    if entity is None:
        raise SchemaError("anonymeter needs an entity (patient) column in the release's schema")
    derived, random = code_columns(release)
    dropped = {c: "code" for c in [*derived, *random] if c in release.frame.columns}
    dropped |= {c: "entity/time" for c in [entity, *time] if c in release.frame.columns}
    cols = [c for c in release.frame.columns if c not in dropped]
    if settings.columns is not None:
        missing = [c for c in settings.columns if c not in cols]
        if missing:
            raise ConfigError(f"attack.anonymeter.columns: {missing} not among the release's comparable "
                              f"columns {cols}")
        dropped |= {c: "not in attack.anonymeter.columns" for c in cols if c not in settings.columns}
        cols = list(settings.columns)
    ori_ids, control_ids = set(ori[entity]), set(control[entity])
    if ori_ids & control_ids:
        raise PrivHealthError("anonymeter: the control patients must be disjoint from the release's patients")
    syn = _patients(release.frame, entity, time, window, cols)
    o = _patients(release.apply(ori), entity, time, window, cols)
    c = _patients(release.apply(control), entity, time, window, cols)
    keep = [k for k in cols if _informative(syn[k], o[k])]
    dropped |= {k: "constant" for k in cols if k not in keep}
    syn, o, c = (_encode(t[keep], keep) for t in (syn, o, c))
    quasi = [q for q in risk_quasi(release, release.frame, None) if q in keep]
    secret = settings.secret or schema.target
    if secret is None or secret not in keep:
        raise ConfigError(f"attack.anonymeter.secret: '{secret}' is not a compared column of the release "
                          f"({keep})")
    other = [k for k in keep if k not in quasi and k != secret and schema[k].role is not Role.DIRECT]
    return Tables(o, syn, c, quasi, other, secret, dropped)


def _patients(frame: pd.DataFrame, entity: str, time: list[str], window: int, cols: list[str]) -> pd.DataFrame:
    table, _ = patient_table(frame, entity, [t for t in time if t in frame.columns], window, cols)
    return table.reset_index(drop=True)


def _informative(*cols: pd.Series) -> bool:
    return any(s.nunique(dropna=False) > 1 for s in cols)


def _encode(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Numbers (and booleans, dates as days) as float, everything else as text categories."""
    out = {}
    for c in cols:
        s = table[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = (s - pd.Timestamp("1970-01-01")).dt.days.astype("float64")
        elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            out[c] = s.astype("float64")
        else:
            out[c] = s.astype(object).where(s.notna(), MISSING).astype(str).astype(object)
    return pd.DataFrame(out, index=table.index)


def evaluate(tables: Tables, settings: AnonymeterSettings, seed: int = 0) -> dict[str, float]:
    """Run the evaluators; ``risk/anonymeter_*`` (risk, CI, attack/baseline/control rates) and counts.

    ``risk/anonymeter_singling_out`` is the larger of the univariate and multivariate attacks
    (each also logged); linkability uses ``aux_cols`` (or quasi-identifiers vs other columns);
    inference guesses ``secret`` from every other compared column.
    """
    try:
        from anonymeter.evaluators import (
            InferenceEvaluator,
            LinkabilityEvaluator,
            SinglingOutEvaluator,
        )
    except ImportError as e:
        raise ConfigError("anonymeter is not installed (`make install` installs it, docs/risk.md); "
                          "or set attack.anonymeter.enabled=false") from e

    ori, syn, ctl = tables.ori, tables.syn, tables.control
    n = min(settings.n_attacks, len(ori), len(ctl))
    if n < 10:
        raise PrivHealthError(f"anonymeter needs at least 10 original and control patients (got "
                              f"{len(ori)} and {len(ctl)})")
    cl = settings.confidence_level
    out: dict[str, float] = {"risk/anonymeter_n_ori": float(len(ori)), "risk/anonymeter_n_control": float(len(ctl)),
                             "risk/anonymeter_n_attacks": float(n)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "attack as good or worse as baseline": a 0 risk
        so = {}
        for mode, n_cols in (("univariate", 1), ("multivariate", min(settings.n_cols, syn.shape[1]))):
            ev = SinglingOutEvaluator(ori=ori, syn=syn, control=ctl, n_attacks=n, n_cols=n_cols,
                                      seed=seed, max_attempts=50 * n)
            try:
                with _global_seed(seed):
                    ev.evaluate(mode=mode)
            except RuntimeError:  # anonymeter could not build n queries: too few distinct records
                continue
            so[mode] = _figures(ev, cl, f"risk/anonymeter_singling_out_{mode}")
            out |= so[mode]
        if so:
            best = max(so, key=lambda m: so[m][f"risk/anonymeter_singling_out_{m}"])
            out |= {k.replace(f"_{best}", ""): v for k, v in so[best].items()}
        aux = settings.aux_cols or (tables.quasi, tables.other)
        for side in aux:
            missing = [c for c in side if c not in ori.columns]
            if missing:
                raise ConfigError(f"attack.anonymeter.aux_cols: {missing} not compared (columns: {list(ori.columns)})")
        if aux[0] and aux[1]:
            lk = LinkabilityEvaluator(ori=ori, syn=syn, control=ctl, n_attacks=n, aux_cols=(list(aux[0]), list(aux[1])),
                                      n_neighbors=settings.n_neighbors)
            with _global_seed(seed):  # anonymeter samples its targets with numpy's global generator
                out |= _figures(lk.evaluate(n_jobs=1), cl, "risk/anonymeter_linkability")
        known = [c for c in ori.columns if c != tables.secret]
        inf = InferenceEvaluator(ori=ori, syn=syn, control=ctl, aux_cols=known, secret=tables.secret, n_attacks=n)
        with _global_seed(seed):
            out |= _figures(inf.evaluate(n_jobs=1), cl, "risk/anonymeter_inference")
    return out


@contextlib.contextmanager
def _global_seed(seed: int) -> Iterator[None]:
    """Every draw anonymeter 1.1.0 makes fixed by ``seed`` for the block, all restored after:

    - numpy's global generator (linkability and inference sample their targets with it) and
      polars' (the singling-out size correction samples with it);
    - polars' ``DataFrame.group_by`` and ``Series.unique`` keep the order of first appearance:
      singling-out builds its candidate queries from their groups, which polars' threads
      otherwise return in a varying order (so the seeded shuffle drew other queries);
    - linkability's random baseline (``_random_links``, a fresh unseeded generator per call)
      draws from a generator seeded from ``seed``.
    """
    import polars as pl
    from anonymeter.evaluators import linkability_evaluator as lk

    group_by, unique, random_links = pl.DataFrame.group_by, pl.Series.unique, lk._random_links
    rng = np.random.default_rng([seed, 1])

    def ordered_group_by(self: pl.DataFrame, *by: Any, maintain_order: bool = True, **kw: Any) -> Any:
        return group_by(self, *by, maintain_order=maintain_order, **kw)

    def ordered_unique(self: pl.Series, *, maintain_order: bool = True) -> pl.Series:
        return unique(self, maintain_order=maintain_order)

    def seeded_links(n_synthetic: int, n_attacks: int, n_neighbors: int) -> np.ndarray:
        return np.array([rng.choice(n_synthetic, size=n_neighbors, replace=False) for _ in range(n_attacks)])

    state = np.random.get_state()  # noqa: NPY002 (anonymeter draws from the legacy global generator)
    np.random.seed(seed)  # noqa: NPY002
    pl.set_random_seed(seed)
    pl.DataFrame.group_by, pl.Series.unique = ordered_group_by, ordered_unique  # type: ignore[assignment,method-assign]
    lk._random_links = seeded_links
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
        pl.DataFrame.group_by, pl.Series.unique = group_by, unique  # type: ignore[method-assign]
        lk._random_links = random_links


def _figures(evaluator: Any, level: float, name: str) -> dict[str, float]:
    risk = evaluator.risk(confidence_level=level)
    res = evaluator.results(confidence_level=level)
    ctl = res.control_rate
    return {
        name: float(risk.value),
        f"{name}_ci_low": float(risk.ci[0]),
        f"{name}_ci_high": float(risk.ci[1]),
        f"{name}_attack_rate": float(res.attack_rate.value),
        f"{name}_baseline_rate": float(res.baseline_rate.value),
        f"{name}_control_rate": float(ctl.value) if ctl is not None else float("nan"),
    }


def assess_anonymeter(release: Release, ori: pd.DataFrame, control: pd.DataFrame, window: int,
                      settings: AnonymeterSettings | Mapping[str, Any] | None = None,
                      seed: int = 0) -> dict[str, float]:
    """``risk/anonymeter_*`` of ``release`` (made from the patients of ``ori`` only) against the
    held-out patients of ``control``; empty when disabled."""
    s = settings if isinstance(settings, AnonymeterSettings) else AnonymeterSettings.from_mapping(settings)
    if not s.enabled:
        return {}
    return evaluate(comparable_tables(release, ori, control, window, s), s, seed)
