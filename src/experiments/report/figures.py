"""Figs. 7-10 of the paper, one function per figure, from the runs of the paper's release."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from privhealth.experiments.artifacts import INFERENCE_TIME_CSV
from privhealth.experiments.report.claims import PAPER_CLAIMS
from privhealth.experiments.report.writer import (
    Section,
    Writer,
    ci_text,
    counts,
    fmt,
)
from privhealth.experiments.report_data import Store, Sweep, nan_if_missing
from privhealth.models.evaluation import PAPER_METRICS
from privhealth.models.figures import plot_history, plot_inference_time, plot_metrics

BAR_METRICS = (*PAPER_METRICS, "auroc")
PAPER_DENSE_PARAMS = 2945  # Fig. 7: 64·(d+1) + 2,080 + 528 + 17 with d = 4 inputs
DENSE_FIXED_PARAMS = 2080 + 528 + 17  # the layers after the first (32·65, 16·33, 1·17)


@dataclass(frozen=True)
class LoggedResult:
    """Test metrics of one model run as logged (what ``plot_metrics`` draws)."""

    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    baseline: dict[str, float]


def logged_result(row: pd.Series, metrics: Sequence[str] = BAR_METRICS) -> LoggedResult:
    g = lambda key: nan_if_missing(row, key)  # noqa: E731
    return LoggedResult(
        {m: g(f"test/{m}") for m in metrics},
        {m: (g(f"test/{m}_ci_lo"), g(f"test/{m}_ci_hi")) for m in metrics},
        {m: g(f"test/baseline_{m}") for m in metrics},
    )


def model_sections(w: Writer, store: Store, sweep: Sweep, variant: str) -> list[Section]:
    """Figs. 7-10 from the runs of ``variant`` (the paper's release): summaries, timing, curves, bars."""
    models = sweep.models(variant)
    return [fig7_section(w, store, sweep, variant, models), fig8_section(w, store, sweep, variant, models),
            fig9_section(w, store, sweep, variant, models), fig10_section(w, sweep, variant, models)]


def _no_runs(s: Section, sweep: Sweep, variant: str, models: pd.DataFrame) -> Section:
    if models.empty:
        s.not_measured(f"no model run of release '{variant}' in sweep {sweep.sweep_id}")
    return s


def fig7_section(w: Writer, store: Store, sweep: Sweep, variant: str, models: pd.DataFrame) -> Section:
    """Fig. 7: each model's summary; the dense net's parameter count against the paper's 2,945."""
    s7 = _no_runs(Section("Fig. 7: model summary"), sweep, variant, models)
    summaries, params = [], []
    for _, r in models.iterrows():
        text = store.text(r["run_id"], "model/summary.txt")
        if text is None:
            s7.missing.append(f"model/summary.txt of {r['model']} (run {r['run_id']})")
            continue
        summaries.append(f"== {r['model']} (run {r['run_id']})\n{text}\n")
        n_in = re.search(r"inputs: (\d+) features", text)
        p = nan_if_missing(r, "test/n_parameters")
        params.append({"model": r["model"], "parameters": p, "inputs": int(n_in.group(1)) if n_in else np.nan,
                       "paper": f"{PAPER_DENSE_PARAMS:,}" if r["model"] == "dense" else "-"})
        if r["model"] == "dense":
            s7.add("```\n" + text + "\n```")
            if not math.isnan(p):
                s7.add(f"The paper's 2,945 parameters imply d = (2945 - {DENSE_FIXED_PARAMS})/64 - 1 = 4 input "
                       f"features; ours has {int(p):,} = 64 x ({int(round((p - DENSE_FIXED_PARAMS) / 64))}) + "
                       f"{DENSE_FIXED_PARAMS:,}, i.e. {int(round((p - DENSE_FIXED_PARAMS) / 64)) - 1} inputs (the "
                       "layers after the first match the paper exactly).")
    if summaries:
        w.text("fig7_model_summary.txt", "\n".join(summaries))
        s7.add(w.table(counts(pd.DataFrame(params), ["parameters", "inputs"]), "fig7_parameters", "Fig. 7: parameters per model (paper: dense net only)"),
               "All summaries: [fig7_model_summary.txt](fig7_model_summary.txt).")
    if "dense" not in set(models["model"]) and not models.empty:
        s7.not_measured(f"no dense-net run in release '{variant}' (Fig. 7 is the dense net)")
    return s7


def fig8_section(w: Writer, store: Store, sweep: Sweep, variant: str, models: pd.DataFrame) -> Section:
    """Fig. 8: inference milliseconds per batch against the batch size, as each run measured it."""
    s8 = _no_runs(Section("Fig. 8: inference time against dataset size"), sweep, variant, models)
    timings = []
    for _, r in models.iterrows():
        t = store.csv(r["run_id"], INFERENCE_TIME_CSV)
        if t is None:
            s8.missing.append(f"{INFERENCE_TIME_CSV} of {r['model']} (run {r['run_id']})")
        else:
            timings.append(t.assign(model=r["model"]))
    if timings:
        timing = pd.concat(timings, ignore_index=True)[["model", "n_patients", "seconds"]]
        wide = timing.assign(ms=timing["seconds"] * 1e3).pivot_table(
            index="n_patients", columns="model", values="ms").reset_index()
        wide.columns.name = None
        s8.add("Milliseconds to predict one batch (test patients tiled to the size; median of repeats after a "
               "warm-up), measured in each run. The paper compares the LSTM with the Random Forest.",
               w.figure(plot_inference_time(timing, "Fig. 8: inference time per batch"), "fig8_inference_time"),
               w.table(wide, "fig8_inference_time", "Fig. 8: inference milliseconds per batch, by batch size"))
        lacking = sorted({"rf", "lstm"} - set(timing["model"]))
        if lacking:
            s8.not_measured(f"inference timing of {', '.join(lacking)} (the paper's pair is LSTM vs RF)")
    elif not models.empty:
        s8.not_measured(f"{INFERENCE_TIME_CSV} in the runs of '{variant}' (evaluation.inference_timing was null?)")
    return s8


def fig9_section(w: Writer, store: Store, sweep: Sweep, variant: str, models: pd.DataFrame) -> Section:
    """Fig. 9: training and validation curves per epoch, read against the majority-class share."""
    s9 = _no_runs(Section("Fig. 9: training and validation accuracy and loss per epoch"), sweep, variant, models)
    hist_rows = []
    for _, r in models.iterrows():
        h = store.history(r["run_id"])
        if h.empty:
            s9.add(f"{r['model']}: no per-epoch history (fitted in one pass).")
            continue
        hist_rows.append(h.assign(model=r["model"]))
        fig = plot_history(h.to_dict("records"), title=f"Fig. 9: {r['model']} ({variant})")
        s9.add(w.figure(fig, f"fig9_history_{r['model']}"))
        base = nan_if_missing(r, "test/baseline_accuracy")
        if "val_accuracy" in h and h["val_accuracy"].notna().any() and not math.isnan(base):
            acc = h["val_accuracy"].dropna()
            gain = acc.max() - base
            reading = (f"it never clears that share by more than {gain:.3f}: accuracy curves that track each "
                       "other there show little learning beyond the majority class (read the loss, and AUROC "
                       "in Fig. 10), not 'excellent generalization'") if gain < 0.02 else (
                       f"it clears that share by {gain:.3f} at best")
            s9.add(f"{r['model']}: validation accuracy (threshold 0.5) from {acc.iloc[0]:.3f} to {acc.iloc[-1]:.3f}, "
                   f"best {acc.max():.3f}, against the majority-class share {base:.3f} of the test split; {reading}.")
    if hist_rows:
        w.table(pd.concat(hist_rows, ignore_index=True), "fig9_history", "Fig. 9: per-epoch step metrics")
        s9.add("Step metrics `train/loss`, `val/loss`, `train/accuracy`, `val/accuracy` per epoch (boosting "
               "round for XGBoost): [fig9_history.csv](fig9_history.csv).")
    elif not models.empty:
        s9.not_measured("no step metric train/loss or val/loss in any run")
    return s9


def fig10_section(w: Writer, sweep: Sweep, variant: str, models: pd.DataFrame) -> Section:
    """Fig. 10: test metrics with 95% bootstrap intervals, the paper's claims as stars; every release."""
    s10 = Section("Fig. 10: test metrics per model (95% bootstrap CI)")
    all_rows = []
    for _, r in sweep.runs.iterrows():
        for m in BAR_METRICS:
            all_rows.append({"release": r["variant"], "model": r["model"], "metric": m,
                             "value": nan_if_missing(r, f"test/{m}"), "ci_lo": nan_if_missing(r, f"test/{m}_ci_lo"),
                             "ci_hi": nan_if_missing(r, f"test/{m}_ci_hi"),
                             "majority_baseline": nan_if_missing(r, f"test/baseline_{m}"),
                             "raw_value": nan_if_missing(r, f"raw/{m}")})
    long = pd.DataFrame(all_rows)
    if not models.empty:
        results = {str(r["model"]): logged_result(r) for _, r in models.iterrows()}
        fig = plot_metrics(results, metrics=BAR_METRICS, title=f"Fig. 10: test metrics, release '{variant}' (95% CI)")
        ax = fig.axes[0]
        claimed = [next((c.claimed for c in PAPER_CLAIMS if c.metric == m), np.nan) for m in BAR_METRICS]
        ax.scatter(np.arange(len(BAR_METRICS)), claimed, marker="*", s=140, color="red", zorder=5, label="paper's claim")
        ax.legend(fontsize="small", ncols=2)
        s10.add(w.figure(fig, "fig10_metrics"))
    if len(long):
        shown = long.assign(cell=[f"{fmt(v)} {ci_text(lo, hi)}" for v, lo, hi in
                                  zip(long["value"], long["ci_lo"], long["ci_hi"], strict=True)])
        wide = shown.pivot_table(index=["release", "model"], columns="metric", values="cell", aggfunc="first",
                                 sort=False).reset_index()
        wide.columns.name = None
        base = long.groupby(["release", "model"], sort=False)
        wide["baseline accuracy"] = base.apply(lambda g: g.loc[g["metric"] == "accuracy", "majority_baseline"].iloc[0],
                                               include_groups=False).to_numpy()
        w.table(long, "fig10_metrics_long", "Fig. 10: test metrics per release and model (raw values)")
        s10.add("Every release and model: value [95% bootstrap CI]; the threshold maximises F1 on "
                "validation (docs/models.md).",
                w.table(wide, "fig10_metrics", "Fig. 10: test metrics per release and model"))
    else:
        s10.not_measured("no model run in the sweep")
    return s10
