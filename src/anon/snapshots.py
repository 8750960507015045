"""Snapshots of evaluated lattice nodes (classes, sizes, histograms) and their LRU cache within a
byte budget: the roll-up of the optimal search reads a node's classes from its cached parent."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from privhealth.anon.classes import Histograms

_NEVER = np.iinfo(np.int64).max  # key and class count of a free slot: never below, never chosen


class Snapshot:
    """Classes of one node: representative leaf codes, sizes, lazy histograms and bottom map."""

    __slots__ = ("bottom_map", "hists", "levels", "parent_key", "parent_map", "rep", "sizes")

    def __init__(self, levels, rep, sizes, bottom_map=None, parent_key=None, parent_map=None, hists=None):
        self.levels = levels  # the node
        self.rep = rep  # leaf codes of one member per class (QIs x classes, rows contiguous)
        self.sizes = sizes  # units per class
        self.bottom_map = bottom_map  # class of each bottom class (distinct tuple); None until needed
        self.parent_key = parent_key  # levels of the node it was rolled up from (no reference kept)
        self.parent_map = parent_map  # class of each of the parent's classes
        self.hists: dict[str, Histograms] = hists or {}

    def nbytes(self) -> int:
        """Memory held by this snapshot's arrays."""
        arrays = [self.rep, self.sizes]
        arrays += [a for a in (self.bottom_map, self.parent_map) if a is not None]
        for h in self.hists.values():
            arrays += [h.cls, h.val, h.cnt]
        return sum(a.nbytes for a in arrays)


class SnapshotCache:
    """LRU snapshots of evaluated nodes within an entry cap and a byte budget; the bottom stays.

    Keys are also kept in a numpy array so the most specific usable parent of a node (the
    cached node below it with fewest classes) is found with one vectorised comparison.
    """

    def __init__(self, bottom: Snapshot, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.bottom_key = bottom.levels
        self.nodes: OrderedDict[tuple[int, ...], Snapshot] = OrderedDict({bottom.levels: bottom})
        self.slot: dict[tuple[int, ...], int] = {bottom.levels: 0}
        self.keys = np.zeros((max_entries + 2, len(bottom.levels)), dtype=np.int64)
        self.n_classes = np.full(max_entries + 2, np.iinfo(np.int64).max, dtype=np.int64)
        self.n_classes[0] = len(bottom.sizes)
        self.free = list(range(max_entries + 1, 0, -1))
        self.held = bottom.nbytes()
        self.used = 1  # high-water mark: slots at or above it were never used

    def __contains__(self, key: tuple[int, ...]) -> bool:
        return key in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, key: tuple[int, ...] | None) -> Snapshot | None:
        return self.nodes.get(key) if key is not None else None

    def touch(self, key: tuple[int, ...]) -> Snapshot:
        self.nodes.move_to_end(key)
        return self.nodes[key]

    def parent_of(self, levels: np.ndarray) -> Snapshot:
        """The cached node below ``levels`` with fewest classes (the bottom is always below)."""
        used = self.used
        below = np.all(self.keys[:used] <= levels, axis=1)
        s = int(np.argmin(np.where(below, self.n_classes[:used], _NEVER)))
        return self.nodes[tuple(self.keys[s].tolist())]

    def grew(self, nd: Snapshot, nbytes: int) -> None:
        """Account for arrays added to a snapshot after it was stored."""
        if self.nodes.get(nd.levels) is nd:
            self.held += nbytes
            self.evict()

    def put(self, nd: Snapshot) -> None:
        s = self.free.pop()
        self.used = max(self.used, s + 1)
        self.slot[nd.levels] = s
        self.keys[s] = nd.levels
        self.n_classes[s] = len(nd.sizes)
        self.nodes[nd.levels] = nd
        self.held += nd.nbytes()
        self.evict()

    def evict(self) -> None:
        """Drop least recently used snapshots (never the bottom, nor the newest)."""
        while len(self.nodes) > 2 and (len(self.nodes) > self.max_entries or self.held > self.max_bytes):
            oldest = next(k for k in self.nodes if k != self.bottom_key)
            self.held -= self.nodes.pop(oldest).nbytes()
            s = self.slot.pop(oldest)
            self.keys[s] = np.iinfo(np.int64).max  # never below any node
            self.n_classes[s] = np.iinfo(np.int64).max
            self.free.append(s)
