"""Per-class l-diversity and t-closeness values, all classes at once from sparse histograms.

Each function takes the (class, value, count) triples of ``Histograms`` and returns one
value per class; none loops over classes or rows. Sources:

- distinct l (Machanavajjhala et al. 2007; the paper's Eq. 12): number of values present;
- entropy l (Machanavajjhala et al.; Eq. 13): ``exp(H)`` with ``H = -sum p log p``
  (natural log), so a class satisfies entropy-l iff ``exp(H) >= l``;
- recursive (c,l) (Machanavajjhala et al.): ``r1 < c (r_l + ... + r_m)`` with ``r_i`` the
  i-th largest count; reported as the largest l for which it holds;
- EMD (Li, Li & Venkatasubramanian, ICDE 2007): equal distance ``1/2 sum |p_i - q_i|``;
  ordered distance ``1/(m-1) sum_i |sum_{j<=i} (p_j - q_j)|`` over the m values present in
  the reference table; hierarchical distance over a generalization hierarchy of height H,
  ``sum_N height(N)/H * min(pos_extra(N), neg_extra(N))``;
- KL divergence ``D(P_G || P_D) = sum p log(p / q)`` (natural log; the paper's Eq. 14
  with Delta = KL).
"""

from __future__ import annotations

import numpy as np

from privhealth.anon.classes import Histograms


def _totals(h: Histograms) -> np.ndarray:
    return np.bincount(h.cls, weights=h.cnt, minlength=h.n_classes)


def distinct(h: Histograms) -> np.ndarray:
    """Number of distinct sensitive values per class (Eq. 12)."""
    return np.bincount(h.cls, minlength=h.n_classes).astype(np.int64)


def entropy_l(h: Histograms) -> np.ndarray:
    """``exp(H)`` per class, H the Shannon entropy in nats (Eq. 13 holds iff this >= l)."""
    n = _totals(h)
    c = h.cnt.astype(np.float64)
    s = np.bincount(h.cls, weights=c * np.log(c), minlength=h.n_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(n > 0, np.log(np.where(n > 0, n, 1)) - s / np.where(n > 0, n, 1), 0.0)
    return np.exp(np.maximum(ent, 0.0))


def _ranked(h: Histograms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts sorted by class then count descending, with rank within class and exclusive prefix."""
    order = np.lexsort((-h.cnt, h.cls))
    cls = h.cls[order]
    cnt = h.cnt[order]
    start = np.searchsorted(cls, np.arange(h.n_classes))
    rank = np.arange(len(cls)) - start[cls]
    csum = np.cumsum(cnt)
    excl = csum - cnt - (csum - cnt)[start[cls]]
    return cls, cnt, rank, excl


def recursive_l(h: Histograms, c: float) -> np.ndarray:
    """Largest l with ``r1 < c * (r_l + ... + r_m)`` per class (0 if none; r sorted descending)."""
    cls, cnt, rank, excl = _ranked(h)
    n = _totals(h)
    r1 = cnt[rank == 0]
    r1_of = np.zeros(h.n_classes)
    r1_of[cls[rank == 0]] = r1
    tail = n[cls] - excl  # r_{rank+1} + ... + r_m
    ok = r1_of[cls] < c * tail
    return np.bincount(cls, weights=ok, minlength=h.n_classes).astype(np.int64)


def recursive_gap(h: Histograms, c: float, l_: int) -> np.ndarray:
    """``r1 - c * (r_l + ... + r_m)`` per class: negative iff the class is recursive (c, l)-diverse."""
    cls, cnt, rank, _ = _ranked(h)
    n = _totals(h)
    r1 = np.bincount(cls, weights=np.where(rank == 0, cnt, 0), minlength=h.n_classes)
    top = np.bincount(cls, weights=np.where(rank < l_ - 1, cnt, 0), minlength=h.n_classes)
    return r1 - c * (n - top)


def recursive_ok(h: Histograms, c: float, l_: int) -> np.ndarray:
    """Whether each class satisfies recursive (c, l)-diversity."""
    return recursive_l(h, c) >= l_


def emd_equal(h: Histograms, q: np.ndarray) -> np.ndarray:
    """Equal-distance EMD (total variation) to ``q``: 1/2 sum |p - q|, over present values only."""
    n = _totals(h)
    p = h.cnt / n[h.cls]
    qv = q[h.val]
    part = np.bincount(h.cls, weights=np.abs(p - qv) - qv, minlength=h.n_classes)
    return np.clip(0.5 * (part + q.sum()), 0.0, 1.0)


def kl(h: Histograms, q: np.ndarray) -> np.ndarray:
    """D(P_class || q) in nats; +inf where the class has a value the reference lacks (no smoothing)."""
    n = _totals(h)
    p = h.cnt / n[h.cls]
    qv = q[h.val]
    with np.errstate(divide="ignore"):
        term = p * (np.log(p) - np.log(qv))
    return np.maximum(np.bincount(h.cls, weights=term, minlength=h.n_classes), 0.0)


def emd_ordered(h: Histograms, q: np.ndarray) -> np.ndarray:
    """Ordered-distance EMD to ``q`` (codes must be in the attribute's order), exact, O(P log m).

    Only values present in the reference (q > 0) form the ordered domain of size m.
    Between two consecutive values of a class the class CDF is a constant c while the
    reference CDF F_Q rises, so the segment's sum of |c - F_Q(i)| splits at the point where
    F_Q crosses c (searchsorted) and comes from prefix sums of F_Q.
    """
    present = q > 0
    rank = np.cumsum(present) - 1
    qq = q[present]
    m = len(qq)
    if m <= 1:
        return np.zeros(h.n_classes)
    val = rank[h.val]
    fq = np.cumsum(qq)[: m - 1]  # F_Q(i) for i = 0..m-2 (F(m-1) = 1 for both)
    s = np.concatenate(([0.0], np.cumsum(fq)))  # s[i] = sum_{i' < i} F_Q(i')

    n = _totals(h)
    csum = np.cumsum(h.cnt)
    start = np.searchsorted(h.cls, np.arange(h.n_classes))
    base = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0)
    has = start < len(h.cls)
    cum = (csum - base[h.cls]) / n[h.cls]  # class CDF just after each of its values

    # segment [val_j, next value of the class) with CDF cum_j; the class's last segment ends at m-1
    nxt = np.empty_like(val)
    nxt[:-1] = val[1:]
    last = np.ones(len(val), dtype=bool)
    last[:-1] = h.cls[1:] != h.cls[:-1]
    nxt[last] = m - 1
    lo = np.minimum(val, m - 1)
    hi = nxt
    a = np.clip(np.searchsorted(fq, cum, side="left"), lo, hi)
    seg = cum * (a - lo) - (s[a] - s[lo]) + (s[hi] - s[a]) - cum * (hi - a)

    total = np.bincount(h.cls, weights=seg, minlength=h.n_classes)
    # before the class's first value its CDF is 0: sum of F_Q(i) for i < first value
    first_val = np.zeros(h.n_classes, dtype=np.int64)
    first_val[has] = val[start[has]]
    total += s[np.minimum(first_val, m - 1)]
    return np.clip(total / (m - 1), 0.0, 1.0)


def emd_hierarchical(h: Histograms, q: np.ndarray, level_codes: list[np.ndarray]) -> np.ndarray:
    """Hierarchical-distance EMD (Li et al.) for a hierarchy given as group codes per level.

    ``level_codes[L][v]`` is the group of leaf v at level L (L = 0 the leaves, L = H the
    root). With A_L = sum over level-L groups G of |P(G) - Q(G)|, the per-node cost
    min(pos_extra, neg_extra) = (sum_children |extra| - |extra(N)|) / 2, and summing
    height/H times that over all nodes telescopes to ``sum_{L<H} A_L / (2H)``.
    """
    height = len(level_codes) - 1
    if height <= 0:
        return np.zeros(h.n_classes)
    n = _totals(h)
    total = np.zeros(h.n_classes)
    for lev in range(height):
        g = level_codes[lev]
        ng = int(g.max()) + 1
        qg = np.bincount(g, weights=q, minlength=ng)
        hg = Histograms.build(h.cls, h.n_classes, g[h.val], ng, weights=h.cnt)
        p = hg.cnt / n[hg.cls]
        qv = qg[hg.val]
        a_l = np.bincount(hg.cls, weights=np.abs(p - qv) - qv, minlength=h.n_classes) + qg.sum()
        total += a_l
    return np.clip(total / (2 * height), 0.0, 1.0)
