"""Preprocessing fitted on training rows only: median imputation and Min-Max scaling (the paper's Eq. 1).

The medians come from scikit-learn's ``SimpleImputer``. The scaler is this project's own
Eq. 1, not ``sklearn.preprocessing.MinMaxScaler``: measured on the ``make run`` cohort, sklearn's
``X * scale_ + min_`` differs from Eq. 1's ``(x - min) / (max - min)`` in the last bit of 35-38 %
of the cells, 54 of 520,800 tabular cells after the float32 cast (3 folds), and it maps a test
value x of a column constant (c) in training to x - c instead of 0 (docs/models.md, "Scaling").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.impute import SimpleImputer

from privhealth.errors import SchemaError


class MinMaxScaler:
    """The paper's Eq. 1, x' = (x − min)/(max − min), fitted on training rows only.

    Constant (or all-missing) training columns map to 0; with ``clip`` set, values outside
    the training range are clipped (default to [0, 1], i.e. winsorized at the training
    extremes, so a test outlier cannot push a network far outside what it was trained on).
    """

    def __init__(self, clip: tuple[float, float] | None = (0.0, 1.0)) -> None:
        self.clip = clip
        self.min_: np.ndarray | None = None
        self.max_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> MinMaxScaler:
        X = np.asarray(X, dtype=np.float64)
        empty = np.isnan(X).all(axis=0) if len(X) else np.ones(X.shape[1], dtype=bool)
        safe = np.where(empty, 0.0, X) if len(X) else np.zeros((1, X.shape[1]))
        self.min_ = np.nanmin(safe, axis=0)
        self.max_ = np.nanmax(safe, axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.min_ is None or self.max_ is None:
            raise RuntimeError("MinMaxScaler.transform called before fit")
        span = self.max_ - self.min_
        scale = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)
        out = (np.asarray(X, dtype=np.float64) - self.min_) * scale
        if self.clip is not None:
            np.clip(out, self.clip[0], self.clip[1], out=out)
        return out


def nanmedian(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Training column medians ignoring NaN, by scikit-learn's SimpleImputer; 0 for a column with
    no value (``keep_empty_features``). An infinite value is a SchemaError naming its feature."""
    if X.shape[1] == 0:
        return np.zeros(0)
    inf = np.isinf(X).any(axis=0)
    if inf.any():
        raise SchemaError(f"feature(s) {[n for n, b in zip(names, inf, strict=True) if b]} hold infinite values")
    return SimpleImputer(strategy="median", keep_empty_features=True).fit(X).statistics_


def impute(X: np.ndarray, median: np.ndarray) -> np.ndarray:
    """The fitted medians where X is NaN (what SimpleImputer.transform does, without its refusal
    of the infinite values a test row may hold: those are clipped by the scaler)."""
    return np.where(np.isnan(X), median, X)
