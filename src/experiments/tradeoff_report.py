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

U_SE = "tradeoff/u_se"


def frontier_figure(trials: pd.DataFrame, front: pd.DataFrame, lam: pd.DataFrame) -> Figure:
    """Privacy risk R against utility U (± its SE over folds): every trial, the Pareto set (each
    point named in the legend), the λ-optimal points; axes scaled to the data."""
    fig = Figure(figsize=(9, 8), layout="constrained")
    ax = fig.add_subplot()
    if not trials.empty:
        ax.errorbar(trials["R"], trials["U"], yerr=_se(trials), fmt="o", ms=4, color="0.65", ecolor="0.8",
                    elinewidth=1, capsize=2, label="trials (U ± SE over folds)")
    if not front.empty:
        f = front.sort_values("R").reset_index(drop=True)
        ax.step(f["R"], f["U"], where="post", color="C0", alpha=0.6)
        for i, row in f.iterrows():
            ax.errorbar([row["R"]], [row["U"]], yerr=[_se(f).iloc[i]], fmt="o", ms=7, color=f"C{i % 10}",
                        capsize=3, zorder=3, label=f"Pareto #{int(row['trial'])}: R={row['R']:.3f} U={row['U']:.3f} "
                        + _config(row))
    if not lam.empty:
        for j, (_trial, grp) in enumerate(lam.groupby("trial", sort=False)):
            row = grp.iloc[0]
            ax.scatter([row["R"]], [row["U"]], marker="*", s=220, color="C3", edgecolor="k", zorder=4,
                       label="λ-optimal (Eq. 10)" if j == 0 else None)
            ax.annotate(_lambda_label(grp["lambda"].tolist()), (row["R"], row["U"]), textcoords="offset points",
                        xytext=(8, 10 if j % 2 == 0 else -16), fontsize=9,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "alpha": 0.9})
    ax.set(xlabel="privacy risk R (lower is better)", ylabel="utility U (higher is better)",
           title="Privacy-utility trade-off (Eq. 9-10)")
    if not trials.empty:
        ax.set_xlim(*_span(trials["R"], trials["R"]))
        se = _se(trials)
        ax.set_ylim(*_span(trials["U"] - se, trials["U"] + se))
    ax.grid(True, alpha=0.3)
    fig.legend(loc="outside lower center", fontsize="small", frameon=False, ncols=1)
    return fig


def _se(df: pd.DataFrame) -> pd.Series:
    return df[U_SE].fillna(0.0) if U_SE in df.columns else pd.Series(0.0, index=df.index)


def _span(lo: pd.Series, hi: pd.Series) -> tuple[float, float]:
    """Axis limits around the data with a 8% margin (at least 0.01), inside [-0.02, 1.02]."""
    a, b = float(lo.min()), float(hi.max())
    pad = max(0.08 * (b - a), 0.01)
    return max(-0.02, a - pad), min(1.02, b + pad)


def _lambda_label(lams: list[float]) -> str:
    """'λ=0–0.3' for a run of consecutive λ values, else the list."""
    lams = sorted(lams)
    return f"λ={lams[0]:g}" if len(lams) == 1 else f"λ={lams[0]:g}–{lams[-1]:g}"


def _config(row: pd.Series) -> str:
    return " ".join(f"{c[6:]}={_fmt(row[c])}" for c in row.index if c.startswith("param:") and pd.notna(row[c]))


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
    cols = ["lambda", "trial", "R", "U", U_SE, *_params(lam)]
    parts = [
        f"# Trade-off study `{cfg.study.name}` ({cfg.study.mode})\n",
        f"R = {cfg.objective.get('combine', 'union')} of R_identity (max of {list(cfg.objective.identity_metrics)}) "
        f"and R_attribute (max(0, {' − '.join(cfg.objective.attribute_metrics)})); U = retained "
        f"{cfg.objective.utility_metric} skill on each fold's test patients, mean over folds (SE: tradeoff/u_se).\n",
        f"{len(trials)} completed trials, {len(front)} on the Pareto front.\n",
        "## Best configuration per λ (Eq. 10)\n",
        lam[[c for c in cols if c in lam.columns]].to_markdown(index=False, floatfmt=".3f") if not lam.empty else "(no completed trial)",
        "\n\n## Pareto front\n",
        front[[c for c in ["trial", "R", "U", U_SE, "tradeoff/r_identity", "tradeoff/r_attribute", *_params(front)]
               if c in front.columns]].to_markdown(index=False, floatfmt=".3f") if not front.empty else "(empty)",
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
