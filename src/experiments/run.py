"""The Hydra entry point (`privhealth-run`): one experiment job, or a sweep with ``-m``."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from privhealth.experiments.callbacks import current_sweep
from privhealth.experiments.failed_jobs import record_failed_job
from privhealth.experiments.guard import framework_error, precheck
from privhealth.experiments.launcher import JOB_PROCESS_ENV, register_launcher
from privhealth.experiments.liveness import install_signal_handlers, interrupt_taken
from privhealth.experiments.pipeline import ModelOutcome, PipelineResult, run_pipeline, validate_job
from privhealth.experiments.protocol import DELTA_PREFIX
from privhealth.experiments.runs_view import link_from_cfg
from privhealth.experiments.sweep_plan import prepare_argv
from privhealth.experiments.tracking import ensure_experiment, redact_uri_password

log = logging.getLogger("privhealth")
# conf/ lies beside src/ in the checkout (the package is installed editable; see docs/architecture.md)
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


RISK_SUMMARY = (
    ("risk/pii_leakage", "PII leakage (Eq. 15)"),
    ("risk/linkage_reid_rate", "linkage re-id"),
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


def prosecutor_line(m: dict[str, float]) -> str | None:
    """Prosecutor re-identification risk on the declared quasi-identifiers beside the figure that
    also counts identifier fragments left in the release (masked SSN/phone ends), each labelled."""
    parts = []
    for suffix, label in (("_declared", "declared QIs only"), ("", "QIs + identifier fragments")):
        mx, avg = m.get(f"risk/prosecutor_max{suffix}"), m.get(f"risk/prosecutor_avg{suffix}")
        if mx is not None and avg is not None:
            parts.append(f"{label}: max={mx:.3f} avg={avg:.3f}")
    return ("prosecutor risk  " + "  |  ".join(parts)) if parts else None


def print_summary(cfg: DictConfig, result: PipelineResult) -> None:
    console = Console(width=max(150, Console().width))
    console.print(summary_table(result))
    m = result.metrics
    shown = [(label, m[key]) for key, label in RISK_SUMMARY if key in m]
    if shown:
        console.print("risk: " + "  ".join(f"{label}={v:.3f}" for label, v in shown)
                      + "   (docs/risk.md explains each figure)")
    prosecutor = prosecutor_line(m)
    if prosecutor:
        console.print(prosecutor)
    if "task/bayes_auroc" in m:  # simulated data: the exact oracle ceiling (docs/data.md)
        console.print(f"Bayes ceiling (oracle, not reachable from noisy values): AUROC={m['task/bayes_auroc']:.3f}  "
                      f"F1={m['task/bayes_f1']:.3f}  accuracy={m['task/bayes_accuracy']:.3f}")
    console.print(f"MLflow runs: {', '.join(result.run_ids)}")
    uri = redact_uri_password(str(cfg.tracking.uri))
    if uri.startswith("sqlite:///"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    console.print(f"Start the MLflow UI:  make ui   (or: mlflow ui --backend-store-uri {uri})")
    link = link_from_cfg(cfg)
    if link:
        console.print(f"Open the runs (privacy and F1 columns, best test/f1 first):  {link}", soft_wrap=True)


def main() -> None:
    """Entry point: refuse credentials and bad settings (exit 2) before Hydra writes anything, then run."""
    register_launcher()  # hydra/launcher=privhealth_parallel (local_parallel), also under an editable install
    sys.argv[1:] = prepare_argv(sys.argv[1:], CONF_DIR)  # model.dp=<bool>; a multirun's anon.<key> (sweep_plan.py)
    precheck(sys.argv[1:], CONF_DIR, "config", validate_job)
    hydra_main()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """Run the configured experiment; in a multirun, a failing job is logged FAILED and the sweep goes on."""
    install_signal_handlers()
    sweep = current_sweep()
    if sweep is not None:  # a job of hydra/launcher=privhealth_parallel is already a process of its own
        return sweep_job(cfg, sweep) if os.environ.get(JOB_PROCESS_ENV) else run_isolated(cfg, sweep)
    try:
        result = run_pipeline(cfg)
    except Exception as exc:
        err = framework_error(exc)
        if err is not None:
            log.error("%s: %s", type(err).__name__, err)
            sys.exit(2)
        raise
    print_summary(cfg, result)
    return float(result.models[0].anon.metrics["f1"])


def sweep_job(cfg: DictConfig, sweep: dict[str, Any]) -> float | None:
    """One sweep job; a failure is logged, noted in the sweep folder and returned as None."""
    try:
        result = run_pipeline(cfg, sweep=sweep)
    except Exception as exc:
        err = framework_error(exc)
        if err is not None:
            log.error("job %s failed: %s", sweep.get("job_num"), err)
        else:
            log.exception("job %s failed", sweep.get("job_num"))
        record_failed_job(sweep["sweep_dir"], sweep["job_num"], f"{type(err or exc).__name__}: {err or exc}")
        return None
    print_summary(cfg, result)
    return float(result.models[0].anon.metrics["f1"])


def _child(cfg: DictConfig, sweep: dict[str, Any], conn: Connection) -> None:
    code = 0
    try:
        conn.send(sweep_job(cfg, sweep))
    except BaseException:  # an interrupt: the run already ended KILLED
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)  # not the parent's atexit hooks: the sweep's run is not this process's to end


def run_isolated(cfg: DictConfig, sweep: dict[str, Any]) -> float | None:
    """A sweep job in a forked child: if the child is killed (OOM, kill -9), only this job fails.

    The job's run, left RUNNING by the dead child, is marked KILLED at once (by pid).
    """
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(cfg, sweep, send), daemon=False)
    proc.start()
    send.close()
    try:
        proc.join()
    except BaseException:  # a signal to this process: stop the job, which ends its run KILLED
        interrupt_taken()
        proc.terminate()
        proc.join(60)
        raise
    try:
        value = recv.recv() if recv.poll() else None
    except EOFError:  # the child died before sending
        value = None
    if proc.exitcode == 0:
        return value
    code = -1 if proc.exitcode is None else proc.exitcode  # joined: None cannot happen; typed Optional
    why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    log.error("job %s failed: its process was %s", sweep.get("job_num"), why)
    record_failed_job(sweep["sweep_dir"], sweep["job_num"], f"process {why}")
    ensure_experiment(str(cfg.tracking.uri), str(cfg.tracking.experiment), cfg.tracking.get("artifact_root"))
    return None


if __name__ == "__main__":
    main()
