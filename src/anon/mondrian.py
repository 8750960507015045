"""Mondrian multidimensional partitioning (strict; LeFevre, DeWitt & Ramakrishnan, ICDE 2006).

Starting from one partition holding every unit, each partition is split along one
quasi-identifier — numeric ones at the median (``<= median`` left, the rest right; ``<``
when the median is the maximum), categorical ones into the children of their current
hierarchy node — choosing, among the splits whose parts *all* satisfy every criterion
(k, l, t checked on each part), the dimension with the widest normalised range (numeric:
value range / whole range; categorical: distinct values present / distinct values in the
data). A partition with no allowable split becomes an equivalence class. Released values
are ranges of the class's own values for numeric QIs, in ``privhealth.data.intervals``'s
format (``40-59`` for whole numbers, ``[54.9, 57.53]`` otherwise, the value itself when lo = hi) and the label of the lowest hierarchy node covering the class's values for
categorical ones.

Work is breadth-first: all active partitions of a round are handled by the same numpy
calls (segmented by partition id), so Python loops run over rounds and dimensions, not rows.

Suppression: strict Mondrian needs none — the root satisfies the criteria, or no release
exists and PrivacyModelError names the failing criterion. With a limit > 0, a categorical
split blocked only by children that fail (a rare country under its continent) is made by
suppressing those children, when the remaining budget allows and the partition's
generalized certainty penalty drops at once (suppressed records count as fully
generalized). Candidates are taken largest partition first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon import loss as lossmod
from privhealth.anon.boxes import MondrianBoxes
from privhealth.anon.classes import Histograms, combine, factorize, first_positions
from privhealth.anon.criteria import Criterion, KAnonymity, bind, sensitive_of
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.units import Units, check_k, prepare_units, validate_request
from privhealth.data.intervals import format_ranges
from privhealth.errors import PrivacyModelError


@dataclass(frozen=True)
class MondrianResult:
    """The partitioned release and its statistics."""

    release: pd.DataFrame = field(repr=False)  # generalized QIs, suppressed records removed
    n_classes: int
    class_sizes: np.ndarray = field(repr=False)  # units per class
    utility: lossmod.UtilityReport
    n_units: int
    n_suppressed: int
    suppressed_rows: int
    suppressed_index: pd.Index = field(repr=False)
    seconds: float
    rounds: int
    criteria: tuple[str, ...]
    suppression_limit: float
    boxes: MondrianBoxes | None = field(default=None, repr=False)  # classes, to map new records

    @property
    def discernibility(self) -> float:
        return self.utility.discernibility

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "n_classes": self.n_classes,
            "utility": self.utility.to_dict(),
            "n_units": self.n_units,
            "n_suppressed": self.n_suppressed,
            "suppressed_rows": self.suppressed_rows,
            "seconds": self.seconds,
            "rounds": self.rounds,
            "criteria": list(self.criteria),
            "suppression_limit": self.suppression_limit,
        }


class _Numeric:
    """A numeric QI on rank codes of its distinct values."""

    def __init__(self, name: str, col: pd.Series) -> None:
        if col.isna().any():
            raise PrivacyModelError(f"numeric quasi-identifier '{name}' has missing values")
        self.name = name
        self.codes, self.m = factorize(col.to_numpy(), sort=True)
        self.values = np.sort(col.unique())
        self.whole = bool(np.all(self.values == np.round(self.values)))  # labels 40-59, else [a, b]
        self.span = float(self.values[-1] - self.values[0]) if self.m > 1 else 0.0
        self.freq = np.bincount(self.codes, minlength=self.m).astype(np.float64)
        self.cum = np.concatenate(([0.0], np.cumsum(self.freq)))

    def width(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Normalised range (also the GCP share) of code ranges [lo, hi]."""
        if self.span == 0:
            return np.zeros(len(lo))
        return (self.values[hi] - self.values[lo]) / self.span

    def split(self, rows, pid, p, sizes, starts):
        """Width, share and median split (child id per row) of every partition."""
        code = self.codes[rows]
        sc = code[np.lexsort((code, pid))]
        w = self.width(sc[starts], sc[starts + sizes - 1])
        med = sc[starts + (sizes - 1) // 2]
        left = code <= med[pid]
        swap = np.bincount(pid, weights=left, minlength=p) == sizes
        left = np.where(swap[pid], code < med[pid], left)
        child, nc = combine([pid, (~left).astype(np.int64)], [p, 2])
        return w, w, child, nc, None


class _Categorical:
    """A categorical QI: leaf codes, group codes per level (levels x leaves), GCP shares."""

    def __init__(self, name: str, col: pd.Series, h: Hierarchy) -> None:
        self.name = name
        self.h = h
        self.leaf = h.encode(col.reset_index(drop=True))
        self.codes2d = np.stack([h.codes(lev) for lev in range(h.height)])
        self.maxg = int(self.codes2d.max()) + 1
        self.top = h.max_level
        self.n_present = len(np.unique(self.leaf))
        self.freq = np.bincount(self.leaf, minlength=h.size).astype(np.float64)
        self.share2d = np.zeros((h.height, self.maxg))
        self.leaves2d = np.zeros((h.height, self.maxg))
        self.cover2d = np.zeros((h.height, self.maxg))
        for lev in range(h.height):
            gs = h.group_sizes(lev)
            self.leaves2d[lev, : len(gs)] = gs
            self.share2d[lev, : len(gs)] = (gs - 1) / max(h.size - 1, 1)
            self.cover2d[lev, : len(gs)] = np.bincount(h.codes(lev), weights=self.freq)

    def descend(self, lvl: np.ndarray, pid: np.ndarray, leaf: np.ndarray, p: int) -> None:
        """Lower each partition's node while it has a single child holding its values (in place)."""
        while True:
            can = lvl > 0
            if not can.any():
                return
            sub = self.codes2d[np.maximum(lvl - 1, 0)[pid], leaf]
            ids, nc = combine([pid, sub], [p, self.maxg])
            distinct = np.bincount(pid[first_positions(ids, nc)], minlength=p)
            step = can & (distinct == 1)
            if not step.any():
                return
            lvl[step] -= 1

    def split(self, rows, pid, p, sizes, starts, lvl):
        """Width, share and split into hierarchy children (child id per row) of every partition."""
        leaf = self.leaf[rows]
        self.descend(lvl, pid, leaf, p)
        share = self.share2d[lvl, self.codes2d[lvl, leaf[starts]]]
        ids, nc = combine([pid, leaf], [p, self.h.size])
        present = np.bincount(pid[first_positions(ids, nc)], minlength=p)
        w = (present - 1) / max(self.n_present - 1, 1)
        below = np.maximum(lvl - 1, 0)[pid]
        sub = np.where(lvl[pid] > 0, self.codes2d[below, leaf], 0)
        child, nc = combine([pid, sub], [p, self.maxg])
        first = first_positions(child, nc)
        child_share = self.share2d[below[first], sub[first]]
        return w, share, child, nc, child_share


def _passes(
    criteria: Sequence[Criterion], units: Units, ids: np.ndarray, n: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sizes of the classes ``ids`` (over ``rows``) and whether each passes every criterion."""
    sizes = np.bincount(ids, minlength=n)
    ok = np.ones(n, dtype=bool)
    hists: dict[str, Histograms] = {}
    for c in criteria:
        a = c.attribute
        if a is not None and a not in hists:
            enc = units.sensitive[a]
            hists[a] = Histograms.build(ids, n, enc.codes[rows], enc.m)
        ok &= c.passes(sizes, hists.get(a) if a else None, units.sensitive[a] if a else None)
    return sizes, ok


@dataclass
class _Split:
    """One dimension's candidate split of every active partition."""

    child: np.ndarray  # child id per active row
    n_child: int
    child_ok: np.ndarray  # per child: passes every criterion
    valid: np.ndarray  # per partition: >= 2 children, all passing
    fail_units: np.ndarray  # per partition: units in failing children
    pass_units: np.ndarray
    pass_share: np.ndarray  # per partition: sum over passing children of size x child share
    relaxable: np.ndarray  # per partition: >= 2 children, some failing, some passing


def _evaluate(bound, units, rows, pid, p, child, nc, child_share) -> _Split:
    first = first_positions(child, nc)
    parent = pid[first]
    csize, cok = _passes(bound, units, child, nc, rows)
    kids = np.bincount(parent, minlength=p)
    bad = np.bincount(parent, weights=~cok, minlength=p)
    fail_units = np.bincount(parent, weights=csize * ~cok, minlength=p)
    pass_units = np.bincount(parent, weights=csize * cok, minlength=p)
    pass_share = (
        np.bincount(parent, weights=csize * cok * child_share, minlength=p)
        if child_share is not None
        else np.zeros(p)
    )
    return _Split(
        child, nc, cok, (kids >= 2) & (bad == 0), fail_units, pass_units, pass_share,
        (kids >= 2) & (bad > 0) & (bad < kids),
    )


def mondrian(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    criteria: Sequence[Criterion],
    *,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive: Sequence[str] = (),
    entity: str | None = None,
    suppression_limit: float = 0.0,
) -> MondrianResult:
    """Partition ``df`` with strict Mondrian so that every class satisfies all ``criteria``.

    Numeric QIs (numeric dtype) are split at the median; the others need a hierarchy in
    ``hierarchies`` (a flat one — value, then ``*`` — is used where none is given).
    Criteria without an ``attribute`` apply to every attribute in ``sensitive``;
    t-closeness compares with the input's distribution.
    """
    t0 = time.perf_counter()
    validate_request(criteria, suppression_limit)
    qis = list(quasi_identifiers)
    hierarchies = dict(hierarchies or {})
    sens = sensitive_of(criteria, sensitive)
    bound = bind(criteria, sens)
    units = prepare_units(df, qis, sens, entity, bound)
    n = units.n
    check_k(bound, n, "entities" if entity else "records")
    dims: list[_Numeric | _Categorical] = []
    for q in qis:
        col = units.frame[q]
        h = hierarchies.get(q)
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and (h is None or h.numeric):
            dims.append(_Numeric(q, col))
        else:
            dims.append(_Categorical(q, col, h if h is not None else Hierarchy.flat(q, col)))
    cat_idx = [j for j, dm in enumerate(dims) if isinstance(dm, _Categorical)]

    everyone = np.zeros(n, dtype=np.int64)
    failing = [c.label() for c in bound if not _passes([c], units, everyone, 1, np.arange(n))[1][0]]
    if failing:
        raise PrivacyModelError(
            f"no partition of the data satisfies {', '.join(failing)}: the whole table fails it"
        )

    budget = int(math.floor(suppression_limit * n + 1e-9))
    unit_class = np.full(n, -1, dtype=np.int64)
    levels: list[np.ndarray] = []  # per final class: level of each categorical QI
    n_classes = 0
    rows = np.arange(n)
    pid = np.zeros(n, dtype=np.int64)
    cur = np.array([[dims[j].top for j in cat_idx]], dtype=np.int64).reshape(1, len(cat_idx))  # type: ignore[union-attr]  # cat_idx: categorical dims
    rounds = 0
    d = len(dims)

    while len(rows):
        rounds += 1
        p = len(cur)
        order = np.lexsort((rows, pid))
        rows, pid = rows[order], pid[order]
        sizes = np.bincount(pid, minlength=p)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        width = np.zeros((p, d))
        share = np.zeros((p, d))
        splits: list[_Split] = []
        for j, dim in enumerate(dims):
            if isinstance(dim, _Numeric):
                w, s, child, nc, cshare = dim.split(rows, pid, p, sizes, starts)
            else:
                lvl = cur[:, cat_idx.index(j)]
                w, s, child, nc, cshare = dim.split(rows, pid, p, sizes, starts, lvl)
                cur[:, cat_idx.index(j)] = lvl
            width[:, j], share[:, j] = w, s
            splits.append(_evaluate(bound, units, rows, pid, p, child, nc, cshare))

        valid = np.stack([sp.valid for sp in splits], axis=1) & (width > 0)
        score = np.where(valid, width, -1.0)
        best = np.argmax(score, axis=1)
        split = score[np.arange(p), best] >= 0
        relaxed = np.zeros(p, dtype=bool)
        if budget:
            budget = _relax(splits, cat_idx, share, sizes, split, best, relaxed, budget)
            split |= relaxed

        done = ~split
        if done.any():
            fin = np.flatnonzero(done)
            new_ids = np.full(p, -1, dtype=np.int64)
            new_ids[fin] = n_classes + np.arange(len(fin))
            in_fin = done[pid]
            unit_class[rows[in_fin]] = new_ids[pid[in_fin]]
            levels.extend(cur[fin])
            n_classes += len(fin)
        if not split.any():
            break

        keep = split[pid]
        key = np.zeros(len(rows), dtype=np.int64)
        drop = np.zeros(len(rows), dtype=bool)
        offset = 0
        for j, sp in enumerate(splits):
            sel = keep & (best[pid] == j)
            key[sel] = sp.child[sel] + offset
            drop |= sel & relaxed[pid] & ~sp.child_ok[sp.child]
            offset += sp.n_child
        keep &= ~drop
        rows, parent_pid = rows[keep], pid[keep]
        pid, n_new = factorize(key[keep])
        par = parent_pid[first_positions(pid, n_new)]
        cur_next = cur[par].copy()
        for jc, j in enumerate(cat_idx):
            sel = best[par] == j
            cur_next[sel, jc] -= 1
        cur = cur_next

    lv = np.array(levels, dtype=np.int64).reshape(n_classes, len(cat_idx))
    return _finish(df, units, dims, cat_idx, unit_class, lv, bound,
                   suppression_limit, rounds, time.perf_counter() - t0)


def _relax(splits, cat_idx, share, sizes, split, best, relaxed, budget) -> int:
    """Choose blocked categorical splits to make by suppressing failing children (in place)."""
    total = share.sum(axis=1)
    before = sizes * total
    n_dims = share.shape[1]
    gains = np.full(share.shape, -np.inf)
    for j in cat_idx:
        sp = splits[j]
        after = sp.pass_units * (total - share[:, j]) + sp.pass_share + sp.fail_units * n_dims
        ok = sp.relaxable & (sp.fail_units <= budget) & ~split
        gains[ok, j] = (before - after)[ok]
    cand = np.flatnonzero(np.max(gains, axis=1) > 1e-12)
    for q in cand[np.argsort(-sizes[cand], kind="stable")]:
        order = np.argsort(-gains[q])
        for j in order:
            if gains[q, j] <= 1e-12:
                break
            cost = int(splits[j].fail_units[q])
            if cost <= budget:
                budget -= cost
                relaxed[q] = True
                best[q] = j
                break
    return budget


def _finish(df, units, dims, cat_idx, unit_class, lv, bound, limit, rounds, seconds):
    """Labels, release and utility from the final classes (units without a class were suppressed)."""
    n = units.n
    n_classes = len(lv)
    kept = unit_class >= 0
    cls = np.where(kept, unit_class, 0)
    row_unit = units.row_unit if units.row_unit is not None else np.arange(n)
    row_kept = kept[row_unit]
    out = df.copy()
    leaves, sizes_dom, gcp, own, cover = [], [], [], [], []
    first = np.unique(unit_class[kept], return_index=True)[1]
    rep = np.flatnonzero(kept)[first]  # one member unit per class, in class order
    box_labels: dict[str, np.ndarray] = {}
    box_num: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    box_cat: dict[str, tuple[np.ndarray, Hierarchy]] = {}
    for j, dim in enumerate(dims):
        if isinstance(dim, _Numeric):
            lo = np.full(n_classes, dim.m, dtype=np.int64)
            hi = np.full(n_classes, -1, dtype=np.int64)
            np.minimum.at(lo, unit_class[kept], dim.codes[kept])
            np.maximum.at(hi, unit_class[kept], dim.codes[kept])
            label = format_ranges(dim.values[lo], dim.values[hi], closed=True, whole=dim.whole)
            box_num[dim.name] = (dim.values[lo].astype(np.float64), dim.values[hi].astype(np.float64))
            ulo, uhi = lo[cls], hi[cls]
            leaves.append(uhi - ulo + 1)
            sizes_dom.append(dim.m)
            gcp.append(dim.width(ulo, uhi))
            own.append(dim.freq[dim.codes])
            cover.append(dim.cum[uhi + 1] - dim.cum[ulo])
        else:
            level = lv[:, cat_idx.index(j)]
            ulev = level[cls]
            group = dim.codes2d[ulev, dim.leaf]
            gl = np.stack([
                np.resize(dim.h.group_labels(x), dim.maxg) for x in range(dim.h.height)
            ])
            label = None
            leaves.append(dim.leaves2d[ulev, group])
            sizes_dom.append(dim.h.size)
            gcp.append(dim.share2d[ulev, group])
            own.append(dim.freq[dim.leaf])
            cover.append(dim.cover2d[ulev, group])
            unit_label = gl[ulev, group]
            box_cat[dim.name] = (level, dim.h)
            box_labels[dim.name] = np.asarray(unit_label[rep], dtype=object)
        col = label[cls] if label is not None else unit_label
        if label is not None:
            box_labels[dim.name] = np.asarray(label, dtype=object)
        out[dim.name] = col[row_unit]
    release = out[row_kept]
    g = lossmod.GeneralizedUnits(np.ones(n), ~kept, cls, leaves, sizes_dom, gcp, own, cover)
    k = max([c.k for c in bound if isinstance(c, KAnonymity)], default=1)
    sizes = np.bincount(unit_class[kept], minlength=n_classes)
    boxes = MondrianBoxes([dim.name for dim in dims], sizes, box_labels, box_num, box_cat)
    return MondrianResult(
        release=release,
        n_classes=n_classes,
        class_sizes=sizes,
        utility=lossmod.utility(g, k),
        n_units=n,
        n_suppressed=int((~kept).sum()),
        suppressed_rows=int((~row_kept).sum()),
        suppressed_index=df.index[~row_kept],
        seconds=seconds,
        rounds=rounds,
        criteria=tuple(c.label() for c in bound),
        suppression_limit=limit,
        boxes=boxes,
    )
