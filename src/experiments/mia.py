"""Membership inference on every trained model, and the DP training budget, as run metrics.

Members are the patients a model was trained on (its training fold), non-members the held-out
test patients; the same split serves the raw and the anonymized variant of a model, so
``risk/mia_auc`` and ``raw/risk/mia_auc`` compare like with like. For a synthetic release
(``anon=synthetic``, ``anon=dp_synthetic``) the model's training rows are synthetic records, not
patients: the members are then the *real* training-fold patients (whose records the synthesizer
saw) and the non-members the real test patients, both mapped through the release's recipe and
coded as the deploy protocol codes real patients (``real_candidates``; ``risk/mia_members_real``
is 1). The attacks live in
``privhealth.models.membership``; this module picks the candidates, trains LiRA's shadow
models with the target's own config (the attacker knows the training recipe, DP included)
and names the metrics. Settings: ``attack.mia`` (conf/attack/default.yaml, docs/dp.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privhealth.anon.release import Release
from privhealth.errors import ConfigError
from privhealth.experiments.model_factory import instantiate_model
from privhealth.experiments.protocol import Plan, applied, deploy_frame
from privhealth.models.crossval import with_keys
from privhealth.models.evaluation import TaskResult, prepare_inputs
from privhealth.models.features import InputKind, ModelInput
from privhealth.models.membership import (
    evaluate_attack,
    lira_scores,
    logit_confidence,
    loss_scores,
    shadow_assignment,
)

CODE = ("models/membership.py", "models/dp.py", "models/dp_tabular.py", "experiments/mia.py")
KEYS = ("enabled", "shadow_models", "n_bootstrap", "max_candidates", "fpr")


@dataclass(frozen=True)
class MIASettings:
    """``attack.mia``: on/off, LiRA shadows (0: loss attack only), bootstrap, candidate cap."""

    enabled: bool = True
    shadow_models: int = 0
    n_bootstrap: int = 200
    max_candidates: int | None = 5000  # per side (members, non-members); None: all
    fpr: float = 0.01

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> MIASettings:
        m = dict(m or {})
        unknown = sorted(set(m) - set(KEYS))
        if unknown:
            raise ConfigError(f"attack.mia: unknown setting(s) {unknown}; known: {list(KEYS)}")
        s = cls(**m)
        if not isinstance(s.enabled, bool):
            raise ConfigError(f"attack.mia.enabled must be true or false (got {s.enabled!r})")
        for name, low in (("shadow_models", 0), ("n_bootstrap", 0)):
            v = getattr(s, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"attack.mia.{name} must be an integer >= {low} (got {v!r})")
        if s.shadow_models == 1:
            raise ConfigError("attack.mia.shadow_models must be 0 (no LiRA) or at least 2 (got 1)")
        mc = s.max_candidates
        if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < 2):
            raise ConfigError(f"attack.mia.max_candidates must be null or an integer >= 2 (got {mc!r})")
        if not isinstance(s.fpr, int | float) or not 0 < s.fpr < 1:
            raise ConfigError(f"attack.mia.fpr must be in (0, 1) (got {s.fpr!r})")
        return s


def settings_of(cfg: Any) -> MIASettings:
    """The MIA settings of a job config (off when there is no ``attack`` group)."""
    attack = cfg.get("attack") if hasattr(cfg, "get") else None
    if attack is None:
        return MIASettings(enabled=False)
    from omegaconf import OmegaConf

    mia = attack.get("mia")
    plain = None if mia is None else OmegaConf.to_container(mia, resolve=True)
    return MIASettings.from_mapping({str(k): v for k, v in plain.items()} if isinstance(plain, dict) else None)


def subset(data: ModelInput, idx: np.ndarray) -> ModelInput:
    """The patients at ``idx`` of ``data``."""
    lengths = None if data.lengths is None else data.lengths[idx]
    return ModelInput(data.X[idx], data.y[idx], data.feature_names, data.kind, lengths)


def concat(a: ModelInput, b: ModelInput) -> ModelInput:
    """``a``'s patients then ``b``'s (same features and sequence length)."""
    if a.X.shape[1:] != b.X.shape[1:]:
        raise ValueError("members and non-members have different input shapes")
    lengths = None if a.lengths is None or b.lengths is None else np.concatenate([a.lengths, b.lengths])
    return ModelInput(np.concatenate([a.X, b.X]), np.concatenate([a.y, b.y]), a.feature_names, a.kind, lengths)


def is_synthetic(release: Release) -> bool:
    """Whether the release's rows are synthetic records rather than (transformed) patients."""
    return "synthetic" in release.details


def real_candidates(
    plan: Plan, release: Release, task: Mapping[str, Any] | None, kind: InputKind
) -> tuple[ModelInput, ModelInput]:
    """Fold 0's real training patients (members) and real test patients (non-members), mapped
    through ``release``'s recipe and coded by the feature pipeline the model was fitted with
    (fitted on the release's training rows, as in ``cross_validate``): the deploy protocol's coding."""
    schema, entity = release.schema, release.schema.entity or ""
    folds = plan.splits[0]
    data = prepare_inputs(with_keys(deploy_frame(plan, release, 0), entity, plan.keys), schema, folds, task, kind)
    real = plan.dataset.frame.loc[(folds == "train").to_numpy()]
    mapped = with_keys(applied(release, real)[list(release.frame.columns)], entity, plan.keys)
    return data.pipeline.transform(mapped, kind), data.test


def candidates(
    result: TaskResult, settings: MIASettings, seed: int, real: tuple[ModelInput, ModelInput] | None = None
) -> tuple[ModelInput, int] | None:
    """Members then non-members (each capped at ``max_candidates``), and the member count.
    ``real``: the (members, non-members) to use instead of the model's own training and test inputs."""
    members, others = real if real is not None else (result.train_input, result.test_input)
    if members is None or others is None or len(members) == 0 or len(others) == 0:
        return None
    rng = np.random.default_rng(seed)
    cap = settings.max_candidates

    def cut(d: ModelInput) -> ModelInput:
        if cap is None or len(d) <= cap:
            return d
        return subset(d, np.sort(rng.choice(len(d), cap, replace=False)))

    members, others = cut(members), cut(others)
    return concat(members, others), len(members)


def attack_model(
    result: TaskResult, mcfg: Mapping[str, Any] | None, settings: MIASettings, seed: int,
    real: tuple[ModelInput, ModelInput] | None = None,
) -> dict[str, float]:
    """``mia_*`` metrics (no prefix) of the loss attack and, with shadows, LiRA on ``result.model``."""
    model = result.model
    picked = candidates(result, settings, seed, real)
    if model is None or picked is None:
        return {}
    pool, n_in = picked
    p = model.predict_proba(pool)
    kw = {"fpr": settings.fpr, "n_bootstrap": settings.n_bootstrap, "seed": seed}
    s = loss_scores(p, pool.y)
    out = evaluate_attack(s[:n_in], s[n_in:], **kw).metrics("mia_")
    out["mia_members"], out["mia_nonmembers"] = float(n_in), float(len(pool) - n_in)
    out["mia_members_real"] = float(real is not None)
    if settings.shadow_models >= 2 and mcfg is not None:
        k = settings.shadow_models
        inside = shadow_assignment(len(pool), k, seed)
        phi = np.empty((k, len(pool)))
        for j in range(k):  # one model fit per shadow: the loop is over models, not rows
            shadow = instantiate_model(mcfg)
            idx_in, idx_out = np.flatnonzero(inside[j]), np.flatnonzero(~inside[j])
            shadow.fit(subset(pool, idx_in), subset(pool, idx_out), seed=seed + 1 + j)
            phi[j] = logit_confidence(shadow.predict_proba(pool), pool.y)
        lira = lira_scores(logit_confidence(p, pool.y), phi, inside)
        out |= evaluate_attack(lira[:n_in], lira[n_in:], **kw).metrics("mia_lira_")
    return out


def model_metrics(
    result: TaskResult | None, mcfg: Mapping[str, Any] | None, settings: MIASettings, seed: int,
    prefix: str = "", real: Any = None,
) -> dict[str, float]:
    """``{prefix}risk/mia_*`` and ``{prefix}privacy/train_*`` of one fitted model (empty when
    the result carries no fitted model, e.g. read back from the raw-result cache). ``real``: a
    callable giving ``real_candidates`` (called only when the attack runs)."""
    if result is None or result.model is None:
        return {}
    out: dict[str, float] = {}
    spent = getattr(result.model, "privacy_spent", None)
    if spent is not None:
        out |= {f"{prefix}{k}": v for k, v in spent.metrics().items()}
    if settings.enabled:
        out |= {f"{prefix}risk/{k}": v for k, v in attack_model(result, mcfg, settings, seed, real() if real else None).items()}
    return {k: v for k, v in out.items() if v is not None and math.isfinite(v)}


def cached_raw_metrics(root: Path, key: str, enabled: bool, compute: Any) -> dict[str, float]:
    """The raw model's extra metrics, stored beside the raw-result cache under the same key
    (a cached raw result has no fitted model to attack again)."""
    import json

    from privhealth.experiments.cache import json_entry

    if not enabled:
        return dict(compute())
    value, _ = json_entry(root, key, lambda text: dict(json.loads(text)), compute, json.dumps)
    return {str(k): float(v) for k, v in value.items()}
