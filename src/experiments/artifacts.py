"""What a run stores besides metrics: reports, config, figures, predictions (never source data)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import mlflow
import yaml
from matplotlib.figure import Figure

from privhealth.errors import ConfigError
from privhealth.experiments.csvsafe import safe_csv
from privhealth.experiments.export import write_release
from privhealth.models.figures import inference_timing, plot_history, plot_metrics

if TYPE_CHECKING:
    from privhealth.experiments.results import ModelOutcome, PipelineResult

log = logging.getLogger(__name__)
INFERENCE_TIME_CSV = "model/inference_time.csv"
HISTORY_KEYS = {
    "train_loss": "train/loss",
    "val_loss": "val/loss",
    "train_accuracy": "train/accuracy",
    "val_accuracy": "val/accuracy",
}


def log_history(history: Sequence[Mapping[str, float]]) -> None:
    """Per-epoch curves (the paper's Fig. 9) as MLflow step metrics."""
    if not history:
        return
    from mlflow.entities import Metric

    run = mlflow.active_run()
    assert run is not None
    now = int(__import__("time").time() * 1000)
    batch = []
    for i, row in enumerate(history):
        step = int(row.get("epoch", i + 1))
        for key, name in HISTORY_KEYS.items():
            v = row.get(key)
            if v is not None and v == v:  # skip NaN
                batch.append(Metric(name, float(v), now, step))
    client = mlflow.tracking.MlflowClient()
    for i in range(0, len(batch), 1000):
        client.log_batch(run.info.run_id, metrics=batch[i : i + 1000])


def class_size_figure(sizes: Mapping[int, int], k_required: int | None = None) -> Figure:
    """Histogram of equivalence-class sizes (patients per class) of the release."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    xs = sorted(int(s) for s in sizes)[:60]
    ax.bar(range(len(xs)), [sizes[x] for x in xs])
    ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=90 if len(xs) > 15 else 0)
    ax.set(xlabel="class size (patients)", ylabel="number of classes", title="Equivalence classes of the release")
    if k_required:
        ax.set_title(f"Equivalence classes of the release (k required: {k_required})")
    return fig


def log_release_artifacts(result: PipelineResult, cfg: Mapping[str, Any]) -> None:
    """Config, release description, privacy report and its figure."""
    mlflow.log_text(yaml.safe_dump(cfg, sort_keys=False), "config.yaml")
    mlflow.log_dict(result.release.describe(), "release.json")
    report = result.privacy.to_dict()
    mlflow.log_dict(report, "privacy/report.json")
    if result.privacy.classes is not None and result.release.steps:
        # per-class quasi-identifier labels are release content; a raw "release" (anon=none) is never written
        mlflow.log_text(safe_csv(result.privacy.classes, index=False), "privacy/classes.csv")
    mlflow.log_figure(class_size_figure(result.privacy.class_sizes), "privacy/class_sizes.png")
    if result.risk is not None:
        mlflow.log_dict(result.risk.to_dict(), "risk/report.json")


def release_folder(cfg: Mapping[str, Any], run_id: str, trial: Any = None) -> Path:
    """Where a run's release goes: ``release.dir``, else the Hydra job's output folder, + ``release/``.

    Without a Hydra job (Compose API, notebooks) it is ``outputs/<run id>/release`` under
    ``paths.root``; an Optuna trial writes ``release/trial-<n>`` (trials share one job folder).
    """
    from hydra.core.hydra_config import HydraConfig

    opts = cfg.get("release") or {}
    if opts.get("dir"):
        base = Path(str(opts["dir"]))
    elif HydraConfig.initialized():
        base = Path(HydraConfig.get().runtime.output_dir)
    else:
        base = Path(str(cfg["paths"]["root"])) / "outputs" / run_id
    folder = base / "release"
    return folder / f"trial-{trial}" if trial is not None else folder


def export_release(result: PipelineResult, cfg: Mapping[str, Any], run_id: str, trial: Any = None) -> Path | None:
    """Write the release (CSV, Parquet, JSON sidecar) to the run's folder and log it as ``release/``.

    Off with ``release.export=false``; never for ``anon=none`` (that "release" is the source table).
    """
    if not (cfg.get("release") or {}).get("export", True):
        return None
    release = result.release
    if not release.steps:
        log.info("anon=none: the source table is not exported as a release")
        return None
    folder = release_folder(cfg, run_id, trial)
    metrics = {k: float(v) for k, v in result.metrics.items() if v is not None and v == v}
    write_release(release, folder, result.dataset, result.privacy.to_dict(), metrics)
    mlflow.log_artifacts(str(folder), "release")
    log.info("release written to %s", folder)
    return folder


def log_model_artifacts(outcome: ModelOutcome) -> None:
    """Model summary (Fig. 7), curves (Fig. 9), metric bars (Fig. 10), test predictions."""
    a = outcome.anon
    mlflow.log_text(a.summary, "model/summary.txt")
    mlflow.log_dict(
        {
            "model": outcome.name,
            "threshold": a.threshold,
            "threshold_rule": "maximises F1 on the validation split",
            "test": a.metrics,
            "ci": {k: list(v) for k, v in a.ci.items()},
            "baseline": a.baseline,
            "raw": outcome.raw.metrics if outcome.raw else None,
            "n_patients": a.n_patients,
            "hparams": a.hparams,
        },
        "model/metrics.json",
    )
    mlflow.log_text(safe_csv(a.predictions(), index=False), "model/test_predictions.csv")
    mlflow.log_figure(plot_history(a.history, title=f"{outcome.name}: training history"), "model/history.png")
    results = {f"{outcome.name} (anonymized)": a}
    if outcome.raw is not None:
        results[f"{outcome.name} (raw)"] = outcome.raw
    mlflow.log_figure(plot_metrics(results), "model/metrics.png")


def log_inference_timing(outcome: ModelOutcome, spec: Mapping[str, Any] | None) -> None:
    """Fig. 8: seconds to predict batches of ``spec['sizes']`` patients with the fitted model.

    Logged as ``model/inference_time.csv`` (model, n_patients, seconds). Skipped when
    ``spec`` is None or the result holds no fitted model (a result read back from a cache).
    """
    if not spec:
        return
    sizes = [int(n) for n in spec.get("sizes") or ()]
    repeats = int(spec.get("repeats", 3))
    if not sizes or min(sizes) < 1 or repeats < 1:
        raise ConfigError(
            f"evaluation.inference_timing needs positive sizes and repeats (got sizes={sizes}, repeats={repeats})"
        )
    a = outcome.anon
    if a.model is None or a.test_input is None:
        return
    timing = inference_timing({outcome.name: a}, sizes=sizes, repeats=repeats)
    mlflow.log_text(safe_csv(timing, index=False), INFERENCE_TIME_CSV)
