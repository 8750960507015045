"""One privacy-utility frontier across families (issue 18, item 4): k/l/t releases, DP-SGD models,
DP synthetic (MST) and non-DP synthetic (copula) releases, scored by the same attacks.

Each model run of a sweep is one point: x = a risk metric the same attacks logged for every run
(``report.frontier.risk``; one panel per metric), y = utility on real test patients
(``report.frontier.utility``, default ``deploy/auroc``: trained on the release, tested on raw held-out
patients mapped through it). The family is read from the run's own params (``family_of``); ε is the
release's ``privacy/epsilon`` (MST) or the training's spent ``privacy/train_epsilon`` (DP-SGD).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from privhealth.experiments.report.writer import Section, Writer
from privhealth.experiments.report_data import Sweep

RAW, KLT, DPSGD, MST, COPULA = "raw", "k/l/t", "DP-SGD", "DP synthetic (MST)", "synthetic (copula)"
FAMILIES = (RAW, KLT, DPSGD, MST, COPULA)
STYLE = {RAW: ("black", "*"), KLT: ("tab:blue", "o"), DPSGD: ("tab:red", "^"), MST: ("tab:green", "s"),
         COPULA: ("tab:orange", "D")}
DEFAULT_RISK = ("risk/mia_auc", "risk/linkage_reid_rate")
DEFAULT_UTILITY = "deploy/auroc"
SLUG = {RAW: "raw", KLT: "klt", DPSGD: "dpsgd", MST: "mst", COPULA: "copula"}


def _true(v: str | None) -> bool:
    return str(v).strip().lower() == "true"


def family_of(params: Mapping[str, str], model: str) -> str:
    """The run's family from its logged config: training-level DP first (a DP-SGD model on any release
    is a DP-SGD point), then the release: MST, copula, none (raw), anything else k/l/t."""
    if _true(params.get(f"model.{model}.dp")):
        return DPSGD
    target = params.get("anon._target_", "")
    if target.endswith("SyntheticAnonymizer"):
        return MST if params.get("anon.method") == "mst" else COPULA
    if target.endswith("NoAnonymization"):
        return RAW
    return KLT


def mia_auc_bound(epsilon: float) -> float:
    """The largest membership-inference ROC AUC any attack can reach against an ε-DP mechanism (δ = 0).

    Every attack's (FPR, TPR) obeys TPR ≤ e^ε·FPR and 1 − FPR ≤ e^ε·(1 − TPR) (Kairouz et al. 2015); the
    area under that envelope is e^ε / (1 + e^ε): ε = 1 → 0.731, ε = 8 → 0.99966 (no constraint left).
    """
    return math.nan if math.isnan(epsilon) else 1.0 / (1.0 + math.exp(-epsilon))


def _num(row: pd.Series, key: str) -> float:
    v = row.get(key, math.nan)
    return float(v) if v is not None and pd.notna(v) else math.nan


def frontier_points(sweep: Sweep, risk: Sequence[str] = DEFAULT_RISK, utility: str = DEFAULT_UTILITY) -> pd.DataFrame:
    """One row per model run: family, release, model, ε, k, the risk metrics and the utility (with CIs)."""
    rows = []
    for _, r in sweep.runs.iterrows():
        params = sweep.params.get(str(r["run_id"]), {})
        fam = family_of(params, str(r["model"]))
        eps, eps_kind = _num(r, "privacy/epsilon"), "release"
        if fam == DPSGD or math.isnan(eps):
            eps, eps_kind = _num(r, "privacy/train_epsilon"), "training"
        row = {"family": fam, "release": r["variant"], "model": r["model"], "run_id": r["run_id"],
               "epsilon": eps, "epsilon_of": eps_kind if not math.isnan(eps) else "",
               "mia_auc_bound": mia_auc_bound(eps), "k": _num(r, "privacy/k")}
        for key in (*risk, utility):
            row[key] = _num(r, key)
            for side in ("_ci_lo", "_ci_hi", "_lo", "_hi"):
                if f"{key}{side}" in r.index and pd.notna(r[f"{key}{side}"]):
                    row[f"{key}{side}"] = float(r[f"{key}{side}"])
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    order = {f: i for i, f in enumerate(FAMILIES)}
    return df.sort_values(["family", "release", "model"], key=lambda s: s.map(order) if s.name == "family" else s,
                          kind="stable").reset_index(drop=True)


def _label(row: pd.Series) -> str:
    eps = row["epsilon"]
    if isinstance(eps, float) and not math.isnan(eps):
        return f"ε={eps:.3g}" + (" (train)" if row["epsilon_of"] == "training" else "")
    k = row["k"]
    return f"k={k:.0f}" if row["family"] == KLT and not math.isnan(k) else ""


def frontier_figure(points: pd.DataFrame, risk: Sequence[str], utility: str) -> Figure:
    """One figure, one panel per risk metric (shared y = utility); families by colour and marker, ε annotated."""
    fig = Figure(figsize=(5.2 * len(risk), 4.4))
    axes = fig.subplots(1, len(risk), sharey=True, squeeze=False)[0]
    models = sorted(points["model"].astype(str).unique())
    for ax, key in zip(axes, risk, strict=True):
        for fam in FAMILIES:
            sub = points[points["family"] == fam]
            if sub.empty:
                continue
            colour, marker = STYLE[fam]
            filled = sub["model"].astype(str) == models[0]  # the first model filled, the others open
            ax.scatter(sub.loc[filled, key], sub.loc[filled, utility], c=colour, marker=marker, s=60, label=fam,
                       edgecolors="k", linewidths=0.4)
            ax.scatter(sub.loc[~filled, key], sub.loc[~filled, utility], facecolors="none", edgecolors=colour,
                       marker=marker, s=60, linewidths=1.4, label=None)
            for _, row in sub.iterrows():
                text = _label(row)
                if text and pd.notna(row[key]) and pd.notna(row[utility]):
                    ax.annotate(text, (row[key], row[utility]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlabel(f"{key} (lower is more private)")
        ax.grid(alpha=0.3)
        if key == "risk/mia_auc":
            ax.axvline(0.5, color="grey", ls=":", lw=1)
    axes[0].set_ylabel(f"{utility} (real test patients)")
    axes[0].legend(fontsize=8, loc="best")
    others = f"; open: {', '.join(models[1:])}" if len(models) > 1 else ""
    fig.suptitle(f"Privacy-utility frontier: every family, the same attacks (filled: {models[0]}{others})")
    fig.tight_layout()
    return fig


def families_section(w: Writer, sweep: Sweep, risk: Sequence[str] = DEFAULT_RISK,
                     utility: str = DEFAULT_UTILITY) -> Section:
    """The frontier figure (``families_frontier.png``) and one table per family (``family_<slug>.csv/.md``)."""
    s = Section("One frontier: k/l/t, DP-SGD, DP synthetic and synthetic releases (issue 18)")
    points = frontier_points(sweep, risk, utility)
    if points.empty:
        s.not_measured(f"sweep {sweep.sweep_id} has no finished model run")
        return s
    for key in (*risk, utility):
        lacking = points.loc[points[key].isna(), "release"].astype(str) + "·" + points.loc[points[key].isna(), "model"]
        if len(lacking):
            s.not_measured(f"{key} of {', '.join(lacking)}")
    s.add(f"Sweep `{sweep.sweep_id}`: {len(points)} model runs. x: {', '.join(f'`{k}`' for k in risk)}; "
          f"y: `{utility}`. ε is the release's (MST) or the training's spent budget (DP-SGD, marked 'train'); "
          "docs/frontier.md says how to read R for each family.",
          w.figure(frontier_figure(points, risk, utility), "families_frontier"))
    w.table(points, "families_points", "Every point of the frontier")
    for fam in FAMILIES:
        sub = points[points["family"] == fam].drop(columns=["family"])
        if not sub.empty:
            s.add(f"### {fam}", w.table(sub, f"family_{SLUG[fam]}", f"Family {fam}"))
    return s
