"""A Gaussian copula synthesizer (no privacy guarantee): the "synthetic data is private" baseline.

SDV's ``GaussianCopulaSynthesizer`` cannot be installed beside this project's pandas (its
``copulas`` pins ``pandas<3``), so this is the same model written with numpy/scipy: each
column's empirical marginal, a Gaussian dependence between the normal scores, sampled and
mapped back. Numeric columns are mapped back by linear interpolation between the sorted
observed values (new values between neighbours, never outside the observed range); a
categorical column (integer codes) takes the code whose cumulative frequency interval holds
the sampled uniform. Missing numeric values are kept as their own indicator column.

Worked example: a numeric column with values 1, 2, 3, 4 and a sampled uniform 0.5 gives 2.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm


def _scores(col: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of one column's values: mid-ranks, ties broken at random (a continuous copula)."""
    n = col.size
    order = np.lexsort((rng.random(n), col))
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    return norm.ppf(ranks / (n + 1))


def gaussian_copula(table: pd.DataFrame, categorical: Sequence[str], n_rows: int, seed: int = 0) -> pd.DataFrame:
    """``n_rows`` synthetic rows of ``table``: numeric columns as floats, ``categorical`` as their codes."""
    rng = np.random.default_rng(seed)
    cols = list(table.columns)
    parts: list[np.ndarray] = []
    backs: list[tuple[str, np.ndarray | None, float | None]] = []
    for c in cols:
        v = table[c].to_numpy(dtype=np.float64)
        miss = np.isnan(v)
        filled = np.where(miss, np.nanmedian(v) if (~miss).any() else 0.0, v)
        parts.append(_scores(filled, rng))
        backs.append((c, np.sort(v[~miss]) if (~miss).any() else np.zeros(1), None))
        if c not in categorical and miss.any() and not miss.all():
            parts.append(_scores(miss.astype(np.float64), rng))
            backs.append((c, None, float(miss.mean())))
    z = np.column_stack(parts)
    corr = np.corrcoef(z, rowvar=False)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    w, vecs = np.linalg.eigh(corr)  # nearest positive semi-definite matrix
    corr = (vecs * np.clip(w, 1e-9, None)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    u = norm.cdf(rng.multivariate_normal(np.zeros(len(parts)), corr, size=n_rows, method="cholesky"))
    out: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for j, (c, sorted_vals, miss_rate) in enumerate(backs):
        if sorted_vals is None:  # the missingness indicator: the top miss_rate of its uniforms are missing
            missing[c] = u[:, j] > 1.0 - float(miss_rate or 0.0)
            continue
        if c in categorical:
            values, counts = np.unique(sorted_vals, return_counts=True)
            cum = np.cumsum(counts) / counts.sum()
            out[c] = values[np.minimum(np.searchsorted(cum, u[:, j], side="right"), values.size - 1)]
        else:
            grid = np.linspace(0.0, 1.0, sorted_vals.size)
            out[c] = np.interp(u[:, j], grid, sorted_vals)
    frame = pd.DataFrame(out, columns=cols)
    for c, m in missing.items():
        frame.loc[m, c] = np.nan
    return frame
