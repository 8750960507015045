"""The optimal search's result: the chosen node, how the search went, and the release built from
it on first access (as ARX builds its output handle after the search)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon import loss as lossmod
from privhealth.anon.classes import first_positions
from privhealth.anon.hierarchy import Hierarchy


@dataclass(frozen=True)
class SearchResult:
    """The optimal node, its release and how the search went.

    The release (generalized labels, suppressed records removed) and the report of every
    loss metric are built on first access, as ARX builds its output handle and statistics
    after the search: labelling every row is the release's cost, not the search's
    (``benchmarks/search_adult.py`` times the release on its own).
    """

    levels: dict[str, int]  # generalization level per QI
    build_release: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    loss: float
    metric: str
    build_utility: Callable[[], lossmod.UtilityReport] = field(repr=False, compare=False)
    n_units: int  # entities (or rows) in the input
    n_suppressed: int  # entities (or rows) removed
    suppressed_rows: int  # input rows removed
    suppressed_index: pd.Index = field(repr=False)  # index labels of the removed rows
    n_classes: int
    nodes_checked: int
    lattice_size: int
    seconds: float
    criteria: tuple[str, ...]
    suppression_limit: float

    @property
    def node(self) -> tuple[int, ...]:
        return tuple(self.levels.values())

    @cached_property
    def utility(self) -> lossmod.UtilityReport:
        """Every loss metric of the release (computed once, on first use; ``loss`` is the searched one)."""
        return self.build_utility()

    @cached_property
    def release(self) -> pd.DataFrame:
        """Generalized labels of the input, suppressed records removed (built once, on first use)."""
        return self.build_release()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "levels": dict(self.levels),
            "loss": self.loss,
            "metric": self.metric,
            "utility": self.utility.to_dict(),
            "n_units": self.n_units,
            "n_suppressed": self.n_suppressed,
            "suppressed_rows": self.suppressed_rows,
            "n_classes": self.n_classes,
            "nodes_checked": self.nodes_checked,
            "lattice_size": self.lattice_size,
            "seconds": self.seconds,
            "criteria": list(self.criteria),
            "suppression_limit": self.suppression_limit,
        }


def release_builder(
    source: pd.DataFrame,
    qis: Sequence[str],
    hier: Sequence[Hierarchy],
    levels: Sequence[int],
    columns: Sequence[np.ndarray],
    row_unit: np.ndarray | None,
    row_supp: np.ndarray,
) -> Callable[[], pd.DataFrame]:
    """A function building the release: ``source`` with each QI labelled at its level, suppressed rows removed."""

    def build_release() -> pd.DataFrame:
        out = source.copy()
        for j, (q, h) in enumerate(zip(qis, hier, strict=True)):
            out[q] = _label_column(h, levels[j], columns[j] if row_unit is None else columns[j][row_unit], out.index)
        return out[~row_supp] if row_supp.any() else out

    return build_release


def _label_column(h: Hierarchy, level: int, leaf: np.ndarray, index: pd.Index) -> pd.Series:
    """Labels of ``leaf`` codes at ``level``, built from one label per group (no per-row strings).

    Same values and dtype as assigning ``h.labels[level][leaf]``: the group labels in the
    dtype pandas infers for them (Arrow strings), gathered by group code.
    """
    labels = h.labels[level]
    codes = h.codes(level)
    first = first_positions(codes, h.n_groups(level))
    if (
        len(first) != h.n_groups(level)
        or len(set(labels[first].tolist())) != len(first)
        or not np.array_equal(labels[first][codes], labels)
    ):
        return pd.Series(labels[leaf], index=index)
    return pd.Series(pd.Series(labels[first]).array.take(codes[leaf]), index=index)
