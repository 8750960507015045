"""Linkage attack: join the attacker's auxiliary data to the release on everything it keeps.

Attacker model (Sweeney's attack, with a data broker's file). The adversary holds a register
(``simulate_population``: a voter list with name, sex, date of birth, ZIP, city, street
address, merged per person with a broker / credit-header file adding SSN, phone and e-mail)
of a population containing most patients, with recording noise. They read the release,
recognise how each released column was generalized or masked from its labels (ZIP ``021**``,
dates at day/month/quarter/year/decade, age bands such as ``[60, 70)``, ``60-69`` or ``90+``,
``*`` for suppressed; masked fragments such as ``*-6789``, ``***-***-1234``,
``****@gmail.com`` or initials, see ``fragments``), render their own register the same way,
and keep a register person as a *candidate* for a released patient when every field both
hold agrees. Age is not in the register, but it constrains the match through the date of
birth: the person's age at the released admission date (or anywhere in the admission period
when that is hidden) must fall in the released age band. A register field missing for a
person, or suppressed (``*``) for a patient, constrains nothing. A released text field whose
labels the register's values never reproduce (``XXXX``, a format it cannot read) is
recognised as masked (fewer than ``min_field_overlap`` of the patients' labels occur in the
rendered register) and left out.

A *claim* is made when a person and a patient are each other's only candidate (one register
row ↔ one released patient); ``passes`` repeats this with fields left out so a noisy row is
still claimed. A claim is *correct* when the person really is that patient (the register's
hidden ``true_entity_id`` and the release's index alignment, used only to score). A correct
claim re-identifies the patient and leaks the PII the register holds about them (each field
counted only where the register's value equals the source's: the full SSN behind a released
``*-6789``). Beside it the *expected* re-identifications of an attacker who picks one
candidate at random are reported: sum over people of 1/|candidates| when the true patient is
among them. In any class of c indistinguishable patients that expectation is at most 1, i.e.
at most 1/c of the class; unique claims inside such a class are impossible for c >= 2 as long
as every field the attacker uses is one of the quasi-identifiers the classes are formed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.candidates import Candidates
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
from privhealth.anon.labels import (
    DATE_UNITS,
    NUM,
    age_intervals,
    period_bounds,
)
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
        for unit, rx in DATE_UNITS:
            g = text.str.extract(rx)[0]
            hit = g.notna().to_numpy() & (units == "")
            units[hit] = unit
            keys = keys.mask(pd.Series(hit, index=text.index), g)
        specs = [("date", u) if u else ("exact",) for u in units]
    elif kind == "code":
        num = int_text(pd.to_numeric(text, errors="coerce"))
        keys = num.where(num.notna(), text)
        keys = keys.mask(text.str.fullmatch(rf"[\[\(].*[\]\)]|{NUM}\s*-\s*{NUM}").fillna(False).astype(bool), "*")  # a range of codes
    return specs, keys


def _field_plan(name: str, kind: str, col: pd.Series) -> FieldPlan:
    if kind == "date" and pd.api.types.is_datetime64_any_dtype(col):
        keys = date_text(col)
        specs_row: list[tuple] = [("date", "day")] * len(col)
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
    codes, uniq = pd.factorize(pd.Series(np.where(wild, None, holder), dtype=object))  # type: ignore[call-overload]
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
        zero = has_zero_zip3(p)
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
    adm_lo, adm_hi = period_bounds(adm, n, admission_years)
    return LinkPlan(plans, dropped, age_lo, age_hi, adm_lo, adm_hi, age_used, float(age_tolerance))


def has_zero_zip3(p: FieldPlan) -> bool:
    """Whether a released ZIP field uses 000 for restricted prefixes (so the register is rendered so too)."""
    if p.kind != "zip":
        return False
    keys = pd.Series(p.key[p.pattern >= 0]).astype("str")
    return bool(keys.str.startswith("000").any())


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
