"""Multi-pass linkage: claims on all fields first, then with each field left out in turn.

A register is noisy (a moved person's ZIP, a mistyped birth date, a changed phone number):
requiring every field to agree loses each patient whose register row has one wrong field.
Record-linkage practice (deterministic multi-pass matching) therefore repeats the join on
weaker keys. The first pass uses every field the attack plan holds; the next ones each leave
out one *unit* (a field; the date of birth with the age check it drives; ZIP, city and street
together, as a move changes them together), each looking only at the register rows and
patients no earlier pass claimed. These passes first consider only register rows that hold a
value for every unit used (a row without an SSN is no rival of the row whose SSN fragment
agrees), then all rows with missing values as wildcards. In every pass a claim is made when a
row and a patient are each other's only candidate in that pass and neither is claimed yet. With ``mode="single"``
only the all-fields wildcard pass runs (the attack of earlier versions).

The k-anonymity bound of ``linkage`` holds for every pass: leaving a field out can only
merge classes, so a class of c >= 2 indistinguishable patients still yields no unique claim.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from privhealth.anon.attacks.candidates import Candidates
from privhealth.anon.attacks.linkage import FieldPlan, LinkPlan
from privhealth.anon.attacks.matching import match, prerender
from privhealth.errors import ConfigError

PASS_MODES = ("leave_one_out", "single")
DOB_UNIT = "date_of_birth"
# Fields that go wrong together: a person who moved has a new street, city and ZIP.
RESIDENCE = ("zip", "city", "address")
MAX_LEFT_OUT = 2  # a claim needs all but at most two units to agree


@dataclass
class Claims:
    """Per register row the patient position it claims (-1: none), and which pass claimed it."""

    patient: np.ndarray
    pass_of: np.ndarray  # -1 where no claim
    passes: list[str]  # pass i: "all fields" or "without <unit>"

    def per_pass(self, truth: np.ndarray | None = None) -> list[dict[str, object]]:
        """Claims (and correct claims when ``truth`` is given, scoring only) per pass."""
        out = []
        for i, name in enumerate(self.passes):
            mine = self.pass_of == i
            row: dict[str, object] = {"pass": name, "claims": int(mine.sum())}
            if truth is not None:
                row["correct_claims"] = int((mine & (self.patient == truth)).sum())
            out.append(row)
        return out


def unit_of(field: str) -> str:
    """The unit a field is left out with: the residence fields together, the others alone."""
    return "residence" if field in RESIDENCE else field


def units(plan: LinkPlan) -> dict[str, list[str]]:
    """The units a pass can leave out, each with its register fields (the age check goes with the date of birth)."""
    out: dict[str, list[str]] = {}
    for f in plan.fields:
        out.setdefault(unit_of(f.field), []).append(f.field)
    if plan.age_used:
        out.setdefault(DOB_UNIT, [])
    return out


def restrict(plan: LinkPlan, patients: np.ndarray, without: tuple[str, ...] = ()) -> LinkPlan:
    """The plan on a subset of patients (positions), with some units left out."""
    fields = [
        dataclasses.replace(f, pattern=f.pattern[patients], key=f.key[patients])
        for f in plan.fields if unit_of(f.field) not in without
    ]
    return LinkPlan(
        fields, plan.dropped, plan.age_lo[patients], plan.age_hi[patients], plan.adm_lo[patients],
        plan.adm_hi[patients], plan.age_used and DOB_UNIT not in without, plan.age_tolerance,
    )


def _unique(c: Candidates) -> np.ndarray:
    """Rows whose only candidate has them as its only candidate."""
    if not len(c.p_count):
        return np.zeros(len(c.v_count), bool)
    return (c.v_count == 1) & (c.p_count[np.maximum(c.v_last, 0)] == 1)


def _present(plan: LinkPlan, register: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per unit, the register rows that hold a value for each of its fields (and a birth date for age)."""
    out = {}
    for unit, fields in units(plan).items():
        cols = fields or [DOB_UNIT]
        out[unit] = register.reindex(columns=cols).notna().all(axis=1).to_numpy()
    return out


def schedule(plan: LinkPlan, mode: str) -> list[tuple[tuple[str, ...], bool]]:
    """The passes as (units left out, whether the units used must be present in the row).

    Units present: all, then every one and every two left out (while at least one unit
    remains); then with missing values as wildcards: all, then every one left out.
    """
    if mode not in PASS_MODES:
        raise ConfigError(f"attack setting 'linkage_passes' must be one of {list(PASS_MODES)}, got {mode!r}")
    if mode == "single":
        return [((), False)]
    u = list(units(plan))
    most = max(0, min(MAX_LEFT_OUT, len(u) - 1))
    required = [w for r in range(most + 1) for w in itertools.combinations(u, r)]
    return [(w, True) for w in required] + [(w, False) for w in required if len(w) <= min(1, most)]


def _name(without: tuple[str, ...], required: bool) -> str:
    base = "all fields" if not without else "without " + " and ".join(without)
    return base + ("" if required else ", missing register values as wildcards")


def _encode(plan: LinkPlan, cache: dict[tuple[str, tuple], np.ndarray]) -> tuple[
    LinkPlan, dict[tuple[str, tuple], np.ndarray]
]:
    """Keys as numbers (NaN: none), one code per distinct text per field: every pass then joins numbers."""
    fields: list[FieldPlan] = []
    out: dict[tuple[str, tuple], np.ndarray] = {}
    for f in plan.fields:
        mine = [k for k in cache if k[0] == f.field]
        parts = [np.asarray(f.key, dtype=object), *(np.asarray(cache[k], dtype=object) for k in mine)]
        codes, _ = pd.factorize(pd.Series(np.concatenate(parts), dtype=object), use_na_sentinel=True)
        codes = np.where(codes < 0, np.nan, codes.astype(float))
        ends = np.cumsum([len(x) for x in parts])
        chunks = np.split(codes, ends[:-1])
        fields.append(dataclasses.replace(f, key=chunks[0]))
        out.update(zip(mine, chunks[1:], strict=True))
    return dataclasses.replace(plan, fields=fields), out


def claim(plan: LinkPlan, register: pd.DataFrame, first: Candidates, mode: str = "leave_one_out",
          max_pairs: int = 100_000_000) -> Claims:
    """Claims of every pass (``schedule``); ``first`` is ``match`` on the whole plan and register.

    A pass that requires its units present looks only at register rows holding a value for
    each: a row missing the SSN is not a rival of the row whose SSN fragment agrees. Uniqueness
    is judged against every patient and every row of the pass, claimed or not (fewer chance
    claims than matching the leftovers among themselves); only a row and a patient that no
    earlier pass claimed are claimed.
    """
    n_v, n_p = len(register), len(plan.age_lo)
    patient = np.full(n_v, -1, np.int64)
    pass_of = np.full(n_v, -1, np.int64)
    passes = schedule(plan, mode)
    present = _present(plan, register)
    plan, cache = _encode(plan, prerender(plan, register))
    for i, (without, required) in enumerate(passes):
        taken = np.zeros(n_p, bool)
        taken[patient[patient >= 0]] = True
        if taken.all():
            break
        ok = np.ones(n_v, bool)
        if required:
            for unit, has in present.items():
                if unit not in without:
                    ok &= has
        rows = np.flatnonzero(ok)
        if not len(rows):
            continue
        if not without and not required and len(rows) == n_v:
            c = first  # the whole plan on everyone: already matched
        else:
            sub = {k: v[rows] for k, v in cache.items()}
            c = match(restrict(plan, np.arange(n_p), without), register.iloc[rows], max_pairs=max_pairs,
                      prerendered=sub)
        hit = _unique(c) & (patient[rows] < 0) & ~taken[np.maximum(c.v_last, 0)]
        patient[rows[hit]] = c.v_last[hit]
        pass_of[rows[hit]] = i
    return Claims(patient, pass_of, [_name(w, r) for w, r in passes])


def claimed_view(first: Candidates, patient: np.ndarray, codes: dict[str, np.ndarray]) -> Candidates:
    """Candidates as the attacker sees them after linking: a claimed row has its claimed patient only.

    Attribute inference then reads a claimed patient's released values (``codes``: per
    attribute, each patient's value code, -1 missing); unclaimed rows keep their candidates.
    """
    hit = np.flatnonzero(patient >= 0)
    hists = {}
    for a, h in first.hists.items():
        h = h.copy()
        h[hit] = 0
        c = codes[a][patient[hit]]
        ok = c >= 0
        h[hit[ok], c[ok]] = 1
        hists[a] = h
    v_count = first.v_count.copy()
    v_count[hit] = 1
    v_last = first.v_last.copy()
    v_last[hit] = patient[hit]
    return dataclasses.replace(first, v_count=v_count, v_last=v_last, hists=hists)
