"""The privacy-utility trade-off search (Eq. 9-10) with current Optuna: `privhealth-tradeoff`.

Each trial composes the experiment config through Hydra's Compose API (the command
line's overrides plus the trial's sampled ones), runs the pipeline, and scores the
release by two numbers in [0, 1]:

* **R, privacy risk** — the worst of the measured risks named in
  ``objective.risk_metrics`` (by default the Eq. 15 PII leakage, the linkage attack's
  re-identification rate and the average prosecutor risk);
* **U, utility** — how much of the raw data's skill the release keeps, on the
  *validation* split (the test split stays untouched for reporting):
  ``(m_anon − m_chance) / (m_raw − m_chance)`` clipped to [0, 1], with m the model's
  ``objective.utility_metric`` (AUROC, chance 0.5; or F1, chance 0).

Modes: ``lambda`` minimises Eq. 10, λR − (1−λ)U; ``constrained`` minimises R subject to
U ≥ τ (Eq. 9, via Optuna's constraint handling); ``multi`` searches both objectives and
yields the Pareto front, from which the best configuration for each λ of
``study.lambdas`` is read. Why an entry point and not a Hydra sweeper plugin: see
docs/sweeps.md.

The study lives in an Optuna storage (SQLite by default, an RDB URL or a
``journal:///path`` file for several hosts). Rerunning the same command resumes it;
several workers (``study.workers=N`` here, or the same command on other hosts) share it.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import socket
import subprocess
import sys
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import hydra
import optuna
import pandas as pd
import sqlalchemy
import sqlalchemy.exc
import sqlalchemy.pool
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from privhealth.errors import ConfigError, PrivHealthError
from privhealth.experiments.guard import precheck
from privhealth.experiments.liveness import (
    install_signal_handlers,
    interrupt_taken,
    process_tags,
    reown_run,
)
from privhealth.experiments.pipeline import PipelineResult, run_pipeline
from privhealth.experiments.samplers import duplicate_of, make_sampler
from privhealth.experiments.settings import check_settings
from privhealth.experiments.study_storage import STORAGE_ATTEMPTS, Gate, make_storage  # noqa: F401
from privhealth.experiments.tracking import ensure_experiment, git_commit
from privhealth.models.evaluation import fold_summary

log = logging.getLogger("privhealth.tradeoff")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
MODES = ("lambda", "constrained", "multi")
CHANCE = {"auroc": 0.5, "balanced_accuracy": 0.5, "f1": 0.0, "auprc": 0.0, "accuracy": 0.0}
STUDY_KEYS = ("study", "objective", "search")
MAX_DUPLICATES = 50  # parameter sets in a row already tried before a worker stops


# ---------------------------------------------------------------------- R and U
COMBINE = ("union", "max")


def utility_score(anon: float, raw: float, chance: float) -> float:
    """U: the fraction of the raw model's skill above chance that the release keeps, in [0, 1]."""
    if not (math.isfinite(anon) and math.isfinite(raw)):
        return float("nan")
    if raw <= chance:
        return 1.0  # the raw data has no skill to lose
    return min(1.0, max(0.0, (anon - chance) / (raw - chance)))


def risk_score(metrics: Mapping[str, float], keys: Sequence[str]) -> float:
    """The worst (largest) of the named risk metrics, each a fraction in [0, 1]."""
    missing = [k for k in keys if k not in metrics or not math.isfinite(float(metrics[k]))]
    if missing:
        raise ConfigError(
            f"objective risk metrics {missing} were not measured by the pipeline "
            f"(available: {sorted(k for k in metrics if k.startswith(('risk/', 'privacy/')))})"
        )
    return max(min(1.0, max(0.0, float(metrics[k]))) for k in keys)


def attribute_risk(metrics: Mapping[str, float], rate: str, base: str) -> float:
    """Attribute disclosure: what the release teaches beyond the prior, max(0, rate − base rate)."""
    risk_score(metrics, [rate, base])  # both measured, or a ConfigError naming them
    return min(1.0, max(0.0, float(metrics[rate]) - float(metrics[base])))


def combine_risk(identity: float, attribute: float, how: str) -> float:
    """R from its two terms: ``union`` 1 − (1 − R_id)(1 − R_attr) (either disclosure), or ``max``."""
    if how == "union":
        return 1.0 - (1.0 - identity) * (1.0 - attribute)
    if how == "max":
        return max(identity, attribute)
    raise ConfigError(f"objective.combine must be one of {COMBINE} (got {how!r})")


@dataclass
class Scored:
    risk: float
    utility: float
    metrics: dict[str, float]
    terms: dict[str, float] = field(default_factory=dict)  # tradeoff/* figures, logged per trial


def fold_utilities(anon: Any, raw: Any, name: str, chance: float) -> list[float]:
    """U per fold on that fold's test patients (the same patients for the raw and released model)."""
    pairs = list(zip(anon.fold_metrics, raw.fold_metrics, strict=True)) or [(anon.metrics, raw.metrics)]
    return [utility_score(a[name], r[name], chance) for a, r in pairs]


def score(result: PipelineResult, objective: DictConfig) -> Scored:
    """R and U of one pipeline result (the first model decides U); each term in ``terms``."""
    m = result.models[0]
    if m.raw is None:
        raise ConfigError("the trade-off needs evaluation.train_raw=true (U compares with the raw data)")
    name = str(objective.utility_metric)
    if name not in m.anon.metrics:
        raise ConfigError(f"objective.utility_metric '{name}' is not a model metric ({sorted(m.anon.metrics)})")
    chance = float(objective.get("chance", CHANCE.get(name, 0.0)))
    per_fold = fold_utilities(m.anon, m.raw, name, chance)
    summary = fold_summary(per_fold)
    r_id = risk_score(result.metrics, list(objective.identity_metrics))
    rate, base = (str(k) for k in objective.attribute_metrics)
    r_attr = attribute_risk(result.metrics, rate, base)
    r = combine_risk(r_id, r_attr, str(objective.get("combine", "union")))
    terms = {"tradeoff/r": r, "tradeoff/r_identity": r_id, "tradeoff/r_attribute": r_attr,
             "tradeoff/u": summary["mean"], "tradeoff/u_se": summary["se"], "tradeoff/u_folds": float(len(per_fold))}
    return Scored(r, summary["mean"], dict(result.metrics), terms)


# ---------------------------------------------------------------------- search space
def suggest_overrides(trial: optuna.Trial, space: Mapping[str, Any]) -> list[str]:
    """Hydra override strings for one trial, sampled from the YAML search space."""
    out = []
    for key, spec in space.items():
        kind = spec.get("type", "categorical")
        if kind == "categorical":
            choices = list(spec["choices"])
            value = trial.suggest_categorical(key, [_plain(c) for c in choices])
        elif kind == "int":
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                                      step=int(spec.get("step", 1)))
        elif kind == "float":
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
        else:
            raise ConfigError(f"search space '{key}': unknown type '{kind}' (categorical, int or float)")
        text = "null" if value is None else str(value)
        out.append(f"{spec.get('prefix', '')}{key}={text}")
    return out


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


def open_study(cfg: DictConfig) -> optuna.Study:
    s = cfg.study
    mode = str(s.mode)
    if mode not in MODES:
        raise ConfigError(f"study.mode must be one of {', '.join(MODES)}, got '{mode}'")
    directions: list[Literal["minimize", "maximize"]] = ["minimize", "maximize"] if mode == "multi" else ["minimize"]
    study = optuna.create_study(
        study_name=str(s.name),
        storage=make_storage(s, Path(str(cfg.paths.root))),
        sampler=make_sampler(s, mode),
        directions=directions,
        load_if_exists=True,
    )
    names = {"multi": ["R", "U"], "constrained": ["R"], "lambda": ["lambda_R_minus_1_minus_lambda_U"]}[mode]
    if study.metric_names != names:
        study.set_metric_names(names)
    stored = study.user_attrs.get("mode")
    if stored and stored != mode:
        raise ConfigError(f"study '{s.name}' was created in mode '{stored}', not '{mode}'; use another study.name")
    return study


# ---------------------------------------------------------------------- workers
ORPHAN_S = 60.0  # a RUNNING trial still without an owner after this long lost its worker before the first write


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_local_trials(study: optuna.Study, now: datetime.datetime | None = None) -> int:
    """RUNNING trials whose worker on this host has died: failed and re-enqueued (resume after a kill).

    Also a RUNNING trial that has carried no owner for ``ORPHAN_S``: its worker was killed between
    Optuna creating the trial and the objective's first write (milliseconds for a live worker).
    """
    host = socket.gethostname()
    now = now or datetime.datetime.now()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(t.user_attrs.get("owner", ""))
        h, _, pid = owner.rpartition(":")
        orphan = not owner and t.datetime_start is not None and (now - t.datetime_start).total_seconds() > ORPHAN_S
        if orphan or (h == host and pid.isdigit() and not _alive(int(pid))):
            study._storage.set_trial_user_attr(t._trial_id, "stale", True)
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            n += 1
    return n


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: all but those failed as stale and retried, and pruned duplicates."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials} | {t.user_attrs.get("retry_of") for t in trials}
    return sum(
        1 for t in trials
        if not (t.state == TrialState.FAIL and (t.user_attrs.get("stale") or t.number in retried))
        and t.user_attrs.get("duplicate_of") is None
    )


@contextmanager
def server_lock(study: DictConfig) -> Iterator[None]:
    """Serialises a check-then-create among workers sharing a PostgreSQL storage (an advisory lock).

    File storages are serialised by :class:`Gate`; other storages get no lock.
    """
    url = str(study.storage)
    if not url.startswith("postgresql"):
        yield
        return
    key = zlib.crc32(f"privhealth.study:{study.name}".encode())  # fits PostgreSQL's bigint key
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as con:  # the lock is released when this transaction ends
            con.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield
    finally:
        engine.dispose()


def parent_run(cfg: DictConfig, study: optuna.Study) -> str:
    """The study's MLflow parent run (created once, remembered in the study)."""
    with server_lock(cfg.study):  # two workers on a database server would both create one
        return _parent_run(cfg, study)


def _parent_run(cfg: DictConfig, study: optuna.Study) -> str:
    rid = study.user_attrs.get("mlflow_parent_run_id")
    if rid:
        reown_run(str(cfg.tracking.uri), str(rid))
        return str(rid)
    uri = str(cfg.tracking.uri)
    exp_id = ensure_experiment(uri, str(cfg.tracking.experiment), cfg.tracking.get("artifact_root"))
    run = MlflowClient(uri).create_run(
        exp_id,
        run_name=f"study-{cfg.study.name}",
        tags={
            "privhealth.kind": "study",
            "privhealth.study": str(cfg.study.name),
            "privhealth.sweep_id": str(cfg.study.name),
            "privhealth.mode": str(cfg.study.mode),
            "privhealth.git_commit": git_commit(),
            **process_tags(),
        },
    )
    study.set_user_attr("mlflow_parent_run_id", run.info.run_id)
    study.set_user_attr("mode", str(cfg.study.mode))
    return run.info.run_id


def log_terms(cfg: DictConfig, run_ids: Sequence[str], terms: Mapping[str, float]) -> None:
    """R, its terms, U and U's SE into the trial's MLflow run(s) (``tradeoff/*``)."""
    client = MlflowClient(str(cfg.tracking.uri))
    for rid in run_ids:
        for k, v in terms.items():
            if math.isfinite(v):
                client.log_metric(rid, k, float(v))


def compose_trial(base: Sequence[str], trial_overrides: Sequence[str]) -> DictConfig:
    """The experiment config of one trial: the command line's overrides, then the trial's."""
    return compose("tradeoff", overrides=[*base, *trial_overrides])


def work(cfg: DictConfig, base_overrides: Sequence[str]) -> int:
    """One worker: runs trials until the study holds ``study.n_trials``; returns how many it ran."""
    gate = Gate(cfg.study)
    gate.acquire()  # workers starting together would race to create the store's schema
    try:
        study = open_study(cfg)
    finally:
        gate.release()
    mode = str(cfg.study.mode)
    ran = 0
    gate.acquire()
    try:
        parent = parent_run(cfg, study)
    finally:
        gate.release()
    space = cast(Mapping[str, Any], OmegaConf.to_container(cfg.search, resolve=True) or {})
    if not space:
        raise ConfigError("the search space is empty (choose one with search=…)")

    last: dict[str, bool] = {}

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        trial.set_user_attr("owner", _owner())
        overrides = suggest_overrides(trial, space)
        same = None if "retry_of" in trial.user_attrs else duplicate_of(study, trial.number, trial.params)
        if same is not None:  # checked under the gate: no other worker samples meanwhile
            trial.set_user_attr("duplicate_of", same)
            last["duplicate"] = True
            raise optuna.TrialPruned(f"parameters of trial {same}")
        gate.release()  # the trial is RUNNING with its parameters: other workers may start theirs
        trial.set_user_attr("overrides", overrides)
        tcfg = compose_trial(base_overrides, overrides)
        sweep = {"parent_run_id": parent, "trial": trial.number, "study": str(cfg.study.name),
                 "sweep_id": str(cfg.study.name), "swept": list(space)}  # run names show the sampled values
        result = run_pipeline(tcfg, sweep=sweep)
        s = score(result, cfg.objective)
        trial.set_user_attr("R", s.risk)
        trial.set_user_attr("U", s.utility)
        trial.set_user_attr("run_id", result.run_ids[0])
        log_terms(tcfg, result.run_ids, s.terms)
        for k, v in s.terms.items():
            trial.set_user_attr(k, v if math.isfinite(v) else None)
        for k in ("privacy/k", "privacy/suppressed_fraction", "utility/arx_loss"):
            if k in s.metrics:
                trial.set_user_attr(k, s.metrics[k])
        if math.isnan(s.utility):
            raise ConfigError("utility is undefined for this trial (non-finite model metric)")
        if mode == "multi":
            return s.risk, s.utility
        if mode == "constrained":
            trial.set_user_attr("constraint", [float(cfg.study.tau) - s.utility])
            return s.risk
        lam = float(cfg.study.lam)
        return lam * s.risk - (1 - lam) * s.utility

    duplicates = 0  # in a row: the space may be exhausted
    while duplicates < MAX_DUPLICATES:
        gate.acquire()
        try:
            fail_dead_local_trials(study)
            if counted_trials(study) >= int(cfg.study.n_trials):
                break
            last.clear()
            study.optimize(objective, n_trials=1, catch=(PrivHealthError,), gc_after_trial=True)
            duplicates = duplicates + 1 if last.get("duplicate") else 0
            ran += not last.get("duplicate")
        finally:
            gate.release()
    else:
        log.warning("stopping: %d sampled parameter sets in a row were already tried (search space exhausted?)",
                    MAX_DUPLICATES)
    return ran


# ---------------------------------------------------------------------- results
def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Completed trials with their parameters, R, U and MLflow run."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "R" not in t.user_attrs:
            continue
        rows.append({"trial": t.number, "R": t.user_attrs["R"], "U": t.user_attrs["U"],
                     "run_id": t.user_attrs.get("run_id"), **{f"param:{k}": v for k, v in t.params.items()},
                     **{k: v for k, v in t.user_attrs.items() if "/" in k}})
    return pd.DataFrame(rows)


def pareto_front(df: pd.DataFrame) -> pd.DataFrame:
    """Non-dominated trials for (minimise R, maximise U)."""
    if df.empty:
        return df
    r, u = df["R"].to_numpy(), df["U"].to_numpy()
    dominated = ((r[None, :] <= r[:, None]) & (u[None, :] >= u[:, None]) &
                 ((r[None, :] < r[:, None]) | (u[None, :] > u[:, None]))).any(axis=1)
    return df.loc[~dominated].sort_values(["R", "U"]).reset_index(drop=True)


def lambda_table(front: pd.DataFrame, lambdas: Sequence[float]) -> pd.DataFrame:
    """For each λ, the trial minimising λR − (1−λ)U (it always lies on the Pareto front)."""
    rows = []
    for lam in lambdas:
        if front.empty:
            break
        obj = lam * front["R"] - (1 - lam) * front["U"]
        best = front.loc[obj.idxmin()]
        rows.append({"lambda": float(lam), "objective": float(obj.min()), **best.to_dict()})
    return pd.DataFrame(rows)


def report(cfg: DictConfig, study: optuna.Study) -> dict[str, pd.DataFrame]:
    """Write the trade-off tables and frontier under reports/tradeoff/<study>/ and into MLflow."""
    from privhealth.experiments.tradeoff_report import write_report

    df = trials_frame(study)
    front = pareto_front(df)
    lam = lambda_table(front, [float(x) for x in cfg.study.lambdas])
    constrained = None
    if str(cfg.study.mode) == "constrained" and not df.empty:
        feasible = df[df["U"] >= float(cfg.study.tau)]
        constrained = feasible.sort_values(["R", "U"], ascending=[True, False]).head(1)
    out = Path(str(cfg.paths.reports)) / "tradeoff" / str(cfg.study.name)
    write_report(cfg, df, front, lam, constrained, out, study.user_attrs.get("mlflow_parent_run_id"))
    return {"trials": df, "front": front, "lambda": lam}


# ---------------------------------------------------------------------- entry point
def cli_overrides() -> list[str]:
    """The command line's overrides meant for each trial's experiment config."""
    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.lstrip("+~").startswith(STUDY_KEYS)]


def spawn_workers(n: int) -> list[subprocess.Popen]:
    """n extra worker processes running this same command (they share the study)."""
    args = [a for a in sys.argv[1:] if not a.startswith(("study.workers=", "study.report="))]
    cmd = [sys.executable, "-m", "privhealth.experiments.tradeoff", *args, "study.workers=1", "study.report=false"]
    return [subprocess.Popen(cmd) for _ in range(n)]


def main() -> None:
    """Entry point: refuse credentials and bad settings (exit 2) before Hydra writes anything, then run."""
    precheck(sys.argv[1:], CONF_DIR, "tradeoff", check_settings)
    hydra_main()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="tradeoff")
def hydra_main(cfg: DictConfig) -> None:
    """Run (or resume) the study, then print and write its Pareto front and λ table."""
    install_signal_handlers()
    workers = spawn_workers(int(cfg.study.workers) - 1) if int(cfg.study.workers) > 1 else []
    try:
        ran = work(cfg, cli_overrides())
    except PrivHealthError as exc:
        log.error("%s", exc)
        sys.exit(2)
    except BaseException:  # a signal: the helpers stop too, ending their trials' runs KILLED
        interrupt_taken()
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(60)
        raise
    codes = [w.wait() for w in workers]
    log.info("this worker ran %d trial(s); %d helper worker(s) exited with %s", ran, len(workers), codes)
    if cfg.study.get("report", True):
        tables = report(cfg, open_study(cfg))
        from privhealth.experiments.tradeoff_report import print_tables

        print_tables(cfg, tables)


if __name__ == "__main__":
    main()
