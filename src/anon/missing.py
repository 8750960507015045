"""Missing values in quasi-identifiers: a policy per column, applied before the search or Mondrian.

``value``: missing is a value of its own. It is a leaf of the column's hierarchy, released
as ``(missing)`` at level 0 and as ``*`` at every level above, so it never joins a real
value's group before the root (as in ARX). A numeric column holding missing values is then
generalized along its hierarchy as a tree (Mondrian cannot place missing on a median
split); its level-0 labels are the values as text.

``suppress``: every patient (all their rows) with a missing value in that column is removed
before anonymizing and counted against the suppression limit; the engine gets what is left
of the budget, and a request whose missing records alone exceed it is refused.

``error``: refuse, naming the column and both remedies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.hierarchy import ROOT, Hierarchy
from privhealth.errors import ConfigError, PrivacyModelError

POLICIES = ("value", "suppress", "error")
MISSING_LABEL = "(missing)"


@dataclass
class MissingOutcome:
    """The table and hierarchies the engine sees, and what the policy did (counts, no values)."""

    frame: pd.DataFrame
    hierarchies: dict[str, Hierarchy]
    n_suppressed: int = 0
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


def resolve_policies(policy: str | Mapping[str, str] | None, quasi: Sequence[str]) -> dict[str, str]:
    """One policy per quasi-identifier from a single name or a ``{column: policy}`` mapping (rest: value)."""
    if policy is None or isinstance(policy, str):
        per = dict.fromkeys(quasi, policy or "value")
    else:
        unknown = sorted(set(policy) - set(quasi))
        if unknown:
            raise ConfigError(f"anon.missing names column(s) {unknown} that are not quasi-identifiers")
        per = {q: str(policy.get(q, "value")) for q in quasi}
    for q, p in per.items():
        if p not in POLICIES:
            raise ConfigError(f"anon.missing for '{q}' is '{p}' (expected one of {', '.join(POLICIES)})")
    return per


def missing_leaf(h: Hierarchy, col: pd.Series, label: str = MISSING_LABEL) -> tuple[Hierarchy, pd.Series]:
    """``h`` with ``label`` as a leaf that generalizes to ``*`` at every level, and ``col`` on its domain."""
    level0 = np.asarray(h.labels[0], dtype=object)
    if label in set(level0.astype(str)):
        raise ConfigError(f"column '{h.attribute}' already holds the value '{label}'; choose another "
                          "anon.missing_label")
    present = col.notna().to_numpy()
    values = np.full(len(col), label, dtype=object)
    values[present] = level0[h.encode(col[present])] if h.numeric else col[present].astype(str).to_numpy()
    domain = level0 if h.numeric else np.asarray(h.domain, dtype=object).astype(str)
    levels = list(h.labels)
    if set(levels[-1]) != {ROOT}:  # e.g. every ZIP starts with 1: the top is "1****", not yet a root
        levels.append(np.full(len(h.domain), ROOT, dtype=object))
    labels = tuple(np.append(np.asarray(lab, dtype=object), label if i == 0 else ROOT)
                   for i, lab in enumerate(levels))
    tree = Hierarchy(h.attribute, np.append(domain, label).astype(object), labels, numeric=False)
    return tree, pd.Series(values, index=col.index, name=col.name)


def apply_missing_policy(
    frame: pd.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    policy: str | Mapping[str, str] | None,
    entity: str | None = None,
    label: str = MISSING_LABEL,
) -> MissingOutcome:
    """Apply each quasi-identifier's policy (module docstring); columns without missing values are untouched."""
    quasi = list(hierarchies)
    per = resolve_policies(policy, quasi)
    out = MissingOutcome(frame, dict(hierarchies))
    drop = np.zeros(len(frame), dtype=bool)
    units = frame[entity] if entity is not None else pd.Series(np.arange(len(frame)), index=frame.index)
    for q in quasi:
        na = frame[q].isna().to_numpy()
        if not na.any():
            continue
        n = int(units[na].nunique())
        out.columns[q] = {"policy": per[q], "n_missing": n}
        if per[q] == "error":
            raise PrivacyModelError(
                f"quasi-identifier '{q}' has missing values for {n} patient(s): set anon.missing.{q}=value "
                f"(missing is its own value, generalizing to *) or anon.missing.{q}=suppress (those patients "
                "are removed, counted against the suppression limit)"
            )
        if per[q] == "suppress":
            drop |= units.isin(units[na]).to_numpy()
        else:
            tree, col = missing_leaf(out.hierarchies[q], frame[q], label)
            out.hierarchies[q] = tree
            if out.frame is frame:
                out.frame = frame.copy()
            out.frame[q] = col
    if drop.any():
        out.n_suppressed = int(units[drop].nunique())
        out.frame = out.frame[~drop]
    return out


def remaining_limit(limit: float, n_units: int, n_suppressed: int) -> float:
    """The engine's suppression limit once ``n_suppressed`` of ``n_units`` are gone (same integer budget)."""
    budget = math.floor(limit * n_units + 1e-9)
    if n_suppressed > budget:
        raise PrivacyModelError(
            f"suppressing the {n_suppressed} patient(s) with missing quasi-identifiers exceeds the suppression "
            f"limit ({limit:.2%} of {n_units} = {budget}); raise anon.suppression or use anon.missing=value"
        )
    left = n_units - n_suppressed
    return (budget - n_suppressed) / left if left else 0.0
