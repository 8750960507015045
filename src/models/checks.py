"""Model settings checks: a ConfigError naming the model, the setting and the value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from privhealth.errors import ConfigError


def check_int(model: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"model '{model}': {name} must be an integer >= {minimum} (got {value!r})"
        )
    return int(value)


def check_float(
    model: str, name: str, value: Any, low: float, high: float, *, high_open: bool = False
) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = low <= v < high if high_open else low <= v <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(
            f"model '{model}': {name} must be a number in [{low}, {high}{bracket} (got {value!r})"
        )
    return float(value)


def check_choice(model: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    options = list(choices)
    if value not in options:
        raise ConfigError(f"model '{model}': {name} must be one of {options} (got {value!r})")
    return value


# ---------------------------------------------------------------------- summaries
