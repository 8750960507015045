"""The experiment: load → split → anonymize → measure privacy → train on raw and released → log.

One call of ``run_pipeline`` is one Hydra job. It logs one MLflow run per model (each
holding the release's privacy metrics and the model's raw and released scores), nested
under the sweep's parent run in a multirun, or under an invocation run when one job
trains several models. Stages are timed; the anonymized release is cached by a
fingerprint of (input data, anonymization config, key, seed, anonymizer code), and its
risk assessment by that plus the attack config and attack code, so a grid that varies only
the model anonymizes and attacks each release once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from privhealth.anon.attacks import RiskReport, assess_release
from privhealth.anon.privacy import PrivacyReport, measure
from privhealth.anon.release import NoAnonymization, Release
from privhealth.anon.transforms import DEFAULT_KEY_ENV, load_key
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError, PrivHealthError, SchemaError, SecretError
from privhealth.experiments import artifacts, mia, naming
from privhealth.experiments.anon_settings import effective_settings
from privhealth.experiments.anonymeter_risk import anonymeter_metrics
from privhealth.experiments.anonymeter_risk import settings_of as anonymeter_settings
from privhealth.experiments.cache import (
    ANON_CODE,
    RISK_CODE,
    CachedRisk,
    ReleaseCache,
    ResultCache,
    RiskCache,
    cache_usable,
    code_fingerprint,
    config_fingerprint,
    dataset_fingerprint,
)
from privhealth.experiments.ceiling import ceiling_metrics
from privhealth.experiments.mlflow_native import log_clinical_model, log_datasets
from privhealth.experiments.model_factory import instantiate_model
from privhealth.experiments.progress import StageTimer, bar
from privhealth.experiments.protocol import (
    DELTA_PREFIX,
    PREFIX,
    Plan,
    Settings,
    frames_for,
    make_plan,
    train_patients,
)
from privhealth.experiments.results import ModelOutcome, PipelineResult
from privhealth.experiments.settings import check_settings
from privhealth.experiments.tracking import (
    ensure_experiment,
    git_commit,
    log_params_batched,
    redact_config,
    safe_params,
    start_run,
)
from privhealth.models.crossval import cross_validate
from privhealth.models.evaluation import TaskResult
from privhealth.models.paired import paired_deltas

log = logging.getLogger(__name__)
CACHE_VERSION = "1"


def paired_metrics(anon: TaskResult, raw: TaskResult, prefix: str, seed: int) -> dict[str, float]:
    """``<prefix>auroc``/``f1`` (anonymized − raw on the same patients), CI and p-value."""
    if anon.patient_keys is None or raw.patient_keys is None or not np.array_equal(anon.patient_keys, raw.patient_keys):
        raise PrivHealthError("raw and anonymized models were not scored on the same test patients")
    d = paired_deltas(anon.y_true, anon.y_prob, _thresholds(anon), raw.y_prob, _thresholds(raw),
                      n_resamples=anon.n_bootstrap, level=anon.ci_level, seed=seed)
    out = {}
    for m, v in d.items():
        out[f"{prefix}{m}"] = v["delta"]
        out[f"{prefix}{m}_ci_lo"], out[f"{prefix}{m}_ci_hi"] = v["ci_lo"], v["ci_hi"]
        out[f"{prefix}{m}_p"] = v["p"]
    return out


def _thresholds(r: TaskResult) -> float | np.ndarray:
    return r.threshold if r.thresholds is None else r.thresholds




# ---------------------------------------------------------------------- stages
def load_dataset(cfg: DictConfig) -> Dataset:
    """Instantiate the configured data source; it must yield a Dataset with entity and target."""
    ds = instantiate(cfg.data, _convert_="all")
    if not isinstance(ds, Dataset):
        raise ConfigError(f"data config '{cfg.data.get('_target_')}' did not return a Dataset")
    if ds.schema.entity is None:
        raise SchemaError(f"dataset '{ds.name}' declares no entity (patient/stay id) column")
    if ds.schema.target is None:
        raise SchemaError(f"dataset '{ds.name}' declares no target column")
    return ds


def privacy_columns(cfg: DictConfig, schema_like: Any) -> tuple[list[str], list[str]]:
    """Quasi-identifiers and sensitive attributes measured on the release."""
    pc = cfg.privacy
    quasi = list(pc.quasi) if pc.get("quasi") else list(schema_like.quasi)
    sensitive = list(pc.sensitive) if pc.get("sensitive") else list(schema_like.sensitive)
    target = schema_like.target
    if pc.get("target_is_sensitive", True) and target and target not in sensitive:
        sensitive.append(target)
    both = sorted(set(quasi) & set(sensitive))
    if both:
        raise ConfigError(f"attribute(s) {both} are declared both quasi-identifier and sensitive")
    return quasi, sensitive


def key_fingerprint(cfg: DictConfig) -> str:
    """A one-way fingerprint of the pseudonymization key (so cached releases follow key changes)."""
    try:
        key = load_key(DEFAULT_KEY_ENV, cfg.paths.get("key_file"))
    except SecretError:
        return "no-key"
    return hashlib.sha256(b"privhealth-cache-v1\x00" + key).hexdigest()[:16]


def make_anonymizer(cfg: DictConfig) -> Any:
    """Instantiate the configured anonymizer (validates its settings before anything is written)."""
    anonymizer = instantiate(cfg.anon, _convert_="all")
    if not hasattr(anonymizer, "anonymize"):
        raise ConfigError(f"anon config '{cfg.anon.get('_target_')}' is not an anonymizer")
    return anonymizer


def anonymize(
    cfg: DictConfig, dataset: Dataset, cache: ReleaseCache, anonymizer: Any
) -> tuple[Release, bool, str]:
    """The release for this job: from the cache, or computed and cached."""
    anon_cfg = effective_settings(OmegaConf.to_container(cfg.anon, resolve=True))  # no-op settings: same key
    key = config_fingerprint(
        CACHE_VERSION, dataset_fingerprint(dataset), anon_cfg, int(cfg.seed), key_fingerprint(cfg),
        code_fingerprint(ANON_CODE),
    )
    release, hit = cache.get_or_compute(key, lambda: anonymizer.anonymize(dataset))
    return release, hit, key


def assess(
    cfg: DictConfig, dataset: Dataset, release: Release, release_key: str, cache: RiskCache
) -> tuple[RiskReport | CachedRisk, bool]:
    """The release's risk assessment: from the cache (same release, attack config and code), or run."""
    attack_cfg = OmegaConf.to_container(cfg.attack, resolve=True)
    assert isinstance(attack_cfg, dict)
    attack_cfg.pop("mia", None)  # membership inference attacks the models, not the release (mia.py)
    attack_cfg.pop("anonymeter", None)  # anonymeter needs a held-out control set (anonymeter_risk.py)
    key = config_fingerprint(CACHE_VERSION, "risk", release_key, attack_cfg, code_fingerprint(RISK_CODE))
    return cache.get_or_compute(key, lambda: assess_release(dataset, release, None, attack_cfg))


def measure_release(cfg: DictConfig, release: Release) -> PrivacyReport:
    quasi, sensitive = privacy_columns(cfg, release.schema)
    missing = [c for c in quasi + sensitive if c not in release.frame.columns]
    if missing:
        raise SchemaError(f"the release lacks measured column(s) {missing}")
    return measure(
        release.frame,
        quasi,
        sensitive,
        entity=release.schema.entity,
        c=cfg.privacy.get("recursive_c"),
        distance=cfg.privacy.get("t_distance"),
    )


def privacy_metrics(report: PrivacyReport, release: Release) -> dict[str, float]:
    """The ``privacy/*`` family logged to MLflow (None values are left out)."""
    values = {
        "privacy/k": report.k,
        "privacy/l_distinct": report.l_distinct,
        "privacy/l_entropy": report.l_entropy,
        "privacy/l_recursive": report.l_recursive,
        "privacy/t_emd": report.t_emd,
        "privacy/t_kl": report.t_kl,
        "privacy/n_classes": report.n_classes,
        "privacy/n_entities": report.n_entities,
        "privacy/suppressed_fraction": release.suppressed_fraction,
    }
    dp = release.details.get("dp") or {}  # a DP release (anon=dp_synthetic): its (ε, δ)
    values["privacy/epsilon"] = dp.get("epsilon")
    values["privacy/delta"] = dp.get("delta")
    util = release.details.get("utility") or {}
    for name, key in UTILITY_METRICS.items():
        if util.get(key) is not None:
            values[name] = util[key]
    return {k: float(v) for k, v in values.items() if v is not None}


UTILITY_METRICS = {
    "utility/ncp": "gcp",
    "utility/discernibility": "discernibility",
    "utility/aecs": "c_avg",
    "utility/arx_loss": "arx_loss",
    "utility/nonuniform_entropy": "nonuniform_entropy",
}


def train_one(
    cfg: DictConfig,
    name: str,
    mcfg: Mapping[str, Any],
    plan: Plan,
    release: Release,
    results: ResultCache,
    data_key: str,
    fold_release: Any = None,
) -> ModelOutcome:
    """One model per asked protocol on the release and (if enabled) on the raw data, same folds and
    test patients; raw results are cached per sweep. With ``anon=none`` the raw model is trained once
    and its result stands for every protocol (logged under ``raw/`` and ``test/``/``deploy/`` alike)."""
    ev = cfg.evaluation
    task = OmegaConf.to_container(cfg.task, resolve=True)
    kwargs = {"seed": int(cfg.seed), "n_bootstrap": int(ev.n_bootstrap), "ci_level": float(ev.ci_level)}
    fixed = {"splits": plan.splits, "reference": plan.reference, "keys": plan.keys, "task": task, **kwargs}
    train_raw = bool(ev.get("train_raw", True))
    identity = train_raw and release.method == NoAnonymization.name  # anon=none: the release is the raw data
    by_protocol = {} if identity else {
        proto: cross_validate(instantiate_model(mcfg), frames_for(proto, plan, release, fold_release), release.schema, **fixed)
        for proto in plan.settings.protocols
    }
    raw = None
    mia_settings, seed = mia.settings_of(cfg), int(cfg.seed)
    first = next(iter(by_protocol.values()), None)
    real = None  # a synthetic release's members: the real training patients (mia.real_candidates)
    if first is not None and first.model is not None and mia.is_synthetic(release):
        rel0 = fold_release(0) if fold_release is not None else release
        real = functools.partial(mia.real_candidates, plan, rel0, task, first.model.input_kind)
    extra = {} if identity else mia.model_metrics(first, mcfg, mia_settings, seed, real=real)
    if train_raw:
        key = config_fingerprint(
            CACHE_VERSION, data_key, dict(mcfg), task, list(cfg.split.fractions), kwargs, plan.settings.spec()
        )
        dataset = plan.dataset

        def fit_raw() -> TaskResult:
            return cross_validate(instantiate_model(mcfg), dataset.frame, dataset.schema, **fixed)

        raw, _ = results.get_or_compute(key, fit_raw)
        # a cached raw result has no fitted model: refit once (same seed) to attack it, then cached
        extra_key = config_fingerprint(key, "mia", asdict(mia_settings), code_fingerprint(mia.CODE))
        extra |= mia.cached_raw_metrics(
            results.root.parent / "raw_model_risk", extra_key, results.enabled,
            lambda: mia.model_metrics(raw if raw.model is not None else fit_raw(), mcfg,
                                      mia_settings, seed, prefix="raw/"),
        )
    if identity:  # trained once: the raw model's result is every protocol's (Release.apply is the identity)
        by_protocol = dict.fromkeys(plan.settings.protocols, raw)
        extra |= {k.removeprefix("raw/"): v for k, v in extra.items() if k.startswith("raw/")}
    outcome = ModelOutcome(name, next(iter(by_protocol.values())), raw, protocols=by_protocol, risk=extra)
    if raw is not None:
        for proto, res in by_protocol.items():
            outcome.deltas.update(paired_metrics(res, raw, DELTA_PREFIX[proto], int(cfg.seed)))
    return outcome


def models_of(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """``cfg.model`` holds one entry per selected model (``model=[rf,xgboost]``)."""
    models = OmegaConf.to_container(cfg.model, resolve=True) if cfg.get("model") else {}
    if not models:
        raise ConfigError("no model selected (choose e.g. model=rf or model=[rf,xgboost])")
    bad = [k for k, v in models.items() if not isinstance(v, Mapping) or "_target_" not in v]
    if bad:
        raise ConfigError(f"model config entries {bad} lack a '_target_'")
    return models  # type: ignore[return-value]


# ---------------------------------------------------------------------- the job
def validate_job(cfg: DictConfig) -> tuple[dict[str, dict[str, Any]], Any]:
    """Check every setting and build the models and anonymizer, touching no store, run or cache."""
    check_settings(cfg)
    models = models_of(cfg)
    for mcfg in models.values():
        instantiate_model(mcfg)
    Settings.from_cfg(cfg.evaluation)
    anonymeter_settings(cfg)  # attack.anonymeter: a bad setting is refused before any run opens
    return models, make_anonymizer(cfg)


def run_pipeline(cfg: DictConfig, sweep: Mapping[str, Any] | None = None) -> PipelineResult:
    """Run one experiment job, logging as it goes; a stage that raises leaves its run FAILED.

    A job with one model logs one run; a job with several logs an invocation run (params,
    privacy and risk metrics, release artifacts) with one child run per model. In a
    sweep, the job's run is a child of the sweep's parent run.
    """
    timer = StageTimer()
    # settings are validated before anything is written: a bad config leaves no run, no cache entry
    models, anonymizer = validate_job(cfg)
    uri = str(cfg.tracking.uri)
    exp_id = ensure_experiment(uri, str(cfg.tracking.experiment), cfg.tracking.get("artifact_root"))
    cache_root = Path(str(cfg.paths.cache))
    use_cache = bool(cfg.cache.enabled) and cache_usable(cache_root)  # read-only: run uncached, with a warning
    releases = ReleaseCache(cache_root / "releases", enabled=use_cache)
    raw_results = ResultCache(cache_root / "raw_results", enabled=use_cache)
    risks = RiskCache(cache_root / "risk", enabled=use_cache)
    single = len(models) == 1
    full_cfg = redact_config(OmegaConf.to_container(cfg, resolve=True))
    anon_name = str(cfg.anon.get("name") or str(cfg.anon.get("_target_", "anon")).rsplit(".", 1)[-1])
    tags = job_tags(cfg, anon_name, sweep)
    only = next(iter(models)) if single else None
    swept = list((sweep or {}).get("swept") or [])
    job_name = cfg.get("run_name") or naming.run_name(cfg, anon_name, only, swept)
    job_tags_ = {**tags, "privhealth.kind": "run" if single else "invocation",
                 naming.NOTE_TAG: naming.describe(cfg, anon_name, list(models))}
    if only:
        job_tags_["privhealth.model"] = only

    system_metrics(cfg)
    with start_run(uri, exp_id, run_name=job_name, tags=job_tags_, parent_run_id=(sweep or {}).get("parent_run_id")) as job:
        log_params_batched(safe_params(full_cfg))
        with timer("load", "data"):
            dataset = load_dataset(cfg)
        data_key = dataset_fingerprint(dataset)
        mlflow.set_tags({"privhealth.dataset": dataset.name, "privhealth.dataset_fingerprint": data_key[:16]})
        with timer("split"):
            plan = make_plan(cfg, dataset)
            dataset = plan.dataset  # with the fresh test cohort appended, when asked
        with timer("anonymize", anon_name):
            release, hit, release_key = anonymize(cfg, dataset, releases, anonymizer)
        mlflow.set_tag("privhealth.release_fingerprint", release_key[:16])
        fold_release = None
        if plan.settings.scope == "train":  # inductive: per fold, a release of the non-test patients

            @functools.cache
            def fold_release(f: int) -> Release:
                with timer("anonymize_folds"):
                    return anonymize(cfg, train_patients(plan, f), releases, anonymizer)[0]
        with timer("measure"):
            report = measure_release(cfg, release)
        metrics = privacy_metrics(report, release)
        metrics.update(ceiling_metrics(cfg))  # task/bayes_*: the simulated cohort's oracle ceiling
        risk, risk_hit = None, False
        if cfg.get("attack") is not None:
            with timer("attack"):
                risk, risk_hit = assess(cfg, dataset, release, release_key, risks)
            metrics.update(risk.metrics())
            metrics["cache/risk_hit"] = float(risk_hit)
            with timer("anonymeter"):
                metrics.update(anonymeter_metrics(
                    cfg, plan, lambda d: anonymize(cfg, d, releases, anonymizer), cache_root / "anonymeter",
                    use_cache))
        metrics["cache/release_hit"] = float(hit)
        mlflow.log_metrics(finite(metrics))
        result = PipelineResult(dataset.name, release, report, metrics, [], timer.seconds, cache_hit=hit,
                                risk=risk, risk_hit=risk_hit)
        with timer("log", "release"):
            log_datasets(cfg, dataset, data_key, release, release_key)
            artifacts.log_release_artifacts(result, full_cfg)
            artifacts.export_release(result, cfg, job.info.run_id, (sweep or {}).get("trial"))  # release/ (export.py)
        result.run_ids.append(job.info.run_id)

        timing = cfg.evaluation.get("inference_timing")  # Fig. 8 (artifacts.log_inference_timing)
        for name, mcfg in bar(models.items(), "training", len(models)):
            with timer(f"train_{name}", f"model {name}"):
                outcome = train_one(cfg, name, mcfg, plan, release, raw_results, data_key, fold_release)
            result.models.append(outcome)
            run_cfg = {**full_cfg, "model": {name: full_cfg["model"][name]}}
            if single:
                outcome.run_id = job.info.run_id
                with timer("log", f"model {name}"):
                    log_model_run(outcome, metrics, timer.seconds, timing)
                    log_native_model(cfg, outcome, release)
                continue
            child_tags = {**tags, "privhealth.kind": "run", "privhealth.model": name,
                          "privhealth.dataset": dataset.name, "privhealth.dataset_fingerprint": data_key[:16],
                          "privhealth.release_fingerprint": release_key[:16]}
            child_tags[naming.NOTE_TAG] = naming.describe(cfg, anon_name, [name])
            child_name = naming.run_name(cfg, anon_name, name, swept)
            with start_run(uri, exp_id, run_name=child_name, tags=child_tags, parent_run_id=job.info.run_id) as child:
                outcome.run_id = child.info.run_id
                result.run_ids.append(child.info.run_id)
                with timer("log", f"model {name}"):
                    log_params_batched(safe_params(run_cfg))
                    log_datasets(cfg, dataset, data_key, release, release_key)
                    artifacts.log_release_artifacts(result, run_cfg)
                    log_model_run(outcome, metrics, timer.seconds, timing)
                    log_native_model(cfg, outcome, release)
        result.metrics["cache/raw_result_hits"] = float(raw_results.hits)
        mlflow.log_metrics({f"time/{k}_s": v for k, v in timer.seconds.items()})
    return result


def system_metrics(cfg: DictConfig) -> None:
    """MLflow's system metrics (``system/*``: CPU, memory, disk, GPU) for the runs started next, or not."""
    if cfg.tracking.get("system_metrics", True):
        mlflow.set_system_metrics_sampling_interval(float(cfg.tracking.get("system_metrics_interval", 5)))
        mlflow.enable_system_metrics_logging()
        # its start/stop INFO lines, twice per run, would drown the stage lines on the console
        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    else:
        mlflow.disable_system_metrics_logging()


def log_native_model(cfg: DictConfig, outcome: ModelOutcome, release: Release) -> None:
    """The model trained on the release as the run's MLflow model (``tracking.log_models``)."""
    if cfg.tracking.get("log_models", True):
        log_clinical_model(outcome.anon, released=bool(release.steps))


def finite(metrics: Mapping[str, float | None]) -> dict[str, float]:
    """The metrics MLflow can store: NaN marks 'not measured' or 'undefined' and is left out."""
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def job_tags(cfg: DictConfig, anon_name: str, sweep: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags every run of a job carries: commit, seed, anonymization, sweep id, job/trial number."""
    tags = {
        "privhealth.git_commit": git_commit(),
        "privhealth.seed": str(cfg.seed),
        "privhealth.anon_method": anon_name,
    }
    for key in ("sweep_id", "job_num", "trial", "study", "experiment"):
        if sweep and key in sweep:
            tags[f"privhealth.{key}"] = str(sweep[key])
    return tags


def log_model_run(
    outcome: ModelOutcome,
    shared: Mapping[str, float],
    timings: Mapping[str, float],
    inference_timing: Mapping[str, Any] | None = None,
) -> None:
    """Metrics and artifacts of one model into the active run (``inference_timing``: Fig. 8 sizes)."""
    metrics = dict(shared)
    for proto, res in (outcome.protocols or {"release": outcome.anon}).items():
        metrics.update(res.flat_metrics(PREFIX[proto]))
    if outcome.raw is not None:
        metrics.update(outcome.raw.flat_metrics("raw/"))
    metrics.update(outcome.retained())
    metrics.update(outcome.deltas)
    metrics.update(outcome.risk)
    metrics.update({f"time/{k}_s": v for k, v in timings.items()})
    mlflow.log_metrics(finite(metrics))
    artifacts.log_history(outcome.anon.history)
    artifacts.log_model_artifacts(outcome)
    artifacts.log_inference_timing(outcome, inference_timing)


def dump_summary(result: PipelineResult) -> str:
    """A JSON summary (no data values) for scripts and the Optuna objective."""
    return json.dumps(
        {
            "dataset": result.dataset,
            "release": result.release.describe(),
            "metrics": result.metrics,
            "models": {
                m.name: {"test": m.anon.metrics, "raw": m.raw.metrics if m.raw else None, **m.retained(),
                         **m.deltas}
                for m in result.models
            },
            "timings": result.timings,
        },
        default=str,
        indent=2,
    )


__all__ = ["PipelineResult", "run_pipeline", "PrivHealthError"]
