"""Optimal full-domain generalization over the hierarchy lattice (in the spirit of ARX's Flash/OLA).

A *node* assigns one generalization level to every quasi-identifier; the lattice orders
nodes componentwise. A node is feasible when the records in classes that fail some
criterion — which are suppressed, whole classes at a time as in ARX — are at most the
suppression limit. The search returns a feasible node of minimum loss, exactly.

Pruning, each sound by construction:

1. *Lower bounds*: every metric's value without suppression is a lower bound on its value
   with suppression (a suppressed record counts as fully generalized) and never decreases
   up the lattice. Nodes are visited in increasing bound order (bound, then level sum), so
   once the next bound reaches the best loss found the search stops; for discernibility,
   whose bound needs the classes, a node's bound is the sum of squared class sizes and is
   passed on to its successors.
2. *Predictive tagging*: a node failing the criteria that are monotone under the chosen
   suppression setting (k-anonymity and distinct-l always; entropy-l, recursive (c,l) and
   t-closeness only with a zero suppression limit — see ``criteria``) proves all its
   predecessors infeasible; a node passing them proves all successors pass them.
   t-closeness with suppression is not monotone, but it *bounds* the suppression below a
   node: by convexity of the distances, a class at distance d > t needs a share
   (d - t) / (dmax - t) of it suppressed in any split (``suppression_bounds``); when a node's
   classes need more than the limit in total, its whole down-set is tagged infeasible.
3. *Binary search on paths* (Flash): before checking a node whose status is unknown (or
   whenever suppression bounds apply), the search walks a path up to the top (cheapest bound
   first) and binary-searches it for the lowest node that does not prove its down-set
   infeasible; each such proof tags a whole down-set.
4. *Roll-up*: a node's classes are computed from the cached node with fewest classes that it
   generalizes (classes there are merged, histograms summed), never from the rows again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from privhealth.anon import loss as lossmod
from privhealth.anon.classes import Histograms
from privhealth.anon.criteria import Criterion, KAnonymity, bind, sensitive_of
from privhealth.anon.frequency import FrequencySet
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.loss_metrics import LossMetric, resolve_metric
from privhealth.anon.node_groups import NodeGrouper
from privhealth.anon.search_result import SearchResult, release_builder
from privhealth.anon.snapshots import Snapshot, SnapshotCache
from privhealth.anon.units import Units, check_k, prepare_units, validate_request
from privhealth.errors import ConfigError, PrivacyModelError

_MAX_NODES = 5_000_000
_CHUNK = 256  # nodes the search filters at once for tags
_CACHE = 1024  # snapshots kept at most (more cached parents: smaller roll-ups)
CACHE_BYTES = 256 * 2**20  # default memory budget of the snapshot cache


@dataclass(frozen=True)
class NodeOutcome:
    """What checking one node gives: feasibility, suppressed units, loss (None if infeasible)."""

    levels: tuple[int, ...]
    feasible: bool
    n_failing: int
    loss: float | None


class Verdict(NamedTuple):
    """A node checked against the criteria: its failing classes and what it proves."""

    fail: np.ndarray  # per class, whether it fails a criterion (is suppressed)
    n_fail: int  # units in failing classes
    mono_exceeded: bool  # the monotone criteria alone fail more units than the limit
    down_infeasible: bool  # this node and every node below it are infeasible
    bound: float  # units that this node and every node below it suppress at least


class Lattice:
    """Generalization lattice of a unit table, with class computation by roll-up.

    Exposed for tests and experiments: ``evaluate(levels)`` checks any node exactly,
    which is what an exhaustive comparison needs.
    """

    def __init__(
        self,
        units: Units,
        hierarchies: Mapping[str, Hierarchy],
        criteria: Sequence[Criterion],
        suppression_limit: float,
        metric: str | LossMetric,
        max_levels: Mapping[str, int] | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.units = units
        self.cache_bytes = cache_bytes
        self.qis = list(hierarchies)
        self.hier = [hierarchies[q] for q in self.qis]
        self.metric = resolve_metric(metric)
        self.limit = suppression_limit
        self.max_supp = int(math.floor(suppression_limit * units.n + 1e-9))
        supp = suppression_limit > 0
        # monotone criteria first, k first: a node can be rejected before the costly ones
        self.criteria = sorted(
            criteria, key=lambda c: (not c.monotone(supp), not isinstance(c, KAnonymity))
        )
        self.mono = [c.monotone(supp) for c in self.criteria]
        self.all_monotone = all(self.mono)
        caps = dict(max_levels or {})
        unknown = [q for q in caps if q not in hierarchies]
        if unknown:
            raise ConfigError(f"max_levels names '{unknown[0]}', which is not a quasi-identifier")
        self.top = np.array([
            _cap(h, caps.get(q, h.max_level)) for q, h in zip(self.qis, self.hier, strict=True)
        ])
        self.heights = self.top + 1
        self.size = int(np.prod(self.heights.astype(np.float64)))
        if self.size > _MAX_NODES:
            raise ConfigError(
                f"the lattice has {self.size:,} nodes (more than {_MAX_NODES:,}); cap levels with max_levels"
            )
        self.strides = np.cumprod(np.r_[1, self.heights[::-1][:-1]])[::-1].astype(np.int64)

        self.freq = FrequencySet.build(units.frame, self.hier, self.qis, units.sensitive)
        fs = self.freq
        self.unit_columns = fs.unit_columns
        self.unit_bottom = fs.tuple_of_unit
        c0 = fs.n_tuples
        self.bottom_key = tuple([0] * len(self.qis))
        self.bottom = Snapshot(
            self.bottom_key, np.ascontiguousarray(fs.leaf.T), fs.counts, np.arange(c0), hists=dict(fs.hists)
        )
        self.tables = [
            lossmod.LevelTables.build(h, fs.leaf[:, j], weights=fs.counts) for j, h in enumerate(self.hier)
        ]
        self.grouper = NodeGrouper(self.hier, c0)
        self.level_codes = self.grouper.codes
        self.cache = SnapshotCache(self.bottom, _CACHE, cache_bytes)
        self.checked = 0

    # -------------------------------------------------------------- classes
    def node(self, levels: tuple[int, ...]) -> Snapshot:
        """Classes of a node, rolled up from the cached node with fewest classes below it.

        Class ids are canonical — in the order of the node's class keys (``group``) — whichever
        node they were rolled up from, so a parent evicted and recomputed keeps its numbering.
        """
        if levels in self.cache:
            return self.cache.touch(levels)
        parent = self.cache.parent_of(np.asarray(levels))
        new, nc, member = self.group(levels, parent.rep)
        nd = Snapshot(
            levels,
            parent.rep[:, member],
            np.bincount(new, weights=parent.sizes, minlength=nc).astype(np.int64),
            None,  # the bottom map is grouped from the bottom only when needed (``bottom_map``)
            parent.levels,
            new,
        )
        self.cache.put(nd)
        return nd

    def group(self, levels: Sequence[int], rep: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Class of each column of ``rep`` at ``levels``: ids (canonical), count, one member each."""
        return self.grouper.group(levels, rep)

    def bottom_map(self, nd: Snapshot) -> np.ndarray:
        """Class of every bottom class (distinct tuple) at ``nd``, rolled up from the bottom when needed.

        Class ids depend only on the node, so grouping the bottom directly gives the same ids
        as any roll-up.
        """
        if nd.bottom_map is None:
            nd.bottom_map = self.group(nd.levels, self.bottom.rep)[0]
            self.cache.grew(nd, nd.bottom_map.nbytes)
        return nd.bottom_map

    def hist(self, nd: Snapshot, attr: str) -> Histograms:
        """Sensitive histograms of a node's classes, summed from its parent's (or the bottom's)."""
        h = nd.hists.get(attr)
        if h is None:
            parent = self.cache.get(nd.parent_key)
            if parent is not None and attr in parent.hists:
                h = parent.hists[attr].rollup(nd.parent_map, len(nd.sizes))
            else:
                h = self.bottom.hists[attr].rollup(self.bottom_map(nd), len(nd.sizes))
            nd.hists[attr] = h
            self.cache.grew(nd, h.cls.nbytes + h.val.nbytes + h.cnt.nbytes)
        return h

    # -------------------------------------------------------------- checks
    def failing(self, nd: Snapshot, stop_above: int | None = None) -> Verdict:
        """Classes failing any criterion, the units in them, and whether the node proves its down-set infeasible.

        The down-set is infeasible when the monotone criteria alone fail more units than the
        limit, or when the criteria's per-class suppression bounds (``Criterion.judge``) add
        up to more. With ``stop_above`` the check stops once that many units fail.
        """
        fail = np.zeros(len(nd.sizes), dtype=bool)
        share = np.zeros(len(nd.sizes))
        n_fail = 0
        mono_exceeded = False
        for crit, mono in zip(self.criteria, self.mono, strict=True):
            attr = crit.attribute
            h = self.hist(nd, attr) if attr else None
            enc = self.units.sensitive[attr] if attr else None
            ok, need = crit.judge(nd.sizes, h, enc)
            fail |= ~ok
            if need is not None:
                np.maximum(share, need, out=share)
            n_fail = int(nd.sizes[fail].sum())
            if mono and n_fail > self.max_supp:
                mono_exceeded = True
            if stop_above is not None and n_fail > stop_above:
                break
        bound = float(np.sum(nd.sizes * share))  # no BLAS: np.dot of int64 and float64 is slow
        return Verdict(fail, n_fail, mono_exceeded, mono_exceeded or bound > self.max_supp, bound)

    def loss_of(self, levels: Sequence[int], nd: Snapshot, fail: np.ndarray) -> float:
        """The metric at a node. Share-based metrics depend only on the class, so classes are
        the units; non-uniform entropy depends on each record's own value, so bottom classes are."""
        if self.metric.needs_own_values:
            return self.metric.value(self.generalized(levels, nd, fail))
        g = lossmod.units_at_levels(
            self.tables, levels, nd.rep, nd.sizes, fail, np.arange(len(nd.sizes)), own=False
        )
        return self.metric.value(g)

    def generalized(self, levels: Sequence[int], nd: Snapshot, fail: np.ndarray) -> lossmod.GeneralizedUnits:
        return lossmod.units_at_levels(
            self.tables, levels, self.bottom.rep, self.bottom.sizes, fail[self.bottom_map(nd)],
            self.bottom_map(nd),
        )

    def evaluate(self, levels: Sequence[int]) -> NodeOutcome:
        """Check one node exactly (no pruning): feasibility under the limit and its loss."""
        levels = tuple(int(x) for x in levels)
        nd = self.node(levels)
        self.checked += 1
        fail, n_fail = self.failing(nd)[:2]
        ok = n_fail <= self.max_supp
        return NodeOutcome(levels, ok, n_fail, self.loss_of(levels, nd, fail) if ok else None)

    def all_levels(self) -> np.ndarray:
        """Levels of every node (nodes x QIs), node index = mixed radix of the levels."""
        grids = np.indices(tuple(self.heights)).reshape(len(self.heights), -1).T
        return grids.astype(np.int16)


def _cap(h: Hierarchy, cap: int) -> int:
    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or not 0 <= cap <= h.max_level:
        raise ConfigError(
            f"max_levels for '{h.attribute}' must be a level between 0 and {h.max_level}, got {cap!r}"
        )
    return int(cap)


def optimal_generalization(
    df: pd.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    criteria: Sequence[Criterion],
    *,
    sensitive: Sequence[str] = (),
    entity: str | None = None,
    suppression_limit: float = 0.0,
    metric: str | LossMetric = "arx_loss",
    max_levels: Mapping[str, int] | None = None,
    cache_bytes: int = CACHE_BYTES,
) -> SearchResult:
    """Find the full-domain generalization of minimum loss that satisfies all ``criteria``.

    ``hierarchies`` names the quasi-identifiers (in order) and their hierarchies.
    Criteria without an ``attribute`` apply to every attribute in ``sensitive``.
    ``suppression_limit`` is the fraction of units (entities, with ``entity``) that may be
    removed; t-closeness compares with the input's distribution (as ARX does).
    ``cache_bytes`` bounds the memory of the snapshots that nodes are rolled up from.
    Raises PrivacyModelError naming the constraint that cannot be met.
    """
    t0 = time.perf_counter()
    validate_request(criteria, suppression_limit)
    qis = list(hierarchies)
    sens = sensitive_of(criteria, sensitive)
    bound = bind(criteria, sens)
    units = prepare_units(df, qis, sens, entity, bound)
    check_k(bound, units.n, "entities" if entity else "records")
    lat = Lattice(units, hierarchies, bound, suppression_limit, metric, max_levels, cache_bytes)
    top = tuple(int(x) for x in lat.top)
    _check_top(lat, top)
    search = _Search(lat)
    best_node, best = search.run()
    if best_node is None:
        raise PrivacyModelError(_infeasible_message(lat, top, "no node of the lattice satisfies"))
    return _result(df, lat, best_node, best, search.n_nodes, time.perf_counter() - t0)


class _Search:
    """Best-first walk of the lattice with bound pruning, predictive tagging and Flash probes.

    State per node (index = mixed radix of its levels): ``known_lb`` (lower bound on its
    loss), ``infeasible`` (proved to exceed the limit on monotone criteria), ``mono_ok``
    (proved to pass the monotone criteria), ``evaluated``; plus the best node so far.
    """

    def __init__(self, lat: Lattice) -> None:
        self.lat = lat
        self.lv = lat.all_levels()
        self.n_nodes = len(self.lv)
        lb = lat.metric.lower_bounds(lat.tables, self.lv)
        self.stop_on_bound = lb is not None  # bound known up front: visiting in bound order
        self.known_lb = np.zeros(self.n_nodes) if lb is None else lb.copy()
        self.order = np.lexsort((np.arange(self.n_nodes), self.lv.sum(axis=1), self.known_lb))
        self.infeasible = np.zeros(self.n_nodes, dtype=bool)
        self.mono_ok = np.zeros(self.n_nodes, dtype=bool)
        self.evaluated = np.zeros(self.n_nodes, dtype=bool)
        self.has_mono = any(lat.mono)
        # bounds fixed up front: every node's path step is computed once, vectorised
        self.next_up = _next_up(self.lv, lat.top, lat.strides, self.known_lb) if self.stop_on_bound else None
        # criteria not monotone under suppression whose judge bounds the suppression below a node
        self.bounding = any(c.bounds_suppression and not m for c, m in zip(lat.criteria, lat.mono, strict=True))
        self.best = math.inf
        self.best_node: tuple[int, ...] | None = None

    def run(self) -> tuple[tuple[int, ...] | None, float]:
        """Visit nodes in bound order until the bound reaches the best loss; (best node, loss).

        Nodes are taken in chunks whose tagged or evaluated members are dropped at once, so
        only open nodes cost a Python step (tags made meanwhile are re-read per node).
        When every criterion is monotone and the bottom node (the frequency set itself: no
        grouping) satisfies them within the limit, it is feasible and is checked first, giving
        the best loss before any probe climbs the lattice (large or repeated tables).
        """
        lat = self.lat
        if lat.all_monotone and lat.failing(lat.bottom, stop_above=lat.max_supp).n_fail <= lat.max_supp:
            self.check(0)  # node 0 is the bottom (all levels 0)
        for start in range(0, self.n_nodes, _CHUNK):
            chunk = self.order[start : start + _CHUNK]
            if self.stop_on_bound and self.known_lb[chunk[0]] >= self.best:
                break  # every remaining node is bounded by the best loss
            for i in chunk[~(self.infeasible[chunk] | self.evaluated[chunk])].tolist():
                if self.known_lb[i] >= self.best:
                    if self.stop_on_bound:
                        return self.best_node, self.best
                    continue
                if self.infeasible[i] or self.evaluated[i]:
                    continue
                if self.bounding or (self.has_mono and not self.mono_ok[i]):
                    self.probe(i)
                    if self.infeasible[i] or self.evaluated[i] or self.known_lb[i] >= self.best:
                        continue
                self.check(i)
        return self.best_node, self.best

    def up_set(self, i: int) -> np.ndarray:
        return np.all(self.lv >= self.lv[i], axis=1)

    def check(self, i: int) -> None:
        """Evaluate node i; tag its down-set infeasible or its up-set passing, update the best."""
        lat = self.lat
        levels = tuple(self.lv[i].tolist())
        nd = lat.node(levels)
        lat.checked += 1
        self.evaluated[i] = True
        fail, n_fail, mono_exceeded, down_infeasible, _ = lat.failing(nd, stop_above=lat.max_supp)
        if down_infeasible:
            self.infeasible[np.all(self.lv <= self.lv[i], axis=1)] = True
        if mono_exceeded:
            return
        up = None
        if self.has_mono:
            up = self.up_set(i)
            self.mono_ok[up] = True
        if lat.metric.bound_from_classes:  # bound needing the classes, passed on to successors
            dm = lat.metric.class_bound(nd.sizes)
            up = self.up_set(i) if up is None else up
            self.known_lb[up] = np.maximum(self.known_lb[up], dm)
        if n_fail > lat.max_supp or self.known_lb[i] > self.best:  # infeasible, or cannot beat the best
            return
        value = lat.loss_of(levels, nd, fail)
        if value < self.best or (
            value == self.best and self.best_node is not None and sum(levels) < sum(self.best_node)
        ):
            self.best, self.best_node = value, levels

    def path_up(self, i: int) -> list[int]:
        """Nodes from i to the top, each step to the successor of cheapest bound (then lowest index)."""
        if self.next_up is not None:
            path = [i]
            while (i := self.next_up[i]) >= 0:
                path.append(i)
            return path
        lat = self.lat
        path, cur = [i], i
        while True:
            up = np.flatnonzero(self.lv[cur] < lat.top)
            if len(up) == 0:
                return path
            cand = cur + lat.strides[up]
            cur = int(cand[np.lexsort((cand, self.known_lb[cand]))[0]])
            path.append(cur)

    def probe(self, i: int) -> None:
        """Binary search on a path up from i for the lowest node that does not prove its down-set
        infeasible (by the monotone criteria, or by the suppression bounds when they apply)."""
        path = self.path_up(i)
        lo, hi = 0, len(path) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            p = path[mid]
            if not (self.infeasible[p] or self.evaluated[p] or (self.mono_ok[p] and not self.bounding)):
                self.check(p)
            if self.infeasible[p]:
                lo = mid + 1
            else:
                hi = mid


def _next_up(lv: np.ndarray, top: np.ndarray, strides: np.ndarray, bound: np.ndarray) -> list[int]:
    """Per node, its successor of cheapest bound (ties: lowest index); -1 at the top."""
    idx = np.arange(len(lv))
    cand = np.where(lv < top, idx[:, None] + strides[None, :], -1)
    cost = np.where(cand >= 0, bound[np.maximum(cand, 0)], np.inf)
    best = cost.min(axis=1, keepdims=True)
    pick = np.where((cand >= 0) & (cost == best), cand, np.iinfo(np.int64).max).min(axis=1)
    return np.where(np.isfinite(best[:, 0]), pick, -1).tolist()


def _check_top(lat: Lattice, top: tuple[int, ...]) -> None:
    """Fail early when the most general node already fails the monotone criteria."""
    if lat.failing(lat.node(top)).mono_exceeded:
        raise PrivacyModelError(_infeasible_message(lat, top, "even the most general node fails"))


def _infeasible_message(lat: Lattice, top: tuple[int, ...], lead: str) -> str:
    nd = lat.node(top)
    parts = []
    for crit in lat.criteria:
        attr = crit.attribute
        h = lat.hist(nd, attr) if attr else None
        enc = lat.units.sensitive[attr] if attr else None
        n_fail = int(nd.sizes[~crit.passes(nd.sizes, h, enc)].sum())
        if n_fail > lat.max_supp:
            hint = ""
            if attr is not None and h is not None:
                hint = f"; '{attr}' has {int((enc.q > 0).sum())} distinct value(s) in the data"
            parts.append(
                f"{crit.label()} — at levels {dict(zip(lat.qis, top, strict=True))} "
                f"{n_fail} of {lat.units.n} units are in failing classes{hint}"
            )
    detail = "; ".join(parts) if parts else "the criteria together"
    return (
        f"cannot satisfy the privacy model under a suppression limit of {lat.limit:g} "
        f"({lat.max_supp} units): {lead} {detail}"
    )


def _result(
    df: pd.DataFrame, lat: Lattice, levels: tuple[int, ...], value: float, n_nodes: int, seconds: float
) -> SearchResult:
    nd = lat.node(levels)
    fail = lat.failing(nd).fail
    units = lat.units
    row_unit = units.row_unit
    if fail.any():  # per-unit and per-row masks only when something is suppressed
        unit_supp = fail[lat.bottom_map(nd)[lat.unit_bottom]]
        row_supp = unit_supp if row_unit is None else unit_supp[row_unit]
    else:
        unit_supp, row_supp = np.zeros(units.n, dtype=bool), np.zeros(len(df), dtype=bool)
    hier, qis, columns = lat.hier, lat.qis, lat.unit_columns
    source = df.copy()  # copy-on-write: cheap now, and later changes to df do not reach the release

    build_release = release_builder(source, qis, hier, levels, columns, row_unit, row_supp)
    k = max([c.k for c in lat.criteria if isinstance(c, KAnonymity)], default=1)
    generalized = lat.generalized(levels, nd, fail)
    return SearchResult(
        levels=dict(zip(lat.qis, levels, strict=True)),
        build_release=build_release,
        loss=float(value),
        metric=lat.metric.name,
        build_utility=lambda: lossmod.utility(generalized, k),
        n_units=units.n,
        n_suppressed=int(unit_supp.sum()),
        suppressed_rows=int(row_supp.sum()),
        suppressed_index=df.index[row_supp],
        n_classes=int((~fail).sum()),
        nodes_checked=lat.checked,
        lattice_size=n_nodes,
        seconds=seconds,
        criteria=tuple(c.label() for c in lat.criteria),
        suppression_limit=lat.limit,
    )
