"""The paper's model figures as data and matplotlib figures (no tracking here).

Fig. 7: ``ClinicalModel.summary()`` (a Keras-style table for the dense net).
Fig. 8: ``inference_timing`` → DataFrame (model, n_patients, seconds); ``plot_inference_time``.
Fig. 9: ``plot_history`` — training/validation loss and accuracy per epoch.
Fig. 10: ``plot_metrics`` — metric bars with bootstrap CI error bars and the baseline.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot (no global state,
no display needed); save them with ``fig.savefig`` or hand them to a tracker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from privhealth.models.base import ClinicalModel
from privhealth.models.evaluation import PAPER_METRICS, TaskResult
from privhealth.models.features import ModelInput

Timed: TypeAlias = tuple[ClinicalModel, ModelInput] | TaskResult


def model_summary(model: ClinicalModel | TaskResult) -> str:
    """Fig. 7: the model's summary text with its parameter count."""
    return model.summary if isinstance(model, TaskResult) else model.summary()


def inference_timing(
    models: Mapping[str, Timed],
    sizes: Iterable[int] = (100, 1_000, 10_000),
    repeats: int = 3,
) -> pd.DataFrame:
    """Fig. 8: seconds to predict one batch of ``n_patients`` (median of ``repeats``, after a warm-up).

    ``models`` maps a label to a fitted model and an input of its kind (patients are
    tiled to reach each size), or to a ``TaskResult`` (its fitted model and test input).
    """
    rows = []
    for label, item in models.items():
        model, data = (item.model, item.test_input) if isinstance(item, TaskResult) else item
        if model is None or data is None:
            raise ValueError(f"'{label}': a TaskResult without its fitted model and test input")
        for n in sizes:
            batch = data.take(int(n))
            model.predict_proba(batch.take(min(int(n), 64)))  # warm-up (device, caches)
            times = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                model.predict_proba(batch)
                times.append(time.perf_counter() - t0)
            rows.append({"model": label, "n_patients": int(n), "seconds": float(np.median(times))})
    return pd.DataFrame(rows, columns=["model", "n_patients", "seconds"])


def plot_inference_time(timing: pd.DataFrame, title: str = "Inference time per batch") -> Figure:
    """Fig. 8: inference time against dataset size, one line per model (log-log)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for label, part in timing.groupby("model", sort=False):
        part = part.sort_values("n_patients")
        ax.plot(part["n_patients"], part["seconds"], marker="o", label=str(label))
    ax.set(xscale="log", yscale="log", xlabel="patients per batch", ylabel="seconds", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def plot_history(history: Sequence[Mapping[str, float]], title: str = "Training history") -> Figure:
    """Fig. 9: training and validation loss (left) and accuracy (right) per epoch."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    if not history:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no per-epoch history\n(model fitted in one pass)", ha="center",
                    va="center", transform=ax.transAxes)  # fmt: skip
    else:
        h = pd.DataFrame(list(history))
        for ax, what in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for split, style in (("train", "-"), ("val", "--")):
                col = f"{split}_{what}"
                if col in h:
                    label = "training" if split == "train" else "validation"
                    ax.plot(h["epoch"], h[col], style, marker=".", label=label)
            ax.set(xlabel="epoch", ylabel=what)
            ax.grid(True, alpha=0.3)
            ax.legend()
    ax_loss.set_title("loss")
    ax_acc.set_title("accuracy")
    fig.suptitle(title)
    return fig


def plot_metrics(
    results: Mapping[str, TaskResult] | TaskResult,
    metrics: Sequence[str] = (*PAPER_METRICS, "auroc", "auprc", "balanced_accuracy"),
    baseline: bool = True,
    title: str = "Test metrics (95% bootstrap CI)",
) -> Figure:
    """Fig. 10: one bar per model and metric with CI error bars; the majority baseline as ticks."""
    if isinstance(results, TaskResult):
        results = {results.model_name: results}
    fig = Figure(figsize=(max(6.0, 1.2 * len(metrics) * max(1, len(results)) ** 0.5 + 3), 4.5),
                 layout="constrained")  # fmt: skip
    ax = fig.add_subplot()
    x = np.arange(len(metrics))
    width = 0.8 / max(1, len(results))
    for i, (label, r) in enumerate(results.items()):
        vals = np.array([r.metrics[m] for m in metrics])
        lo = np.array([r.ci[m][0] for m in metrics])
        hi = np.array([r.ci[m][1] for m in metrics])
        yerr = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, vals, width, yerr=yerr, capsize=3, label=label)
    if baseline and results:
        first = next(iter(results.values()))
        base = [first.baseline[m] for m in metrics]
        ax.scatter(x, base, marker="_", s=600, color="black", zorder=3, label="majority baseline")
    ax.set_xticks(x, [m.replace("_", " ") for m in metrics])
    ax.set(ylim=(0, 1.05), ylabel="value", title=title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    return fig
