"""Risk tables: the attack module's artifacts (risk/report.json, HIPAA Safe Harbor) per release."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from privhealth.experiments.report.writer import (
    Section,
    Writer,
)
from privhealth.experiments.report_data import Store, Sweep


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def json_tables(data: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Tables in a risk report: its scalar entries as one table, and the HIPAA Safe Harbor check
    (``RiskReport.to_dict()["safe_harbor"]``) as one row per category with status and evidence."""
    out: dict[str, pd.DataFrame] = {}
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping | list)}
    if scalars:
        out["summary"] = pd.DataFrame({"key": list(scalars), "value": list(scalars.values())})
    for key, value in data.items():
        if not re.search(r"safe.?harbor|hipaa", str(key), re.I):
            continue
        if isinstance(value, Mapping) and isinstance(value.get("categories"), list):
            out[slug(str(key))] = safe_harbor_table(value)
        elif isinstance(value, list) and all(isinstance(x, Mapping) for x in value):
            out[slug(str(key))] = pd.DataFrame(value)
    return out


def safe_harbor_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per Safe Harbor category (A-R): code, identifier, status, and the evidence behind it
    (the columns at fault and the checker's reasons; never a value)."""
    rows = []
    for c in report.get("categories") or []:
        cols, reasons = list(c.get("columns") or []), list(c.get("reasons") or [])
        evidence = "; ".join([*([f"columns: {', '.join(map(str, cols))}"] if cols else []), *map(str, reasons)])
        rows.append({"category": c.get("code"), "identifier": c.get("identifier"), "status": c.get("status"),
                     "evidence": evidence or "-"})
    return pd.DataFrame(rows, columns=["category", "identifier", "status", "evidence"])


def safe_harbor_line(report: Mapping[str, Any]) -> str:
    """The verdict in one line: passed or the failed categories, and the rule checked."""
    failed = list(report.get("failed_categories") or [])
    verdict = "passes" if report.get("passed") else f"fails in {len(failed)} categor{'y' if len(failed) == 1 else 'ies'} ({', '.join(failed)})"
    return f"{report.get('rule', 'HIPAA Safe Harbor')}: the release {verdict}."


def risk_section(w: Writer, store: Store, sweep: Sweep) -> Section:
    """The attack module's artifacts (``risk/report.json``, the HIPAA Safe Harbor table, any
    ``risk/*.csv``) of every release, copied and shown as tables."""
    s = Section("Attacks and HIPAA Safe Harbor (the risk module's artifacts)")
    found = 0
    for _, job in sweep.jobs.iterrows():
        v = str(job["variant"])
        rid = str(job["run_id"])
        paths = store.artifact_paths(rid, "risk")
        if not paths:
            rid = str(job["first_model_run"])
            paths = store.artifact_paths(rid, "risk")
        for path in paths:
            base = f"risk_{slug(v)}_{slug(Path(path).stem)}"
            if path.endswith(".csv"):
                df = store.csv(rid, path)
                if df is not None:
                    s.add(w.table(df, base, f"{path} of release '{v}'"))
                    found += 1
            elif path.endswith(".json"):
                data = store.json(rid, path)
                if data is None:
                    continue
                w.text(f"{base}.json", json.dumps(data, indent=2, default=str))
                found += 1
                s.add(f"`{path}` of release `{v}`: [{base}.json]({base}.json)")
                harbor = data.get("safe_harbor")
                if isinstance(harbor, Mapping) and isinstance(harbor.get("categories"), list):
                    s.add(safe_harbor_line(harbor))
                for name, df in json_tables(data).items():
                    s.add(w.table(df, f"{base}_{name}", f"{path} ({name}) of release '{v}'"))
    if not found:
        s.not_measured("no risk/ artifact (risk/report.json, HIPAA Safe Harbor table) in the sweep's runs: "
                       "the attack module did not run")
    return s
