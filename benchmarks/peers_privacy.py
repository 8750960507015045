"""Privacy-model measurement (k, distinct l, entropy l, t ordered / equal) against pycanon.

    .venv/bin/python benchmarks/peers_privacy.py [--quick]

Raw Adult (30,162 rows) at x1, x10 and x100 replication. k, l and equal-distance t use the
8 quasi-identifiers with ``salary-class`` as the sensitive attribute (the only Adult column
that is not a QI). Ordered t needs a numeric sensitive attribute, so it uses ``age`` (72
values) with the 7 other QIs. Ours is ``privhealth.anon.privacy.measure`` (median of a few
calls after a warm-up); pycanon runs in a forked child stopped at a limit, so a slow model
reports "> limit" and a lower bound on the ratio. Two more rows per model measure the k=5
(2% suppression) optimal release of Adult, where classes are non-trivial and pycanon
finishes every model, so the values are compared there too.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from _common import (
    ADULT_QI,
    Section,
    cli,
    fmt_s,
    load_adult,
    machine_line,
    ratio,
    replicate,
    table,
    timed,
    timed_with_limit,
    verdict,
)

from privhealth.anon.criteria import KAnonymity
from privhealth.anon.privacy import PrivacyReport, measure
from privhealth.anon.search import optimal_generalization

TARGET = 100.0  # issue: k, l, t at least 100x faster than pycanon on raw Adult and at x10
QI7 = [q for q in ADULT_QI if q != "age"]


@dataclass(frozen=True)
class Model:
    """One privacy model: how we measure it, how pycanon does, and how the values compare."""

    name: str
    qis: list[str]
    sensitive: list[str]
    distance: str | None
    ours: Callable[[PrivacyReport], float]
    peer: Callable[[pd.DataFrame, list[str], list[str]], Any]
    agree: Callable[[float, float], bool]
    show: Callable[[float], str]


def _same(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9


def _floor_same(ours: float, peer: float) -> bool:
    """pycanon truncates exp(H) to an int: compare with the floor of ours (1e-9 slack at integers)."""
    return int(peer) in {math.floor(ours - 1e-9), math.floor(ours + 1e-9)}


def _models() -> list[Model]:
    from pycanon import anonymity as pc

    return [
        Model("k-anonymity", ADULT_QI, [], None, lambda r: r.k,
              lambda d, q, s: pc.k_anonymity(d, q), _same, lambda v: f"{int(v)}"),
        Model("distinct l (salary-class)", ADULT_QI, ["salary-class"], "equal",
              lambda r: r.l_distinct, pc.l_diversity, _same, lambda v: f"{int(v)}"),
        Model("entropy l (salary-class)", ADULT_QI, ["salary-class"], "equal",
              lambda r: r.l_entropy, pc.entropy_l_diversity, _floor_same, lambda v: f"{v:.4g}"),
        Model("t equal EMD (salary-class)", ADULT_QI, ["salary-class"], "equal",
              lambda r: r.t_emd, pc.t_closeness, _same, lambda v: f"{v:.6f}"),
        Model("t ordered EMD (age; 7 QIs)", QI7, ["age"], "ordered",
              lambda r: r.t_emd, pc.t_closeness, _same, lambda v: f"{v:.6f}"),
    ]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _ours(m: Model, df: pd.DataFrame) -> PrivacyReport:
    return measure(df, m.qis, m.sensitive, distance=m.distance, per_class=False)


def _row(m: Model, df: pd.DataFrame, label: str, repeat: int, limit: float,
         skip: str | None, bound: bool = False) -> tuple[list[Any], float, float | None, bool | None]:
    """One table row; also ours s, pycanon s (None: stopped or not run), agreement (None: not compared).

    ``bound``: pycanon was skipped because it passed the limit on a smaller table, so the
    limit still bounds its time from below and the ratio cell shows that bound.
    """
    t_ours, rep = timed(lambda: _ours(m, df), repeat, warmup=True)
    v_ours = m.ours(rep)
    if skip:
        t_peer, v_peer, peer_cell = None, None, skip
        rat = ratio(None, t_ours, limit) if bound else "not run"
    else:
        t_peer, v_peer = timed_with_limit(lambda: m.peer(df, m.qis, m.sensitive), limit)
        peer_cell, rat = fmt_s(t_peer, limit), ratio(t_peer, t_ours, limit)
    agree = None if t_peer is None else bool(m.agree(v_ours, v_peer))
    shown = f"{m.show(v_ours)} / {m.show(v_peer) if t_peer is not None else '–'}"
    cell = "not compared" if agree is None else ("yes" if agree else "**NO**")
    return ([m.name, label, f"{len(df):,}", f"{rep.n_classes:,}", f"{t_ours:.4f}", peer_cell, rat,
             shown, cell], t_ours, t_peer, agree)


def run(quick: bool = False) -> Section:
    adult, hs = load_adult()
    if quick:
        adult = adult.sample(2000, random_state=0)
    adult = adult.reset_index(drop=True)
    reps = (1, 2) if quick else (1, 10, 100)
    limit = 20.0 if quick else 30.0
    # raw Adult is the reference: there pycanon gets longer, so its values are compared
    first_limit = 20.0 if quick else 150.0
    models = _models()
    rows: list[list[Any]] = []
    # (model, x) -> ours s, pycanon s, measured (or bounded), the limit that bounds it
    ratios: dict[tuple[str, int], tuple[float, float | None, bool, float]] = {}
    agreed: list[bool] = []
    stopped: dict[str, tuple[int, float]] = {}  # model -> (replication, limit) where pycanon stopped
    for times in reps:
        df = replicate(adult, times)
        repeat = 3 if times >= 100 else 5
        for m in models:
            lim = first_limit if times == 1 else limit
            skip, bound = None, m.name in stopped
            if bound:
                at, lim = stopped[m.name]
                skip = f"not run (> {lim:g} at x{at})"
            elif quick and m.distance == "ordered":
                skip = "not run in quick mode"
            row, t_ours, t_peer, agree = _row(m, df, f"raw x{times}", repeat, lim, skip, bound)
            rows.append(row)
            ratios[(m.name, times)] = (t_ours, t_peer, skip is None or bound, lim)
            if t_peer is None and skip is None:
                stopped[m.name] = (times, lim)
            if agree is not None:
                agreed.append(agree)
        del df

    # the k=5 / 2% optimal releases: non-trivial classes, so a real check of every value
    rel8 = optimal_generalization(adult, hs, [KAnonymity(5)], suppression_limit=0.02)
    rel7 = optimal_generalization(adult, {q: hs[q] for q in QI7}, [KAnonymity(5)],
                                  suppression_limit=0.02)
    for m in models:
        rel = rel7 if m.qis is QI7 else rel8
        df = rel.release.reset_index(drop=True)
        row, _, _, agree = _row(m, df, "k=5 release", 5, limit, None)
        rows.append(row)
        if agree is not None:
            agreed.append(agree)

    big = reps[1]
    verdicts = []
    for m in models:
        parts, ok, unmeasured = [], True, False
        for times in reps[:2]:
            t_ours, t_peer, measured, lim = ratios[(m.name, times)]
            if not measured:
                parts.append(f"x{times} not run")
                unmeasured = True
                continue
            r = (t_peer if t_peer is not None else lim) / t_ours
            parts.append(f"x{times} {ratio(t_peer, t_ours, lim)}")
            ok &= r >= TARGET
        why = ""
        if m.name == "k-anonymity" and not ok:
            why = (" — pycanon's k is one pandas groupby and a min over group sizes, already "
                   "vectorized; a hashing groupby cannot be beaten 100×")
        verdicts.append(f"{m.name} at least {TARGET:.0f}× faster than pycanon on raw Adult and at "
                        f"x{big} ({', '.join(parts)}): "
                        f"{'**not measured** (quick mode)' if unmeasured else verdict(ok)}{why}")

    n_cmp = len(agreed)
    body = [
        f"Machine: {machine_line()}. Adult {len(adult):,} rows"
        f"{' (QUICK: a sample)' if quick else ''}; replication stacks copies (same classes, "
        f"each {reps[-1]}× larger at x{reps[-1]}). Ours: median of 5 calls (3 at x100) after a "
        f"warm-up of `privhealth.anon.privacy.measure(..., per_class=False)`; for l and t that one "
        "call computes k, distinct and entropy l, the EMD and KL of the attribute together, so "
        f"those rows time more than the model alone. pycanon {_version('pycanon')} on a 0..n-1 index, in a forked "
        f"child stopped after {first_limit:g} s on raw x1 (the issue's reference, so that its "
        f"values are compared) and {limit:g} s elsewhere (\"> limit\": the ratio is then a lower "
        "bound); a model stopped at one size is not run at larger ones, where that limit still "
        "bounds its time from below.\n",
        table(["model", "data", "rows", "classes", "ours s", "pycanon s", "ratio pycanon/ours",
               "values (ours / pycanon)", "values agree"], rows),
        "Reading the table:\n",
        "- Raw Adult has classes of one record (k = 1, l = 1, entropy l = 1) for k and l, so those "
        "values agree trivially; t (the worst class's EMD) and every row on the k=5 release "
        "compare non-trivial values. pycanon's entropy l is `int(min(exp(H)))`, so it is compared "
        "with the floor of ours. pycanon picks ordered EMD for a numeric attribute and "
        "equal-distance EMD for strings, which is why ordered t uses `age`.\n",
        "- k: pycanon's `k_anonymity` is a single pandas groupby (plus a Python list over the "
        "groups), the same hashing work ours does on integer codes, so the gap is a small "
        "constant that shrinks with size; the 100× target is not reachable for k and the table "
        "says so. l and t differ in kind: pycanon loops in Python over classes and, for t, over "
        "the attribute's values inside each class (72 ages), while ours computes every class at "
        "once from sparse per-class histograms.\n",
        f"- Values compared: {n_cmp}, all equal: "
        f"{'yes' if all(agreed) else '**NO** (see the rows marked NO)'}.\n",
    ]
    return Section("Privacy-model measurement against pycanon", "\n".join(body), verdicts)


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
