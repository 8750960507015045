"""The table that ends a multirun: every job's model runs, sorted by one metric, with CIs.

Printed to the console and logged on the sweep's parent run as ``sweep_summary.md`` and
``sweep_summary.csv``. The sort metric is ``sweep_summary.sort_by`` (default ``test/f1``,
best first; ``sweep_summary.ascending=true`` for a metric where lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from privhealth.experiments.csvsafe import safe_csv

# (column, metric, has a *_ci_lo/_ci_hi pair)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("test F1", "test/f1", True),
    ("test AUROC", "test/auroc", True),
    ("ΔF1", "utility/delta_f1", True),
    ("k", "privacy/k", False),
    ("l", "privacy/l_distinct", False),
    ("t (EMD)", "privacy/t_emd", False),
    ("PII leakage", "risk/pii_leakage", False),
    ("linkage re-id", "risk/linkage_reid_rate", False),
)


def sweep_runs(client: MlflowClient, experiment_id: str, sweep_id: str) -> list[Run]:
    """The model runs (``privhealth.kind = run``) of one sweep, whatever their status."""
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.`privhealth.sweep_id` = '{sweep_id}' and tags.`privhealth.kind` = 'run'",
        max_results=10000,
    )


def summary_frame(runs: Sequence[Run], sort_by: str = "test/f1", ascending: bool = False) -> pd.DataFrame:
    """One row per run: name, job, status, the compared metrics with their CI bounds; sorted, NaN last."""
    rows: list[dict[str, Any]] = []
    metrics = dict.fromkeys([sort_by, *(m for _, m, _ in COLUMNS)])
    for r in runs:
        m, tags = r.data.metrics, r.data.tags
        row: dict[str, Any] = {"run": tags.get("mlflow.runName", r.info.run_name), "job": tags.get("privhealth.job_num", ""),
                               "status": r.info.status, "run_id": r.info.run_id}
        for key in metrics:
            row[key] = m.get(key, math.nan)
            if any(key == k and ci for _, k, ci in COLUMNS):
                row[f"{key}_ci_lo"] = m.get(f"{key}_ci_lo", math.nan)
                row[f"{key}_ci_hi"] = m.get(f"{key}_ci_hi", math.nan)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if sort_by not in df.columns:
        df[sort_by] = math.nan
    return df.sort_values(sort_by, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


COUNTS = ("privacy/k", "privacy/l_distinct")


def _fmt(v: float, signed: bool = False, count: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if count:
        return str(int(v))
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def display_rows(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and text cells: ``0.412 [0.380, 0.447]`` for metrics with a CI."""
    header = ["#", "run", "job", "status"] + [name for name, _, _ in COLUMNS]
    out = []
    for i, row in df.iterrows():
        cells = [str(int(i) + 1), str(row["run"]), str(row["job"]), str(row["status"])]
        for _, key, ci in COLUMNS:
            signed = key.startswith("utility/delta")
            text = _fmt(row[key], signed, key in COUNTS)
            if ci and text != "–" and not math.isnan(row[f"{key}_ci_lo"]):
                text += f" [{_fmt(row[f'{key}_ci_lo'], signed)}, {_fmt(row[f'{key}_ci_hi'], signed)}]"
            cells.append(text)
        out.append(cells)
    return header, out


def to_markdown(df: pd.DataFrame, sort_by: str, notes: Sequence[str] = ()) -> str:
    """The table as GitHub Markdown (what the parent run's ``sweep_summary.md`` holds); ``notes``: the
    sweep plan's lines (settings dropped from jobs that ignore them, grid jobs merged) below it."""
    header, rows = display_rows(df)
    lines = [f"Sweep summary: {len(df)} run(s), sorted by `{sort_by}`; [95% CI] by bootstrap over test patients.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame) -> str:
    """Raw numbers (CI bounds as their own columns), text cells made spreadsheet-safe."""
    return str(safe_csv(df, index=False))


def rich_table(df: pd.DataFrame, sort_by: str) -> Any:
    from rich.table import Table

    header, rows = display_rows(df)
    t = Table(title=f"Sweep summary · sorted by {sort_by}")
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i in (1, 3) else "right", no_wrap=True)
    for r in rows:
        t.add_row(*r)
    return t


def summarize_sweep(client: MlflowClient, parent_run_id: str, sweep_id: str, sort_by: str = "test/f1",
                    ascending: bool = False, notes: Sequence[str] = ()) -> pd.DataFrame:
    """Build the table, log it on the parent run (Markdown and CSV) and return it."""
    exp_id = client.get_run(parent_run_id).info.experiment_id
    df = summary_frame(sweep_runs(client, exp_id, sweep_id), sort_by, ascending)
    if not df.empty:
        client.log_text(parent_run_id, to_markdown(df, sort_by, notes), "sweep_summary.md")
        client.log_text(parent_run_id, to_csv(df), "sweep_summary.csv")
    return df
