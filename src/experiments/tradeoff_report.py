"""Tables and the frontier figure of a trade-off study, written to reports/ and MLflow."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from privhealth.experiments.csvsafe import safe_csv


def frontier_figure(trials: pd.DataFrame, front: pd.DataFrame, lam: pd.DataFrame) -> Figure:
    """Privacy risk R against utility U: every trial, the Pareto front, the λ-optimal points."""
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if not trials.empty:
        ax.scatter(trials["R"], trials["U"], s=18, color="0.6", label="trials")
    if not front.empty:
        f = front.sort_values("R")
        ax.step(f["R"], f["U"], where="post", color="C0", label="Pareto front")
        ax.scatter(f["R"], f["U"], color="C0", zorder=3)
    if not lam.empty:
        for _trial, grp in lam.groupby("trial", sort=False):
            row = grp.iloc[0]
            lams = ", ".join(f"{x:g}" for x in grp["lambda"])
            ax.scatter([row["R"]], [row["U"]], marker="*", s=160, color="C3", zorder=4)
            ax.annotate(f"λ={lams}", (row["R"], row["U"]), textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set(xlabel="privacy risk R (lower is better)", ylabel="utility U (higher is better)",
           xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), title="Privacy-utility trade-off (Eq. 9-10)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def _params(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("param:")]


def write_report(
    cfg: DictConfig,
    trials: pd.DataFrame,
    front: pd.DataFrame,
    lam: pd.DataFrame,
    constrained: pd.DataFrame | None,
    out: Path,
    parent_run_id: str | None,
) -> list[Path]:
    """CSV + Markdown tables and the PNG frontier; logged to the study's MLflow run, which is then closed."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, df in (("trials", trials), ("pareto_front", front), ("lambda_table", lam)):
        p = out / f"{name}.csv"
        safe_csv(df, p, index=False)
        files.append(p)
    md = out / "tradeoff.md"
    cols = ["lambda", "trial", "R", "U", *_params(lam)]
    parts = [
        f"# Trade-off study `{cfg.study.name}` ({cfg.study.mode})\n",
        f"R = max of {list(cfg.objective.risk_metrics)}; U = retained {cfg.objective.utility_metric} skill "
        f"(validation split).\n",
        f"{len(trials)} completed trials, {len(front)} on the Pareto front.\n",
        "## Best configuration per λ (Eq. 10)\n",
        lam[[c for c in cols if c in lam.columns]].to_markdown(index=False, floatfmt=".3f") if not lam.empty else "(no completed trial)",
        "\n\n## Pareto front\n",
        front[["trial", "R", "U", *_params(front)]].to_markdown(index=False, floatfmt=".3f") if not front.empty else "(empty)",
    ]
    if constrained is not None:
        parts += [f"\n\n## Eq. 9: min R subject to U ≥ {cfg.study.tau}\n",
                  constrained.to_markdown(index=False, floatfmt=".3f") if not constrained.empty else "no feasible trial"]
    md.write_text("\n".join(parts) + "\n")
    files.append(md)
    fig = frontier_figure(trials, front, lam)
    png = out / "frontier.png"
    fig.savefig(png, dpi=120)
    files.append(png)
    if parent_run_id:
        client = MlflowClient(str(cfg.tracking.uri))
        for f in files:
            client.log_artifact(parent_run_id, str(f), artifact_path="tradeoff")
        client.log_metric(parent_run_id, "study/completed_trials", len(trials))
        client.log_metric(parent_run_id, "study/pareto_size", len(front))
        client.set_terminated(parent_run_id, "FINISHED")
    return files


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def print_tables(cfg: DictConfig, tables: dict[str, pd.DataFrame]) -> None:
    console = Console(width=max(120, Console().width))
    lam = tables["lambda"]
    t = Table(title=f"Study '{cfg.study.name}': best configuration per λ (minimise λR − (1−λ)U)")
    for c in ("λ", "trial", "R", "U", "configuration"):
        t.add_column(c, justify="right" if c != "configuration" else "left")
    for _, row in lam.iterrows():
        conf = " ".join(f"{c[6:]}={_fmt(row[c])}" for c in _params(lam) if pd.notna(row[c]))
        t.add_row(f"{row['lambda']:.1f}", str(int(row["trial"])), f"{row['R']:.3f}", f"{row['U']:.3f}", conf)
    console.print(t)
    console.print(f"{len(tables['trials'])} completed trials; Pareto front of {len(tables['front'])}. "
                  f"Files in {Path(str(cfg.paths.reports)) / 'tradeoff' / str(cfg.study.name)}")
    console.print(f"Optuna dashboard: optuna-dashboard {cfg.study.storage}   ·   MLflow UI: make ui")
