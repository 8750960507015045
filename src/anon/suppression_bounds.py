"""Lower bounds on the suppression every more specific node needs, for sound pruning with t-closeness
and entropy / recursive l-diversity.

With a suppression limit, t-closeness is not monotone (merging a passing class with a
failing one can fail), so a failing node says nothing about its predecessors directly. A
*bound* does. Take an evaluated node M and any node N below it (more specific): each class
C of M is the union of some classes c of N. Every t-closeness distance used here (equal,
ordered and hierarchical EMD, KL) is convex in the class distribution P for a fixed
reference Q, so with d the distance and n the size,

    n_C d_C  <=  sum_c n_c d_c  <=  t' (n_C - S_C) + dmax_C S_C ,

where S_C is the mass N suppresses inside C, t' = t + tolerance (a kept class passes) and
dmax_C is the largest distance any distribution on C's values can have — a point mass, by
convexity, so the largest distance of a single value present in C. Hence

    S_C  >=  n_C (d_C - t') / (dmax_C - t')     (when d_C > t'),

and a class failing k-anonymity or distinct l-diversity at M fails them in every split, so
S_C = n_C. The bounds of M's classes add up (they partition the records): when their sum
exceeds the suppression limit, M and every node below it are infeasible — a down-set tagged
at once. The per-class shares are what ``Criterion.judge`` returns.

Entropy l-diversity and recursive (c,l)-diversity, not monotone under suppression either
(ARX: ``isMonotonicWithSuppression`` false for both), get bounds of the same kind, which ARX
does not use. Entropy is concave and never negative, so with s = S_C / n_C

    H_C  >=  sum_c (n_c / n_C) H_c  >=  (1 - s) log l'      =>   s  >=  1 - H_C / log l' .

For recursive (c,l) let g = c (r_l + ... + r_m) - r1 (a class passes iff g > 0). The sum of the
l-1 largest counts and the largest count are subadditive over unions, so g is superadditive:
g_C >= sum_c g_c > - sum over suppressed parts of r1_c >= - S_C, hence S_C >= -g_C.
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakKeyDictionary

import numpy as np

from privhealth.anon.classes import Histograms
from privhealth.anon.sensitive import SensitiveAttribute

MARGIN = 1e-9  # subtracted from each distance excess: rounding never makes a bound too strong

_POINTS: WeakKeyDictionary[SensitiveAttribute, dict[str, np.ndarray]] = WeakKeyDictionary()


def point_distances(
    attr: SensitiveAttribute, key: str, distance: Callable[[Histograms], np.ndarray]
) -> np.ndarray:
    """Distance of a class holding only value v, for every code v present in the data (+inf
    elsewhere: no bound), cached per attribute and distance ``key``."""
    cache = _POINTS.setdefault(attr, {})
    if key not in cache:
        present = np.unique(attr.codes)
        pm = Histograms(np.arange(len(present)), present, np.ones(len(present), dtype=np.int64),
                        len(present), attr.m)
        out = np.full(attr.m, np.inf)
        out[present] = distance(pm)
        cache[key] = out
    return cache[key]


def class_max(values: np.ndarray, hist: Histograms) -> np.ndarray:
    """Per class, the largest of ``values`` over the codes present in it."""
    v = values[hist.val]
    cls = hist.cls
    if len(cls) == 0:
        return np.full(hist.n_classes, -np.inf)
    starts = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
    if len(starts) == hist.n_classes and np.array_equal(cls[starts], np.arange(hist.n_classes)):
        return np.maximum.reduceat(v, starts)
    out = np.full(hist.n_classes, -np.inf)
    np.maximum.at(out, cls, v)
    return out


def entropy_share(entropy: np.ndarray, log_l: float) -> np.ndarray:
    """Per class, the share every more specific node suppresses for entropy l-diversity, from the
    class's entropy (nats) and the threshold log l (tolerance included): entropy is concave and
    never negative, so H_C >= (1 - s) log l for a suppressed share s, i.e. s >= 1 - H_C / log l."""
    if not log_l > MARGIN:
        return np.zeros(len(entropy))
    return np.clip((log_l - entropy) / log_l - MARGIN, 0.0, 1.0)


def gap_share(gap: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per class, the share every more specific node suppresses for recursive (c,l)-diversity,
    from the class's gap ``r1 - c (r_l + ... + r_m)``: the negated gap is superadditive over
    unions and a part's is at least minus its size, so the suppressed units S_C >= gap_C."""
    share = np.zeros(len(gap))
    pos = sizes > 0
    share[pos] = np.clip((gap[pos] - MARGIN) / sizes[pos], 0.0, 1.0)
    return share


def convex_share(d: np.ndarray, t: float, dmax: np.ndarray) -> np.ndarray:
    """Per class, the share of its units every more specific node suppresses, from its distance
    ``d``, the threshold ``t`` (tolerance included) and the largest point distance ``dmax`` in it."""
    room = dmax - t
    usable = np.isfinite(room) & (room > MARGIN) & np.isfinite(d)
    share = np.zeros(len(d))
    share[usable] = np.clip((d[usable] - t - MARGIN) / room[usable], 0.0, 1.0)
    return share
