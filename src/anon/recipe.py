"""A release's recipe: what maps new raw records (held-out patients) the way the release was made.

``Release.apply`` runs it. The recipe is the anonymizer's steps re-run in *apply mode*:

* identifier steps as in the release: keyed pseudonyms (the key is loaded again, never
  stored), masks, drops, Safe Harbor ZIPs. Random codes (``RandomCode``) and demonstration
  sequential pseudonyms are not derived from the ID, so new records get fresh codes;
* generalization at the release's choice: the fixed levels of a rule set, the optimal node's
  levels, or Mondrian's boxes (``privhealth.anon.boxes`` gives the rule for records in none).
  A value the fitted hierarchy does not cover is generalized by the same spec built on the
  new values (intervals, prefixes and dates give the same labels); where that is impossible
  (a CSV or flat hierarchy, a value outside explicit cut points) it gets the root ``*``;
* never suppression: record-level suppressors are skipped (an outlier rule with
  ``action=record`` blanks the cell instead), so every input record comes out.

The recipe is JSON-ready (``to_dict``/``recipe_from_dict``) so cached releases keep it; it
holds settings, fitted bounds and hierarchy tables, never the pseudonymization key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon import transforms as tf
from privhealth.anon.boxes import MondrianBoxes, domain_index
from privhealth.anon.hierarchy import ROOT, Hierarchy, build_hierarchy
from privhealth.anon.patient_table import WindowMean
from privhealth.errors import ConfigError, HierarchyError

_STEP_TYPES = {
    cls.__name__: cls
    for cls in (tf.Pseudonymizer, tf.SafeHarborZip, tf.RandomCode, tf.Masker, tf.Generalizer,
                tf.OutlierSuppressor, tf.CellSuppressor, tf.SmallClassSuppressor, tf.DropColumns,
                tf.RuleSet, WindowMean)  # WindowMean: synthetic releases' patient-level values
}


@dataclass
class Recipe:
    """Steps to re-run in apply mode, then (Mondrian) the boxes to place records in."""

    steps: list[tf.Step] = field(default_factory=list)
    boxes: MondrianBoxes | None = None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Map raw records through the release's recipe; every record comes out, index kept."""
        out = frame
        for s in self.steps:
            out = apply_step(s, out)
        if self.boxes is not None:
            out = out.copy()
            labels = self.boxes.labels_of(self.boxes.assign(out))
            for q, lab in labels.items():
                out[q] = pd.Series(lab, index=out.index, dtype=object)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [step_to_dict(s) for s in self.steps],
            "boxes": self.boxes.to_dict() if self.boxes is not None else None,
        }


def recipe_from_dict(d: Mapping[str, Any] | None) -> Recipe | None:
    """The recipe stored by ``Recipe.to_dict`` (None when none was stored)."""
    if not d:
        return None
    boxes = MondrianBoxes.from_dict(d["boxes"]) if d.get("boxes") else None
    return Recipe([step_from_dict(s) for s in d.get("steps", [])], boxes)


# ---------------------------------------------------------------------- apply mode
def apply_step(step: tf.Step, frame: pd.DataFrame) -> pd.DataFrame:
    """One step in apply mode: as fitted, but never removing a record (see the module doc)."""
    if isinstance(step, tf.RuleSet):
        for s in step.steps:
            frame = apply_step(s, frame)
        return frame
    if isinstance(step, tf.SmallClassSuppressor):
        return frame
    if isinstance(step, tf.OutlierSuppressor) and step.action == "record":
        out = frame.copy()
        mask = step.outliers(frame)
        for c in step.bounds:
            out[c] = frame[c].mask(mask[c])
        return out
    if isinstance(step, tf.RandomCode):
        return tf.RandomCode(step.columns, step.prefix, step.hex_chars, seed=None).transform(frame)
    if isinstance(step, tf.Generalizer):
        return generalize_new(step, frame)
    return step.transform(frame)


def generalize_new(step: tf.Generalizer, frame: pd.DataFrame) -> pd.DataFrame:
    """``Generalizer.transform`` that also labels values its fitted hierarchies do not cover."""
    tf._require_columns(frame, [c for c, lv in step.levels.items() if lv > 0], "Generalizer")
    out = frame.copy()
    for col, level in step.levels.items():
        if level == 0:
            continue
        out[col] = pd.Series(
            generalize_values(col, frame[col], level, step.specs.get(col), step.hierarchies.get(col)),
            index=frame.index, dtype="str",
        )
    return out


def generalize_values(
    col: str, values: pd.Series, level: int, spec: Mapping[str, Any] | Hierarchy | None, fitted: Hierarchy | None
) -> np.ndarray:
    """Labels at ``level``: the fitted hierarchy where it covers, the spec rebuilt on the rest, else ``*``."""
    labels = np.full(len(values), None, dtype=object)
    notna = values.notna().to_numpy()
    todo = notna.copy()
    if isinstance(spec, Hierarchy):
        fitted, spec = spec, None
    if fitted is not None:
        pos = domain_index(fitted, values)
        hit = todo & (pos >= 0)
        if level <= fitted.max_level:
            labels[hit] = fitted.labels[level][pos[hit]]
            todo &= ~hit
    if todo.any() and isinstance(spec, Mapping) and spec.get("type") in ("intervals", "prefix", "dates"):
        uniq = pd.Series(pd.unique(values[todo]))
        spec = _with_integer_labels(spec, fitted)
        mapped = _build_labels(col, spec, uniq, level)
        got = pd.Series(mapped, index=uniq.astype(str)).reindex(values[todo].astype(str)).to_numpy()
        labels[np.flatnonzero(todo)] = got
        todo[np.flatnonzero(todo)] = pd.isna(got)
    labels[todo] = ROOT
    return labels


def _with_integer_labels(spec: Mapping[str, Any], fitted: Hierarchy | None) -> Mapping[str, Any]:
    """Interval specs keep the fitted labels' style (integer bands) for new fractional values."""
    if spec.get("type") != "intervals" or fitted is None or "integer_labels" in spec:
        return spec
    dom = fitted.domain.astype(np.float64)
    return {**spec, "integer_labels": bool(np.all(dom == np.round(dom)))}


def _build_labels(col: str, spec: Mapping[str, Any], uniq: pd.Series, level: int) -> np.ndarray:
    """Labels of distinct new values by the spec; values it cannot cover get None."""
    try:
        h = build_hierarchy(col, spec, uniq)
        return h.labels[level][h.encode(uniq)] if level <= h.max_level else np.full(len(uniq), None)
    except (HierarchyError, ConfigError):
        if len(uniq) == 1:
            return np.full(1, None, dtype=object)
    # some value is outside the spec (explicit cut points): label the distinct values one by one
    return np.concatenate([_build_labels(col, spec, uniq.iloc[i: i + 1], level) for i in range(len(uniq))])


# ---------------------------------------------------------------------- persistence
def step_to_dict(step: tf.Step) -> dict[str, Any]:
    """A step's settings and fitted state, JSON-ready; private state (the key) and fitted hierarchies left out."""
    name = type(step).__name__
    if name not in _STEP_TYPES:
        raise ConfigError(f"step {name} cannot be stored with a release recipe")
    state = {k: _jsonable(v) for k, v in vars(step).items() if not k.startswith("_") and k != "hierarchies"}
    if isinstance(step, tf.Generalizer):  # specs given as ready hierarchies are stored as tables
        state["specs"] = {c: (s.to_spec() if isinstance(s, Hierarchy) else _jsonable(s)) for c, s in step.specs.items()}
        state["specs"].update({c: h.to_spec() for c, h in step.hierarchies.items() if c not in step.specs})
    return {"step": name, "state": state}


def step_from_dict(d: Mapping[str, Any]) -> tf.Step:
    """Rebuild a stored step (only the anonymization steps of ``transforms`` are accepted)."""
    cls = _STEP_TYPES.get(str(d.get("step")))
    if cls is None:
        raise ConfigError(f"stored recipe names an unknown step {d.get('step')!r}")
    obj = cls.__new__(cls)
    state = dict(d["state"])
    if cls is tf.RuleSet:
        state["steps"] = [step_from_dict(s) for s in state["steps"]]
    if cls is tf.Generalizer:
        state["hierarchies"] = {}
    if cls is tf.OutlierSuppressor:
        state["bounds"] = {c: tuple(b) for c, b in state["bounds"].items()}
    obj.__dict__.update(state)
    if cls is tf.Pseudonymizer:
        obj._key = None  # loaded again from the environment or key file on first use
    return obj


def _jsonable(v: Any) -> Any:
    if isinstance(v, tf.Step):
        return step_to_dict(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, Sequence) and not isinstance(v, str):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
