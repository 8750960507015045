"""The base of every anonymization step (sklearn-style fit/transform/describe) and its column check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import pandas as pd

from privhealth.errors import SchemaError


def require_columns(frame: pd.DataFrame, columns: Sequence[str], step: str) -> None:
    """Raise a SchemaError naming the step and every column it needs that the table lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{step}: column(s) {', '.join(repr(m) for m in missing)} not in the table "
            f"(it has {len(frame.columns)} columns)"
        )


class Step:
    """Base class: ``fit`` is a no-op unless a step learns from data."""

    def fit(self, frame: pd.DataFrame) -> Self:
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.fit(frame).transform(frame)

    def describe(self) -> dict[str, Any]:
        """What the step does, safe to log (never secrets, never data values)."""
        return {"step": type(self).__name__}
