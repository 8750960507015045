"""The Hydra entry point (`privhealth-run`): one experiment job, or a sweep with ``-m``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from privhealth.errors import PrivHealthError
from privhealth.experiments.callbacks import current_sweep
from privhealth.experiments.pipeline import ModelOutcome, PipelineResult, run_pipeline
from privhealth.experiments.protocol import DELTA_PREFIX

log = logging.getLogger("privhealth")
# conf/ lies beside src/ in the checkout (the package is installed editable; see docs/architecture.md)
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


RISK_SUMMARY = (
    ("risk/pii_leakage", "PII leakage (Eq. 15)"),
    ("risk/linkage_reid_rate", "linkage re-id"),
    ("risk/prosecutor_max", "prosecutor max"),
    ("risk/prosecutor_avg", "prosecutor avg"),
    ("risk/records_at_risk", "at risk"),
    ("risk/inference_rate", "inference"),
    ("risk/safe_harbor_pass", "Safe Harbor pass"),
)


def summary_table(result: PipelineResult) -> Table:
    """The short table printed at the end of a run."""
    m = result.metrics
    t = Table(title=f"{result.dataset} · anonymization '{result.release.method}'", show_lines=False)
    t.add_column("model")
    for col in ("F1 anon [95% CI]", "F1 raw", "AUROC anon", "AUROC raw", "ΔAUROC [95% CI]", "p", "ΔF1 [95% CI]", "p "):
        t.add_column(col, justify="right")
    for o in result.models:
        a, r = o.anon, o.raw
        lo, hi = a.ci["f1"]
        t.add_row(
            o.name,
            f"{a.metrics['f1']:.3f} [{lo:.3f}, {hi:.3f}]",
            f"{r.metrics['f1']:.3f}" if r else "–",
            f"{a.metrics['auroc']:.3f}",
            f"{r.metrics['auroc']:.3f}" if r else "–",
            *_delta(o.deltas, f"{_delta_prefix(o)}auroc"),
            *_delta(o.deltas, f"{_delta_prefix(o)}f1"),
        )
    t.caption = (
        f"privacy: k={m.get('privacy/k', float('nan')):.0f}  l_distinct={m.get('privacy/l_distinct', float('nan')):.0f}  "
        f"t_emd={m.get('privacy/t_emd', float('nan')):.3f}  suppressed={m.get('privacy/suppressed_fraction', 0):.1%}\n"
        + _evaluation_caption(result)
    )
    return t


def _evaluation_caption(result: PipelineResult) -> str:
    """Who was scored: folds, test patients (raw = anonymized), suppressed test patients."""
    if not result.models:
        return ""
    a = result.models[0].anon
    folds = len(a.fold_metrics) or 1
    protocols = "/".join(result.models[0].protocols) or "release"
    return (f"protocol {protocols}; {folds} fold(s); the same {a.n_patients['test']} test patients for raw and anonymized models "
            f"({a.n_suppressed} suppressed by the release, scored with the training prevalence); "
            "Δ = anonymized − raw, paired bootstrap CI, p: DeLong (AUROC) / bootstrap (F1)")


def _delta_prefix(o: ModelOutcome) -> str:
    """The paired differences of the model's first protocol (release: utility/delta_*)."""
    return DELTA_PREFIX[next(iter(o.protocols), "release")]


def _delta(d: dict[str, float], key: str) -> tuple[str, str]:
    """('−0.012 [−0.030, +0.006]', '0.21'): a paired difference anonymized − raw and its p-value."""
    if key not in d:
        return "–", "–"
    return f"{d[key]:+.3f} [{d[key + '_ci_lo']:+.3f}, {d[key + '_ci_hi']:+.3f}]", f"{d[key + '_p']:.2g}"


def print_summary(cfg: DictConfig, result: PipelineResult) -> None:
    console = Console(width=max(150, Console().width))
    console.print(summary_table(result))
    m = result.metrics
    shown = [(label, m[key]) for key, label in RISK_SUMMARY if key in m]
    if shown:
        console.print("risk: " + "  ".join(f"{label}={v:.3f}" for label, v in shown)
                      + "   (docs/risk.md explains each figure)")
    if "task/bayes_auroc" in m:  # simulated data: the exact oracle ceiling (docs/data.md)
        console.print(f"Bayes ceiling (oracle, not reachable from noisy values): AUROC={m['task/bayes_auroc']:.3f}  "
                      f"F1={m['task/bayes_f1']:.3f}  accuracy={m['task/bayes_accuracy']:.3f}")
    console.print(f"MLflow runs: {', '.join(result.run_ids)}")
    uri = str(cfg.tracking.uri)
    if uri.startswith("sqlite:///"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    console.print(f"Open the MLflow UI:  make ui   (or: mlflow ui --backend-store-uri {uri})")


def user_error(exc: BaseException) -> PrivHealthError | None:
    """The framework error behind ``exc`` (Hydra wraps errors raised while instantiating configs)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PrivHealthError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run the configured experiment; in a multirun, a failing job is logged FAILED and the sweep goes on."""
    sweep = current_sweep()
    try:
        result = run_pipeline(cfg, sweep=sweep)
    except Exception as exc:
        err = user_error(exc)
        if sweep is not None:
            if err is not None:
                log.error("job %s failed: %s", sweep.get("job_num"), err)
            else:
                log.exception("job %s failed", sweep.get("job_num"))
            return None
        if err is not None:
            log.error("%s: %s", type(err).__name__, err)
            sys.exit(2)
        raise
    print_summary(cfg, result)
    first = result.models[0]
    return float(first.anon.metrics["f1"])


if __name__ == "__main__":
    main()
