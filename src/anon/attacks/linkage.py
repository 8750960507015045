"""Linkage attack: join an auxiliary register (a "voter list") to the release on quasi-identifiers.

Attacker model (Sweeney's attack). The adversary holds a register with names and
quasi-identifiers (``simulate_population``: name, sex, date of birth, ZIP, city, street
address) of a population containing some of the patients, with recording noise. They read
the release, recognise how each released column was generalized from its labels (ZIP
``021**``, dates at day/month/quarter/year/decade, age bands such as ``[60, 70)``, ``60-69``
or ``90+``, ``*`` for suppressed), render their own register the same way, and keep a
register person as a *candidate* for a released patient when every field both hold agrees.
Age is not in the register, but it constrains the match through the date of birth: the
person's age at the released admission date (or anywhere in the admission period when that
is hidden) must fall in the released age band. A register field missing for a person, or
suppressed (``*``) for a patient, constrains nothing. A released text field whose labels
the register's values never reproduce (``XXXX``, a masked e-mail) is recognised as masked
(fewer than ``min_field_overlap`` of the patients' labels occur in the rendered register)
and left out.

A *claim* is made when a person and a patient are each other's only candidate (one register
row ↔ one released patient); it is *correct* when the person really is that patient (the
register's hidden ``true_entity_id`` and the release's index alignment, used only to score).
A correct claim re-identifies the patient and leaks the PII the register holds about them
(each field counted only where the register's value equals the source's). Beside it the
*expected* re-identifications of an attacker who picks one candidate at random are
reported: sum over people of 1/|candidates| when the true patient is among them. In any
class of c indistinguishable patients that expectation is at most 1, i.e. at most 1/c of the
class; unique claims inside such a class are impossible for c >= 2 as long as every field the
attacker uses is one of the quasi-identifiers the classes are formed on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.common import (
    Alignment,
    date_text,
    field_keys,
    int_text,
    norm_text,
    on_distinct,
    share,
)
from privhealth.anon.attacks.fragments import label_specs, render_fragment
from privhealth.anon.transforms import RESTRICTED_ZIP3
from privhealth.data.population import GROUND_TRUTH
from privhealth.errors import ConfigError

# Register field → how its values are compared with the release column of the same name
# (text and digits fields also through masked fragments: see ``fragments``).
FIELD_KINDS = {
    "name": "text",
    "gender": "code",
    "date_of_birth": "date",
    "zip": "zip",
    "city": "text",
    "address": "text",
    "ssn": "digits",
    "phone": "digits",
    "email": "text",
}
DAYS_PER_YEAR = 365.25
WILDCARDS = frozenset({"*", "", "nan", "none"})
_NUM = r"-?\d+(?:\.\d+)?"
_DATE_UNITS = (  # (unit, pattern of a released label)
    ("day", re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ t]00:00:00)?$")),
    ("month", re.compile(r"^(\d{4}-\d{2})$")),
    ("quarter", re.compile(r"^(\d{4}-q[1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
    ("decade", re.compile(r"^(\d{3}0s)$")),
)


# ---------------------------------------------------------------------- the attacker's plan
@dataclass
class FieldPlan:
    """How one released column is matched: per patient a pattern id (-1: wildcard) and a key."""

    field: str
    kind: str
    pattern: np.ndarray
    key: np.ndarray
    specs: list[tuple]
    overlap: float = 0.0


@dataclass
class LinkPlan:
    """Everything the attacker reads off the release before matching."""

    fields: list[FieldPlan]
    dropped: dict[str, str]
    age_lo: np.ndarray
    age_hi: np.ndarray
    adm_lo: np.ndarray  # days since 1970-01-01
    adm_hi: np.ndarray
    age_used: bool
    age_tolerance: float

    @property
    def used(self) -> list[str]:
        return [f.field for f in self.fields] + (["age (through date_of_birth)"] if self.age_used else [])


def _spec_column(text: pd.Series, kind: str) -> tuple[list[tuple], pd.Series]:
    """Per released label: its pattern spec and its comparison key (worked out once per label)."""
    if kind not in ("zip", "date"):
        return _spec_labels(text, kind)
    def per_label(u: pd.Series) -> pd.DataFrame:
        specs, keys = _spec_labels(u, kind)
        spec_col = np.empty(len(specs), dtype=object)
        spec_col[:] = specs
        return pd.DataFrame({"spec": spec_col, "key": keys.to_numpy(dtype=object)}, index=u.index)

    both = on_distinct(text, per_label)
    keys = pd.Series(both["key"].to_numpy(dtype=object), index=text.index).astype(text.dtype)
    return list(both["spec"]), keys


def _spec_labels(text: pd.Series, kind: str) -> tuple[list[tuple], pd.Series]:
    specs: list[tuple] = [("exact",)] * len(text)
    keys = text.copy()
    if kind == "zip":
        m = text.str.extract(r"^(\d+)(\**)$")
        ok = m[0].notna().to_numpy()
        k = m[0].str.len().fillna(0).astype(int).to_numpy()
        st = m[1].str.len().fillna(0).astype(int).to_numpy()
        specs = [("zip", int(a), int(b)) if o else ("exact",) for o, a, b in zip(ok, k, st, strict=True)]
    elif kind == "date":
        units = np.full(len(text), "", dtype=object)
        for unit, rx in _DATE_UNITS:
            g = text.str.extract(rx)[0]
            hit = g.notna().to_numpy() & (units == "")
            units[hit] = unit
            keys = keys.mask(pd.Series(hit, index=text.index), g)
        specs = [("date", u) if u else ("exact",) for u in units]
    elif kind == "code":
        num = int_text(pd.to_numeric(text, errors="coerce"))
        keys = num.where(num.notna(), text)
        keys = keys.mask(text.str.fullmatch(r"\[.*\]").fillna(False).astype(bool), "*")  # a range of codes
    return specs, keys


def _field_plan(name: str, kind: str, col: pd.Series) -> FieldPlan:
    if kind == "date" and pd.api.types.is_datetime64_any_dtype(col):
        keys = date_text(col)
        specs_row = [("date", "day")] * len(col)
    elif kind == "code" and pd.api.types.is_numeric_dtype(col):
        keys = int_text(col)
        specs_row = [("exact",)] * len(col)
    elif kind in ("text", "digits"):
        specs_row, keys = label_specs(col, kind)
    else:
        text = norm_text(col)
        specs_row, keys = _spec_column(text, kind)
    wild = (keys.isna() | keys.isin(WILDCARDS)).to_numpy()
    holder = np.empty(len(specs_row), dtype=object)
    holder[:] = specs_row
    codes, uniq = pd.factorize(pd.Series(np.where(wild, None, holder), dtype=object))
    specs = list(uniq)
    key = np.array(keys.to_numpy(dtype=object), dtype=object)
    key[codes < 0] = None
    return FieldPlan(name, kind, codes, key, specs)


def render(kind: str, spec: tuple, values: pd.Series, zero_restricted: bool = False) -> np.ndarray:
    """The attacker's register values rendered like a released label of ``spec`` (None: missing)."""
    if kind in ("text", "digits"):
        out = render_fragment(kind, spec, values)
    elif spec[0] == "zip":
        d = values.astype("str").str.replace(r"\D", "", regex=True)
        head = d.str.slice(0, spec[1])
        if zero_restricted and spec[1] == 3:
            head = head.mask(head.isin(RESTRICTED_ZIP3), "000")
        out = head + "*" * spec[2]
        out = out.where(d.str.len() >= spec[1])
    elif spec[0] == "date":
        dt = pd.to_datetime(values, errors="coerce")
        unit = spec[1]
        if unit == "day":
            out = dt.dt.strftime("%Y-%m-%d")
        elif unit == "month":
            out = dt.dt.strftime("%Y-%m")
        elif unit == "quarter":
            out = dt.dt.year.astype("Int64").astype("str") + "-q" + dt.dt.quarter.astype("Int64").astype("str")
        elif unit == "year":
            out = dt.dt.year.astype("Int64").astype("str")
        else:
            out = (dt.dt.year // 10 * 10).astype("Int64").astype("str") + "s"
        out = out.where(dt.notna())
    elif kind == "code":
        out = int_text(pd.to_numeric(values, errors="coerce"))
    elif kind == "date":
        out = date_text(values)
    else:
        out = norm_text(values)
    arr = np.array(out.astype(object).to_numpy(), dtype=object)  # a writable copy
    arr[pd.isna(out).to_numpy()] = None
    return arr


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

    a, b, hit = take(rf"^[\[\(]\s*({_NUM})\s*,\s*({_NUM})\s*[\]\)]$")  # [60, 70)
    lo[hit], hi[hit] = a[hit], b[hit]
    done |= hit
    a, b, hit = take(rf"^\[\s*({_NUM})\s*-\s*({_NUM})\s*\]$")  # Mondrian's [62.3-71.8], closed
    lo[hit], hi[hit] = a[hit], b[hit]
    done |= hit
    a, b, hit = take(rf"^({_NUM})\s*-\s*({_NUM})$")  # 60-69: integer bands include the upper year
    whole = (a == np.floor(a)) & (b == np.floor(b))
    lo[hit], hi[hit] = a[hit], np.where(whole, b + 1, b)[hit]
    done |= hit
    a, _, hit = take(rf"^({_NUM})\s*\+$")  # 90+
    lo[hit] = a[hit]
    done |= hit
    a, _, hit = take(rf"^({_NUM})$")  # a plain number, top-coded when >= top_code
    lo[hit] = a[hit]
    hi[hit] = np.where(a >= top_code, np.inf, a)[hit]
    return lo, hi


def _period(col: pd.Series | None, n: int, years: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Released admission date → [first day, last day + 1) as days since epoch, per patient."""
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
    for unit, rx in _DATE_UNITS:
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


def plan_attack(
    patients: pd.DataFrame,
    register: pd.DataFrame,
    *,
    fields: Sequence[str] | None = None,
    age_column: str | None = "age",
    admission_column: str | None = "admission_date",
    admission_years: Sequence[int] = (2001, 2012),
    age_top_code: float = 90.0,
    age_tolerance: float = 0.01,
    min_field_overlap: float = 0.05,
) -> LinkPlan:
    """Read the release's labels (one row per patient) and decide what to match on."""
    wanted = list(FIELD_KINDS) if fields is None else list(fields)
    unknown = [f for f in wanted if f not in FIELD_KINDS]
    if unknown:
        raise ConfigError(
            f"attack setting 'linkage_fields': unknown field(s) {unknown} "
            f"(the register holds {', '.join(FIELD_KINDS)})"
        )
    plans, dropped = [], {}
    for f in wanted:
        if f not in patients.columns:
            continue
        if f not in register.columns:
            dropped[f] = "not in the auxiliary register"
            continue
        p = _field_plan(f, FIELD_KINDS[f], patients[f])
        active = p.pattern >= 0
        if not active.any():
            dropped[f] = "fully suppressed in the release"
            continue
        zero = _has_zero_zip3(p)
        hits = np.zeros(len(p.pattern), bool)
        for pid, spec in enumerate(p.specs):
            rendered = set(x for x in render(p.kind, spec, register[f], zero) if x is not None)
            rows = p.pattern == pid
            hits[rows] = pd.Series(p.key[rows]).isin(rendered).to_numpy()
        p.overlap = float(hits[active].mean())
        if p.overlap < min_field_overlap:
            dropped[f] = "released labels do not occur in the rendered register (masked or unknown format)"
            continue
        plans.append(p)
    n = len(patients)
    age_used = bool(
        age_column and age_column in patients.columns and "date_of_birth" in register.columns
        and (fields is None or "date_of_birth" in wanted)
    )
    if age_used:
        age_lo, age_hi = age_intervals(patients[age_column], age_top_code)
        age_used = bool(np.isfinite(age_lo).any() or np.isfinite(age_hi).any())
    else:
        age_lo, age_hi = np.full(n, -np.inf), np.full(n, np.inf)
    adm = patients[admission_column] if admission_column and admission_column in patients.columns else None
    adm_lo, adm_hi = _period(adm, n, admission_years)
    return LinkPlan(plans, dropped, age_lo, age_hi, adm_lo, adm_hi, age_used, float(age_tolerance))


def _has_zero_zip3(p: FieldPlan) -> bool:
    if p.kind != "zip":
        return False
    keys = pd.Series(p.key[p.pattern >= 0]).astype("str")
    return bool(keys.str.startswith("000").any())


# ---------------------------------------------------------------------- matching
@dataclass
class Candidates:
    """Who matches whom: per register row and per released patient (arrays, never values)."""

    v_count: np.ndarray  # compatible released patients per register row
    v_last: np.ndarray  # one compatible patient per row (the only one where v_count == 1)
    p_count: np.ndarray  # compatible register rows per released patient
    v_true: np.ndarray  # the row's own patient is among its candidates (scoring only)
    hists: dict[str, np.ndarray] = field(default_factory=dict)  # attribute → (rows, values)
    attempted: np.ndarray | None = None  # rows with at least one usable field


def match(
    plan: LinkPlan,
    register: pd.DataFrame,
    *,
    truth: np.ndarray | None = None,
    values: dict[str, np.ndarray] | None = None,
    n_values: dict[str, int] | None = None,
    chunk_pairs: int = 2_000_000,
    max_pairs: int = 100_000_000,
    pairwise: bool = False,
    prerendered: dict[tuple[str, tuple], np.ndarray] | None = None,
) -> Candidates:
    """Candidates per register row and per released patient, counted without keeping the pairs.

    ``truth`` (scoring only) gives each register row's released patient position or -1;
    ``values`` gives, per sensitive attribute, each patient's value code (-1: missing).
    By default each block of equal exact-match keys is counted by sorting and binary search
    (the date-of-birth/age check is an interval of birth days per patient), so a coarse
    release costs O(n log n). ``pairwise=True`` enumerates the candidate pairs instead (the
    reference the tests compare against); only that path is limited by ``max_pairs``. Both
    give the same counts, flags and histograms; ``v_last`` is the same wherever it is
    defined as *the* candidate (``v_count`` 0 or 1). ``prerendered`` (``prerender`` of this
    register) saves rendering the register again when it is matched several times.
    """
    n_v, n_p = len(register), len(plan.age_lo)
    v_count = np.zeros(n_v, np.int64)
    p_count = np.zeros(n_p, np.int64)
    v_last = np.full(n_v, -1, np.int64)
    v_true = np.zeros(n_v, bool)
    values = values or {}
    hists = {a: np.zeros(n_v * int(n_values[a]), np.int64) for a in values} if n_values else {}
    dob = _register_dob(register) if plan.age_used else np.full(n_v, np.nan)
    # rendered register keys per (field, pattern)
    rendered: dict[tuple[int, int], np.ndarray] = {}
    missing = np.zeros((n_v, len(plan.fields)), bool)
    for j, p in enumerate(plan.fields):
        missing[:, j] = register[p.field].isna().to_numpy()
        for pid, spec in enumerate(p.specs):
            r = (prerendered or {}).get((p.field, spec))
            if r is None:
                r = render(p.kind, spec, register[p.field], _has_zero_zip3(p))
            rendered[(j, pid)] = r  # None where a present value cannot be rendered: never matches
    attempted = (~missing).any(axis=1) | (~np.isnan(dob) if plan.age_used else False)
    if plan.fields and n_p:
        pm = np.stack([p.pattern for p in plan.fields], axis=1)
        tuples, groups = unique_rows(pm)
        groups = np.asarray(groups).reshape(-1)
    else:  # nothing to join on: one block
        tuples, groups = np.zeros((1 if n_p else 0, 0), np.int64), np.zeros(n_p, np.int64)
    total = 0
    bounds = None if pairwise else _dob_bounds(plan, dob)
    for g, tup in enumerate(tuples):
        p_idx = np.flatnonzero(groups == g)
        active = [j for j in range(len(plan.fields)) if tup[j] >= 0]
        mpat = missing[:, active] if active else np.zeros((n_v, 0), bool)
        if active:
            mcodes, minv = unique_rows(mpat)
            minv = np.asarray(minv).reshape(-1)
        else:
            mcodes, minv = np.zeros((1, 0), bool), np.zeros(n_v, np.int64)
        for mi, mrow in enumerate(mcodes):
            v_idx = np.flatnonzero(minv == mi)
            join = [j for k, j in enumerate(active) if not mrow[k]]
            if not join and not plan.age_used:  # nothing constrains: everyone matches everyone
                _match_all(v_idx, p_idx, v_count, p_count, v_last, v_true, truth, values, hists, n_values)
                continue
            pk = [plan.fields[j].key[p_idx] for j in join]
            vk = [rendered[(j, tup[j])][v_idx] for j in join]
            pc, vc = _codes(pk, vk, len(p_idx), len(v_idx))
            if not pairwise:
                acc = (v_count, p_count, v_last, v_true)
                _match_blocks(v_idx, p_idx, pc, vc, dob, bounds, acc, truth, values, hists, n_values)
                continue
            for vv, pp in _pairs(pc, vc, chunk_pairs):
                total += len(vv)
                if total > max_pairs:
                    raise ConfigError(
                        f"linkage: more than {max_pairs} candidate pairs (attack setting "
                        f"'max_candidate_pairs'); the release is too coarse to attack pairwise"
                    )
                V, P = v_idx[vv], p_idx[pp]
                if plan.age_used:
                    keep = _age_ok(plan, dob[V], P)
                    V, P = V[keep], P[keep]
                v_count += np.bincount(V, minlength=n_v)
                p_count += np.bincount(P, minlength=n_p)
                v_last[V] = P
                if truth is not None:
                    own = truth[V] == P
                    v_true[V[own]] = True
                for a, codes in values.items():
                    c = codes[P]
                    ok = c >= 0
                    hists[a] += np.bincount(V[ok] * n_values[a] + c[ok], minlength=n_v * n_values[a])
    return Candidates(
        v_count, v_last, p_count, v_true,
        {a: h.reshape(n_v, n_values[a]) for a, h in hists.items()},
        np.asarray(attempted, bool),
    )


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, axis=0, return_inverse=True)`` for small non-negative-ish integer or bool rows.

    Each row is packed into one integer (mixed radix, first column most significant, so the
    order is np.unique's lexicographic one) and the 1-D integers are made unique: the same
    result without np.unique's slow row-wise sort of a 300,000-row register.
    """
    x = np.asarray(a, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] == 0 or not len(x):
        u, inv = np.unique(a, axis=0, return_inverse=True)
        return u, np.asarray(inv).reshape(-1)
    lo = x.min(axis=0)
    span = x.max(axis=0) - lo + 1
    if float(np.prod(span.astype(float))) >= 2.0**62:  # too many combinations to pack
        u, inv = np.unique(a, axis=0, return_inverse=True)
        return u, np.asarray(inv).reshape(-1)
    code = np.zeros(len(x), np.int64)
    for j in range(x.shape[1]):  # a few columns, not rows
        code = code * span[j] + (x[:, j] - lo[j])
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return np.asarray(a)[first], np.asarray(inv).reshape(-1)


def prerender(plan: LinkPlan, register: pd.DataFrame) -> dict[tuple[str, tuple], np.ndarray]:
    """The register rendered once per (field, spec) of the plan, for repeated ``match`` calls."""
    return {
        (p.field, spec): render(p.kind, spec, register[p.field], _has_zero_zip3(p))
        for p in plan.fields for spec in p.specs
    }


def _match_all(v_idx, p_idx, v_count, p_count, v_last, v_true, truth, values, hists, n_values) -> None:
    """Aggregate a block where every register row is a candidate of every patient, without pairs."""
    if not len(v_idx) or not len(p_idx):
        return
    v_count[v_idx] += len(p_idx)
    p_count[p_idx] += len(v_idx)
    v_last[v_idx] = p_idx[-1]
    if truth is not None:
        v_true[v_idx] |= np.isin(truth[v_idx], p_idx)
    n_v = len(v_count)
    for a, codes in values.items():
        c = codes[p_idx]
        counts = np.bincount(c[c >= 0], minlength=n_values[a])
        h = hists[a].reshape(n_v, n_values[a])  # a view: updates the flat accumulator
        h[v_idx] += counts


def _register_dob(register: pd.DataFrame) -> np.ndarray:
    if "date_of_birth" not in register.columns:
        return np.full(len(register), np.nan)
    d = pd.to_datetime(register["date_of_birth"], errors="coerce")
    out = d.to_numpy(dtype="datetime64[D]").astype(np.int64).astype(float)
    out[d.isna().to_numpy()] = np.nan
    return out


def _old_enough(plan: LinkPlan, dob: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Born early enough: the age at the end of the admission period reaches the band's low end."""
    return (plan.adm_hi[P] - dob) / DAYS_PER_YEAR >= plan.age_lo[P] - plan.age_tolerance


def _young_enough(plan: LinkPlan, dob: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Born late enough: the age at the start of the admission period is within the band's top."""
    return (plan.adm_lo[P] - dob) / DAYS_PER_YEAR <= plan.age_hi[P] + plan.age_tolerance


def _age_ok(plan: LinkPlan, dob: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Whether the person's age at the released admission period fits the released age band."""
    known = ~np.isnan(dob)
    return ~known | (_old_enough(plan, dob, P) & _young_enough(plan, dob, P))


# ---------------------------------------------------------------------- counting by blocks
@dataclass
class _DobBounds:
    """Per released patient, the birth days [lo, hi] compatible with its age band, on the register's range."""

    xmin: int  # earliest and latest known birth day in the register
    xmax: int
    lo: np.ndarray  # in [xmin, xmax + 1]
    hi: np.ndarray  # in [xmin - 1, xmax]; lo > hi: no known birth day fits


def _dob_bounds(plan: LinkPlan, dob: np.ndarray) -> _DobBounds:
    """Exact integer birth-day bounds per patient, from the same float tests ``_age_ok`` makes.

    Both tests are monotone in the birth day (IEEE subtraction and division round
    monotonically), so each patient's compatible birth days form an interval; its ends are
    found from the algebraic solution, clipped to the register's range, then nudged by a day
    until the float tests agree, so the result equals the pairwise check bit for bit.
    """
    n_p = len(plan.age_lo)
    known = dob[~np.isnan(dob)]
    xmin, xmax = (int(known.min()), int(known.max())) if len(known) else (0, 0)
    P = np.arange(n_p)
    tol = plan.age_tolerance
    with np.errstate(invalid="ignore", over="ignore"):
        hi0 = np.floor(plan.adm_hi - DAYS_PER_YEAR * (plan.age_lo - tol))
        lo0 = np.ceil(plan.adm_lo - DAYS_PER_YEAR * (plan.age_hi + tol))
    hi = np.clip(np.nan_to_num(hi0, nan=xmin - 1, posinf=xmax, neginf=xmin - 1), xmin - 1, xmax).astype(np.int64)
    lo = np.clip(np.nan_to_num(lo0, nan=xmax + 1, posinf=xmax + 1, neginf=xmin), xmin, xmax + 1).astype(np.int64)
    for _ in range(64):  # a few days at most; bounded so a bug cannot spin
        down = (hi >= xmin) & ~_old_enough(plan, hi.astype(float), P)
        up = (hi < xmax) & _old_enough(plan, (hi + 1).astype(float), P)
        hi = hi - down + (up & ~down)
        if not down.any() and not up.any():
            break
    else:
        raise RuntimeError("linkage: birth-day bounds did not converge")
    for _ in range(64):
        up = (lo <= xmax) & ~_young_enough(plan, lo.astype(float), P)
        down = (lo > xmin) & _young_enough(plan, (lo - 1).astype(float), P)
        lo = lo + up - (down & ~up)
        if not down.any() and not up.any():
            break
    else:
        raise RuntimeError("linkage: birth-day bounds did not converge")
    return _DobBounds(xmin, xmax, lo, hi)


def _match_blocks(v_idx, p_idx, pc, vc, dob, bounds, acc, truth, values, hists, n_values) -> None:
    """Aggregate one pattern group by counting, per block of equal join codes, without pairs.

    A register row with a known birth day x matches the block's patients whose birth-day
    interval holds x: #(lo <= x) - #(hi < x), two binary searches over the block sorted by
    ``lo`` and by ``hi`` (intervals are encoded as code * W + offset so one sorted array
    holds every block). A row without a birth day matches the whole block.
    """
    v_count, p_count, v_last, v_true = acc
    n_v = len(v_count)
    pok, vok = pc >= 0, vc >= 0
    if not pok.any() or not vok.any():
        return
    R = bounds.xmax - bounds.xmin + 1
    W = R + 3
    lo = bounds.lo[p_idx] - bounds.xmin + 1  # offsets: known birth days lie in [1, R]
    hi = bounds.hi[p_idx] - bounds.xmin + 1
    empty = lo > hi
    lo_c = np.where(empty, R + 2, lo)  # an empty interval matches no known birth day
    hi_c = np.where(empty, R + 2, hi)
    x = dob[v_idx]
    unknown = np.isnan(x)
    xc = np.where(unknown, 0, np.nan_to_num(x) - bounds.xmin + 1).astype(np.int64)
    q_lo = np.where(unknown, R + 2, xc)  # unknown: every lo <= q_lo and no hi < q_hi
    q_hi = np.where(unknown, 0, xc)

    # per register row: count and one candidate
    pp = np.flatnonzero(pok)
    key_lo = pc[pp] * W + lo_c[pp]
    order = np.argsort(key_lo, kind="stable")
    sorted_lo = key_lo[order]
    sorted_hi = np.sort(pc[pp] * W + hi_c[pp])
    vv = np.flatnonzero(vok)
    base = vc[vv] * W
    end_lo = np.searchsorted(sorted_lo, base + q_lo[vv], side="right")
    n_lo = end_lo - np.searchsorted(sorted_lo, base, side="left")
    n_hi = np.searchsorted(sorted_hi, base + q_hi[vv], side="left") - np.searchsorted(sorted_hi, base, side="left")
    cnt = n_lo - n_hi
    # the candidate: among the block's patients with lo <= x, the one whose hi reaches furthest
    hi_in_lo_order = (pc[pp] * W + hi_c[pp])[order]
    run_max = np.maximum.accumulate(hi_in_lo_order)
    arg = np.maximum.accumulate(np.where(hi_in_lo_order == run_max, np.arange(len(order)), 0))
    has = cnt > 0
    rows = vv[has]
    v_count[v_idx[rows]] += cnt[has]
    v_last[v_idx[rows]] = p_idx[pp[order[arg[end_lo[has] - 1]]]]

    # per patient: register rows of its block with a birth day in its interval, plus those without
    kv = np.flatnonzero(vok & ~unknown)
    sorted_v = np.sort(vc[kv] * W + xc[kv])
    pbase = pc[pp] * W
    known_n = np.searchsorted(sorted_v, pbase + hi_c[pp], side="right") - np.searchsorted(
        sorted_v, pbase + lo_c[pp], side="left")
    known_n = np.where(empty[pp], 0, known_n)
    uv = vc[vok & unknown]
    sorted_u = np.sort(uv)
    unk_n = np.searchsorted(sorted_u, pc[pp], side="right") - np.searchsorted(sorted_u, pc[pp], side="left")
    p_count[p_idx[pp]] += known_n + unk_n

    if truth is not None:  # scoring only: is the row's own patient among its candidates?
        local = np.full(len(p_count), -1, np.int64)
        local[p_idx] = np.arange(len(p_idx))
        t = truth[v_idx[rows]]
        inside = (t >= 0) & (t < len(local))
        tl = np.where(inside, local[np.where(inside, t, 0)], -1)
        ok = tl >= 0
        ok[ok] = pc[tl[ok]] == vc[rows[ok]]
        ok[ok] = (lo_c[tl[ok]] <= q_lo[rows[ok]]) & (hi_c[tl[ok]] >= q_hi[rows[ok]])
        v_true[v_idx[rows[ok]]] = True

    for a, codes in (values or {}).items():  # per row, its candidates' value histogram
        m = int(n_values[a])
        c = codes[p_idx[pp]]
        good = c >= 0
        k = pc[pp][good] * m + c[good]
        s_lo = np.sort(k * W + lo_c[pp][good])
        s_hi = np.sort(k * W + hi_c[pp][good])
        h = hists[a].reshape(n_v, m)  # a view: updates the flat accumulator
        step = max(1, 4_000_000 // m)
        for i in range(0, len(rows), step):  # chunks of rows × values, bounded memory
            r = rows[i:i + step]
            b = (vc[r][:, None] * m + np.arange(m)[None, :]) * W
            n1 = np.searchsorted(s_lo, b + q_lo[r][:, None], side="right") - np.searchsorted(s_lo, b, side="left")
            n2 = np.searchsorted(s_hi, b + q_hi[r][:, None], side="left") - np.searchsorted(s_hi, b, side="left")
            h[v_idx[r]] += n1 - n2


def _codes(pk: list[np.ndarray], vk: list[np.ndarray], n_p: int, n_v: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer join codes of patient and register keys (register rows absent on a key get -1)."""
    if not pk:
        return np.zeros(n_p, np.int64), np.zeros(n_v, np.int64)
    both = pd.DataFrame({i: np.concatenate([a, b]) for i, (a, b) in enumerate(zip(pk, vk, strict=True))})
    code = both.groupby(list(both.columns), sort=False, dropna=False).ngroup().to_numpy()
    bad = both.isna().any(axis=1).to_numpy()  # a None key (unrenderable value) never matches
    code = np.where(bad, -1, code)
    pc, vc = code[:n_p], code[n_p:]
    vc = np.where(np.isin(vc, pc[pc >= 0]), vc, -1)
    return pc, vc


def _pairs(pc: np.ndarray, vc: np.ndarray, chunk: int):
    """Yield (register positions, patient positions) of equal codes, in chunks of about ``chunk``."""
    order = np.argsort(pc, kind="stable")
    sorted_pc = pc[order]
    start = np.searchsorted(sorted_pc, vc, side="left")
    end = np.searchsorted(sorted_pc, vc, side="right")
    counts = np.where(vc >= 0, end - start, 0)
    rows = np.flatnonzero(counts)
    if not len(rows):
        return
    csum = np.cumsum(counts[rows])
    lo = 0
    while lo < len(rows):
        hi = int(np.searchsorted(csum, (csum[lo - 1] if lo else 0) + chunk, side="right"))
        hi = max(hi, lo + 1)
        r = rows[lo:hi]
        c = counts[r]
        vv = np.repeat(r, c)
        offs = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        pp = order[np.repeat(start[r], c) + offs]
        yield vv, pp
        lo = hi


# ---------------------------------------------------------------------- scoring
@dataclass
class LinkageResult:
    """Claims, correct claims and leaked fields of the linkage attack (counts; arrays internal)."""

    fields_used: list[str]
    fields_dropped: dict[str, str]
    register_rows: int
    attempts: int
    matched: int
    claims: int
    correct: int
    released_patients: int
    covered_patients: int
    expected_correct: float
    leaked_per_field: dict[str, int]
    recovered: pd.DataFrame  # (entity, field), internal
    patient_reidentified: np.ndarray  # per released patient, internal
    patient_expected: np.ndarray  # per released patient, internal
    candidates: Candidates | None = None
    passes: list[dict[str, Any]] = field(default_factory=list)  # claims (and correct ones) per pass

    @property
    def precision(self) -> float:
        return self.correct / self.claims if self.claims else float("nan")

    @property
    def reid_rate(self) -> float:
        return share(self.correct, self.released_patients)

    @property
    def reid_rate_covered(self) -> float:
        return share(self.correct, self.covered_patients)

    @property
    def expected_rate(self) -> float:
        return share(self.expected_correct, self.released_patients)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields_used": self.fields_used,
            "fields_dropped": self.fields_dropped,
            "register_rows": self.register_rows,
            "attempts": self.attempts,
            "matched": self.matched,
            "claims": self.claims,
            "correct_claims": self.correct,
            "precision": _finite(self.precision),
            "released_patients": self.released_patients,
            "covered_patients": self.covered_patients,
            "reid_rate": self.reid_rate,
            "reid_rate_covered": self.reid_rate_covered,
            "expected_random_pick_reidentified": self.expected_correct,
            "expected_random_pick_rate": self.expected_rate,
            "leaked_patients_per_field": self.leaked_per_field,
            "passes": self.passes,
        }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def truth_positions(register: pd.DataFrame, alignment: Alignment) -> np.ndarray:
    """Scoring only: each register row's position among the released patients, or -1."""
    if GROUND_TRUTH not in register.columns:
        raise ConfigError(f"the auxiliary register lacks the ground-truth column '{GROUND_TRUTH}'")
    t = register[GROUND_TRUTH]
    pos = np.full(len(register), -1, np.int64)
    ok = t.notna().to_numpy()
    if ok.any():
        vals = t[ok].to_numpy()
        ent = alignment.entities
        if pd.api.types.is_numeric_dtype(ent.dtype):
            vals = vals.astype(ent.dtype)
        pos[ok] = ent.get_indexer(vals)
    return pos


def score_linkage(
    plan: LinkPlan,
    cand: Candidates,
    register: pd.DataFrame,
    truth: np.ndarray,
    alignment: Alignment,
    source_people: pd.DataFrame,
    leak_fields: dict[str, str],
    claimed: np.ndarray | None = None,
    passes: list[dict[str, Any]] | None = None,
) -> LinkageResult:
    """Claims and their correctness; PII leaked by correct claims (``leak_fields``: field → category).

    ``claimed`` gives each register row's claimed patient position (-1: none), e.g. from the
    multi-pass ``passes.claim``; by default the rows and patients that are each other's only
    candidate in ``cand``.
    """
    n_p = alignment.n
    if claimed is None:
        sole = cand.p_count[np.maximum(cand.v_last, 0)] == 1 if n_p else np.zeros(len(cand.v_count), bool)
        claimed = np.where((cand.v_count == 1) & sole, cand.v_last, -1)
    unique = claimed >= 0
    correct = unique & (truth >= 0) & (claimed == truth)
    reid = np.zeros(n_p, bool)
    reid[claimed[correct]] = True
    expected = np.zeros(n_p)
    hit = cand.v_true & (cand.v_count > 0)
    np.add.at(expected, truth[hit], 1.0 / cand.v_count[hit])
    rows = np.flatnonzero(correct)
    ents = alignment.entities[claimed[rows]]
    leaked, parts = {}, []
    for f, category in leak_fields.items():
        if f not in register.columns or f not in source_people.columns:
            continue
        theirs = field_keys(register[f].iloc[rows].reset_index(drop=True), category)
        ours = field_keys(source_people[f].loc[ents].reset_index(drop=True), category)
        same = (theirs.notna() & (theirs == ours)).to_numpy()
        leaked[f] = int(same.sum())
        parts.append(pd.DataFrame({"entity": ents[same], "field": f}))
    rec = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["entity", "field"])
    return LinkageResult(
        fields_used=plan.used,
        fields_dropped=plan.dropped,
        register_rows=len(register),
        attempts=int(cand.attempted.sum()) if cand.attempted is not None else len(register),
        matched=int((cand.v_count > 0).sum()),
        claims=int(unique.sum()),
        correct=int(correct.sum()),
        released_patients=n_p,
        covered_patients=int(len(np.unique(truth[truth >= 0]))),
        expected_correct=float(expected.sum()),
        leaked_per_field=leaked,
        recovered=rec,
        patient_reidentified=reid,
        patient_expected=expected,
        candidates=cand,
        passes=passes or [],
    )
