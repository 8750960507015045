"""The anonymized release as files: CSV, Parquet and a JSON sidecar describing it.

The release is the product of an anonymization tool, so every run writes it to its
output folder (``release/``) unless ``release.export=false``. Only the release is
written (what the attacks scanned), never the source table; a raw "release"
(``anon=none``, no steps) is refused. CSV cells that a spreadsheet would run as a
formula (starting ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with
``'``; the Parquet file keeps the values as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from privhealth.anon.release import Release

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FILES = {"csv": "release.csv", "parquet": "release.parquet", "sidecar": "release.json"}
SIDECAR_FORMAT = "privhealth-release/1"


def escape_formulas(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Text cells starting like a spreadsheet formula, prefixed with ``'`` (CSV injection); their count."""
    out = frame.copy()
    n = 0
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        text = s.astype("string")
        hit = text.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            out[c] = s.astype(object).where(~hit, "'" + text)
            n += int(hit.sum())
    return out, n


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types (labels and numbers) as text, so Arrow can store them."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out


def hierarchy_levels(release: Release) -> dict[str, Any] | None:
    """The generalization level of each quasi-identifier: the optimal node, or the rule set's levels."""
    search = release.details.get("search") or {}
    if search.get("levels"):
        return {str(k): int(v) for k, v in search["levels"].items()}
    levels: dict[str, int] = {}
    for step in release.steps:
        if step.get("step") == "Generalizer":
            levels.update({str(k): int(v) for k, v in (step.get("levels") or {}).items()})
    return levels or None


def sidecar(release: Release, dataset: str, privacy: Mapping[str, Any], metrics: Mapping[str, float],
            escaped: int) -> dict[str, Any]:
    """What a reader of the files needs: schema and roles, how it was generalized and suppressed, privacy."""
    schema = release.schema
    roles: dict[str, list[str]] = {}
    for col in schema:
        roles.setdefault(col.role.value, []).append(col.name)
    desc = release.describe()
    suppression = {
        "n_entities_in": release.n_entities_in,
        "n_entities_out": release.n_entities_out,
        "n_rows_in": release.n_rows_in,
        "n_rows_out": len(release.frame),
        "suppressed_fraction": release.suppressed_fraction,
        "limit": next((s.get("suppression_limit") for s in release.steps if "suppression_limit" in s), None),
    }
    return {
        "format": SIDECAR_FORMAT,
        "files": {k: v for k, v in FILES.items() if k != "sidecar"},
        "dataset": dataset,
        "method": release.method,
        "schema": [{"name": c.name, "role": c.role.value, "kind": c.kind.value, "pii": c.pii} for c in schema],
        "roles": roles,
        "hierarchy_levels": hierarchy_levels(release),
        "multidimensional": release.details.get("mondrian") is not None,
        "suppression": suppression,
        "steps": desc["steps"],
        "privacy": dict(privacy),
        "metrics": {k: v for k, v in metrics.items() if not k.startswith(("cache/", "time/"))},
        "csv_formula_cells_escaped": escaped,
    }


def write_release(release: Release, folder: Path, dataset: str, privacy: Mapping[str, Any],
                  metrics: Mapping[str, float]) -> dict[str, Path]:
    """Write ``release.csv``, ``release.parquet`` and ``release.json`` into ``folder``; their paths."""
    if not release.steps:
        raise ValueError("a release without anonymization steps is the source table: it is never exported")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / v for k, v in FILES.items()}
    frame = release.frame.reset_index(drop=True)
    csv_frame, escaped = escape_formulas(frame)
    csv_frame.to_csv(paths["csv"], index=False)
    _parquet_ready(frame).to_parquet(paths["parquet"], index=False)
    meta = sidecar(release, dataset, privacy, metrics, escaped)
    paths["sidecar"].write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return paths


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)
