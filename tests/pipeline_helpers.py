"""Helpers to compose the experiment config for tests (small cohort, temp store, temp key)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
FAST = [
    "data.n_patients=300",
    "evaluation.n_bootstrap=200",
    "evaluation.folds=2",
    "model.rf.n_estimators=50",
    "model.rf.n_jobs=1",
    "model.xgboost.n_estimators=60",
    "model.xgboost.n_jobs=1",
    # anonymeter (numba compile + a second anonymization per run) is tested in test_anonymeter.py
    # and by the fast=False pipeline tests
    "attack.anonymeter.enabled=false",
]


def compose_cfg(root: Path, overrides: list[str] | None = None, fast: bool = True) -> DictConfig:
    """The root config with paths under ``root`` (store, cache, key)."""
    dropped = tuple(o[1:].split("=")[0] + "." for o in overrides or [] if o.startswith("~"))
    fast_ov = [o for o in FAST if not o.startswith(dropped)] if fast and dropped else FAST if fast else []
    ov = [f"paths.root={root}", *fast_ov, *(overrides or [])]  # no fast setting under a group a test removes
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=ov)


def write_key(root: Path) -> Path:
    key = root / ".secrets" / "pseudonym.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("test-key-0123456789abcdef0123456789")
    return key
