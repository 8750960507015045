"""Every setting checked (type and range) before a run, store or cache entry exists.

``check_settings`` walks a table of rules over the composed config and raises
``ConfigError`` naming the dotted key, what it must be and what it got; the CLI turns that
into exit status 2. Keys absent from a config (another data source, another anonymizer)
are skipped, so one table serves every group.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from privhealth.data.loaders import check_input_size
from privhealth.data.longtable import LongSpec
from privhealth.errors import ConfigError


def _int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def int_at_least(lo: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _int(v) and v >= lo), f"an integer ≥ {lo}"


def number_in(lo: float, hi: float, open_lo: bool = False) -> tuple[Callable[[Any], bool], str]:
    lo_ok = (lambda v: v > lo) if open_lo else (lambda v: v >= lo)
    return (lambda v: _num(v) and lo_ok(v) and v <= hi), f"a number in {'(' if open_lo else '['}{lo}, {hi}]"


def _fractions(v: Any) -> bool:
    return (isinstance(v, list | tuple) and len(v) == 3 and all(_num(x) and x > 0 for x in v)
            and abs(sum(v) - 1.0) < 1e-6)


def _limits(v: Any) -> bool:
    if isinstance(v, Mapping):
        return all(_int(x) and x >= 1 for x in v.values())
    return _int(v) and v >= 1


# key → (check, what it must be, may it be null)
RULES: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "seed": (*int_at_least(0), False),
    "anon.k": (*int_at_least(1), True),
    "anon.l": (*number_in(1, math.inf), True),
    "anon.c": (*number_in(0, math.inf, open_lo=True), True),
    "anon.t": (*number_in(0, 1), True),
    "anon.suppression": (*number_in(0, 1), False),
    "evaluation.n_bootstrap": (*int_at_least(0), False),
    "evaluation.ci_level": (*number_in(0, 1, open_lo=True), False),
    "split.fractions": (_fractions, "three positive fractions summing to 1", False),
    "data.n_patients": (*int_at_least(1), False),
    "data.max_bytes": (*int_at_least(1), True),
    "data.max_value_chars": (_limits, "an integer ≥ 1 or {column: integer ≥ 1}", True),
    "attack.coverage": (*number_in(0, 1), False),
    "attack.noise": (*number_in(0, 1), False),
    "privacy.recursive_c": (*number_in(0, math.inf, open_lo=True), True),
    "cache.enabled": (lambda v: isinstance(v, bool), "true or false", False),
    "tracking.log_models": (lambda v: isinstance(v, bool), "true or false", False),
    "tracking.system_metrics": (lambda v: isinstance(v, bool), "true or false", False),
    "tracking.system_metrics_interval": (*number_in(0, math.inf, open_lo=True), False),
    "study.n_trials": (*int_at_least(1), False),
    "study.workers": (*int_at_least(1), False),
    "study.startup_trials": (*int_at_least(0), False),
    "study.seed": (*int_at_least(0), True),
    "study.lam": (*number_in(0, 1), False),
    "study.tau": (*number_in(0, 1), False),
}


def _value(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key; a missing mandatory value (???) is an error naming it."""
    parent_key, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
    if not isinstance(node, DictConfig) or leaf not in node:
        return False, None
    try:
        value = node[leaf]
    except MissingMandatoryValue:
        raise ConfigError(f"{key} is required (set {key}=…)") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key}: {str(exc).splitlines()[0]}") from None
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return True, value


def check_settings(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first setting of the wrong type or out of range; check the input file's size."""
    for key, (ok, what, nullable) in RULES.items():
        present, value = _value(cfg, key)
        if not present or (value is None and nullable):
            continue
        if not ok(value):
            raise ConfigError(f"{key} must be {what}, got {value!r}")
    present, path = _value(cfg, "data.path")
    if present and path is not None:
        _, limit = _value(cfg, "data.max_bytes")
        check_input_size(str(path), limit)
        present, long = _value(cfg, "data.long")
        if present and long is not None:  # data=csv's long table: its settings and its file's size
            if not isinstance(long, Mapping):
                raise ConfigError(f"data.long must be a mapping (path, time, window, step, …) or null, got {long!r}")
            check_input_size(str(LongSpec.of(long).path), limit)
