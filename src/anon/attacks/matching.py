"""Matching for the linkage attack: candidates per register row and per released patient, counted.

``match`` joins a register to an attack plan (``linkage.plan_attack``) block by block of
equal exact-match keys, with the date-of-birth/age check as an interval of birth days per
patient, and counts candidates without keeping the pairs (``pairwise=True`` enumerates
them, the reference the tests compare against).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privhealth.anon.attacks.candidates import Candidates
from privhealth.anon.attacks.linkage import DAYS_PER_YEAR, LinkPlan, has_zero_zip3, render
from privhealth.errors import ConfigError


# ---------------------------------------------------------------------- matching
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
    n_values = n_values or {}  # hists are kept only when the sizes are given
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
                r = render(p.kind, spec, register[p.field], has_zero_zip3(p))
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
        (p.field, spec): render(p.kind, spec, register[p.field], has_zero_zip3(p))
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
