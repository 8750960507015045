"""Run names and one-line descriptions that tell the runs of a sweep apart.

A name carries the anonymization, the privacy settings it enforces, any other value the
sweep varies, and the model: ``optimal·k5·l2·t0.2·rf``, ``paper_rules·rf``,
``optimal·k5·seed7·xgboost``. The description (MLflow's ``mlflow.note.content``) says in
one line what was released and what was trained.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

SEP = "·"
ENFORCED = ("k", "l", "t")  # what an enforcing anonymizer (anon.method: optimal, mondrian) guarantees
NOTE_TAG = "mlflow.note.content"


def _value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def enforced_settings(anon: Mapping[str, Any]) -> dict[str, Any]:
    """The k/l/t an anonymizer enforces (only the ``method`` ones do; rule sets judge, not enforce)."""
    if not anon.get("method"):
        return {}
    return {k: anon[k] for k in ENFORCED if anon.get(k) is not None}


def swept_label(key: str, value: Any) -> str:
    """``anon.suppression=0.05`` → ``suppression0.05``; ``seed=7`` → ``seed7``."""
    return f"{key.rsplit('.', 1)[-1]}{_value(value)}"


def _already_named(key: str, anon: Mapping[str, Any]) -> bool:
    """Keys the name shows anyway: the anonymization and model choices, and the enforced k/l/t."""
    if key in ("anon", "model", "experiment") or key.startswith(("hydra", "paths.", "tracking.")):
        return True
    return key.startswith("anon.") and key[len("anon."):] in ENFORCED


def _anon_dict(cfg: DictConfig) -> dict[Any, Any]:
    anon = OmegaConf.to_container(cfg.anon, resolve=True)
    assert isinstance(anon, dict)
    return anon


def run_name(cfg: DictConfig, anon_name: str, model: str | None, swept: Iterable[str] = ()) -> str:
    """``<anon>[·k5·l2·t0.2][·<swept values>][·<model>]`` for the job's config."""
    anon = {str(k): v for k, v in _anon_dict(cfg).items()}
    parts = [anon_name] + [f"{k}{_value(v)}" for k, v in enforced_settings(anon).items()]
    for key in swept:
        if _already_named(key, anon):
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not isinstance(value, DictConfig):
            parts.append(swept_label(key, value))
    if model:
        parts.append(model)
    return SEP.join(parts)


def _data_choice(cfg: DictConfig) -> str:
    """The ``data=`` choice (``simulated``), else the data source's class name."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("data")
        if choice:
            return str(choice)
    return str(OmegaConf.select(cfg, "data._target_", default="data")).rsplit(".", 1)[-1]


def describe(cfg: DictConfig, anon_name: str, models: Sequence[str]) -> str:
    """One line: what was released (method, enforced settings, data) and what was trained how."""
    anon = {str(k): v for k, v in _anon_dict(cfg).items()}
    enforced = enforced_settings(anon)
    data = _data_choice(cfg)
    n = OmegaConf.select(cfg, "data.n_patients", default=None)
    if anon_name == "none":
        release = f"no anonymization of {data}"
    elif enforced:
        supp = anon.get("suppression")
        limit = f", suppressing at most {float(supp):.0%} of patients" if supp is not None else ""
        release = (f"{anon_name} release of {data} enforcing "
                   + ", ".join(f"{k}={_value(v)}" for k, v in enforced.items()) + limit)
    else:
        release = f"{anon_name} rule set applied to {data} (k, l, t measured, not enforced)"
    if n is not None:
        release += f" ({n} patients)"
    ev = cfg.get("evaluation") or {}
    folds = ev.get("folds")
    how = f"{folds}-fold by patient" if folds else "held-out patients"
    raw = " and on the raw data" if ev.get("train_raw", True) else ""
    what = ", ".join(models) + (" (one child run each)" if len(models) > 1 else "")
    return f"{release}; {what} trained on the release{raw}, {how}, seed {cfg.get('seed')}."
