"""Equivalence classes of a lattice node from the leaf codes of its parent's classes, canonically numbered.

The roll-up of the optimal search groups a parent's classes (or the distinct tuples) at a
node's levels. Each class gets one mixed-radix key of its group codes, gathered from a table
of pre-scaled codes; ids number the distinct keys in increasing order, so a node's numbering
depends only on the node — whichever parent it was rolled up from. Small key ranges are
relabelled densely, few items are sorted, the rest hashed (pandas); two scratch buffers are
reused so no node pays for fresh pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import Hierarchy

_SMALL = 4096  # up to this many items a node's classes are grouped by sorting their keys


class NodeGrouper:
    """Groups leaf-code columns (QIs x items, at most ``n_items``) at any node of the hierarchies' lattice."""

    def __init__(self, hierarchies: Sequence[Hierarchy], n_items: int) -> None:
        self.codes = [[h.codes(lev) for lev in range(h.height)] for h in hierarchies]
        self.cards = [[h.n_groups(lev) for lev in range(h.height)] for h in hierarchies]
        # row j of the leaf codes, shifted into QI j's slice of a concatenated code table
        self.offsets = np.cumsum([0, *[h.size for h in hierarchies[:-1]]]).astype(np.int64)[:, None]
        self._work = np.empty((2, len(hierarchies) * n_items), dtype=np.int64)

    def group(self, levels: Sequence[int], rep: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Class of each column of ``rep`` (leaf codes, QIs x items) at ``levels``: ids, count, one member each.

        The key is the mixed radix of the group codes at the node's levels, one gather from a
        table of pre-scaled codes; ids number the distinct keys in increasing order, so they
        depend only on the node. Small key ranges are relabelled densely (no hashing).
        """
        cards = [self.cards[j][lev] for j, lev in enumerate(levels)]
        radix = math.prod(cards)
        if radix >= 1 << 62:  # too many groups for one int64 key: sort the code columns instead
            ids, nc = lexicographic_ids(np.stack([self.codes[j][lev][rep[j]] for j, lev in enumerate(levels)]))
        else:
            strides = np.cumprod([1, *cards[:0:-1]])[::-1]
            table = np.concatenate([self.codes[j][lev] * int(strides[j]) for j, lev in enumerate(levels)])
            d, m = rep.shape
            pos = self._work[0, : d * m].reshape(d, m)  # reused buffers: no fresh pages per node
            np.add(rep, self.offsets, out=pos)
            np.take(table, pos, out=self._work[1, : d * m].reshape(d, m), mode="clip")
            key = self._work[1, : d * m].reshape(d, m).sum(axis=0)
            if len(key) <= _SMALL and radix > 4 * len(key) + 1024:  # a short sort beats a large table
                _, member, ids = np.unique(key, return_index=True, return_inverse=True)
                return ids.astype(np.int64, copy=False), len(member), member
            if radix <= 4 * len(key) + 1024:
                seen = np.zeros(radix, dtype=bool)
                seen[key] = True
                present = np.flatnonzero(seen)
                lookup = np.empty(radix, dtype=np.int64)
                lookup[present] = np.arange(len(present))
                ids, nc = lookup[key], len(present)
            else:
                ids, uniques = pd.factorize(key, sort=True)
                ids, nc = ids.astype(np.int64, copy=False), len(uniques)
        member = np.empty(nc, dtype=np.int64)
        member[ids] = np.arange(len(ids))
        return ids, nc, member


def lexicographic_ids(cols: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids of the distinct columns of ``cols`` (rows: code columns) in lexicographic order — the
    order of the mixed-radix key, so ids agree with the key-based grouping."""
    order = np.lexsort(cols[::-1])
    ordered = cols[:, order]
    new = np.r_[True, np.any(ordered[:, 1:] != ordered[:, :-1], axis=0)]
    ids = np.empty(cols.shape[1], dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids, int(new.sum())
