"""MST (McKenna, Miklau & Sheldon 2021): differentially private synthetic data from 1- and 2-way marginals.

The winning mechanism of the 2018 NIST synthetic-data challenge, generalized: under zCDP
with ρ from (ε, δ), one third of ρ measures every 1-way marginal (Gaussian noise), one third
picks a maximum spanning tree of attribute pairs with the exponential mechanism (scores:
how badly the 1-way model explains each pair), one third measures the tree's 2-way
marginals; Private-PGM (``mbi``, the authors' maintained library) fits a graphical model to
the noisy marginals and samples records from it. Follows the reference mechanism of the
``mbi`` repository (``mechanisms/mst.py``); ``mbi`` is in the ``synth`` extra.

Input: a frame of integer codes ``0 .. size-1`` per column; output: the same layout.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from privhealth.errors import ConfigError

log = logging.getLogger(__name__)


def cdp_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose ρ-zCDP guarantee implies (ε, δ)-DP (Canonne, Kamath & Steinke 2020, Prop. 12).

    Bisection on ``cdp_delta(ρ, ε) <= δ``; e.g. ε=1, δ=1e-9 gives ρ ≈ 0.0150.
    """
    if not epsilon > 0 or not 0 < delta < 1:
        raise ConfigError(f"anon.epsilon must be > 0 and anon.delta in (0, 1) (got {epsilon!r}, {delta!r})")
    lo, hi = 0.0, epsilon + 1.0
    for _ in range(1000):
        mid = (lo + hi) / 2
        if cdp_delta(mid, epsilon) <= delta:
            lo = mid
        else:
            hi = mid
    return lo


def cdp_delta(rho: float, epsilon: float) -> float:
    """δ of ρ-zCDP at ε (the tight conversion of Canonne, Kamath & Steinke 2020)."""
    if rho == 0:
        return 0.0
    amin, amax = 1.01, (epsilon + 1) / (2 * rho) + 2
    for _ in range(1000):  # the optimal Rényi order, by bisection on the derivative
        alpha = (amin + amax) / 2
        deriv = (2 * alpha - 1) * rho - epsilon + math.log1p(-1.0 / alpha)
        if deriv < 0:
            amin = alpha
        else:
            amax = alpha
    delta = math.exp((alpha - 1) * (alpha * rho - epsilon) + alpha * math.log1p(-1 / alpha)) / (alpha - 1.0)
    return min(delta, 1.0)


@contextmanager
def _seeded(seed: int) -> Any:
    """``np.random``'s global state seeded for ``mbi``'s sampler, restored afterwards."""
    state = np.random.get_state()  # noqa: NPY002 - mbi samples with the global generator
    np.random.seed(seed % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def mst(codes: pd.DataFrame, sizes: Mapping[str, int], epsilon: float, delta: float, seed: int = 0,
        n_rows: int | None = None, iters: int = 2000) -> pd.DataFrame:
    """Synthetic integer codes (``n_rows``, default as many as ``codes``) from MST at (ε, δ)."""
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_enable_compilation_cache", False)
        import mbi
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ConfigError(
            "anon=dp_synthetic needs the 'synth' extra (private-pgm's mbi): "
            "pip install -e '.[synth]'"
        ) from exc
    cols = list(codes.columns)
    if len(cols) < 2:
        raise ConfigError(f"anon=dp_synthetic needs at least two columns to synthesize (got {cols})")
    domain = mbi.Domain(cols, [int(sizes[c]) for c in cols])
    data = mbi.Dataset({c: codes[c].to_numpy(dtype=np.int64) for c in cols}, domain)
    rng = np.random.default_rng(seed)
    rho = cdp_rho(float(epsilon), float(delta))
    sigma = math.sqrt(3.0 / (2.0 * rho))
    log1 = _measure(mbi, data, [(c,) for c in cols], sigma, rng)
    data2, log1, supports = _compress(mbi, data, log1)
    tree = _select(data2, rho / 3.0, log1, rng)
    log2 = _measure(mbi, data2, tree, sigma, rng)
    t0 = time.perf_counter()
    model = mbi.estimation.MirrorDescent().estimate(data2.domain, log1 + log2, iters=iters)
    log.info("MST: graphical model fitted in %.1f s (%d cliques)", time.perf_counter() - t0, len(log1) + len(log2))
    with _seeded(int(rng.integers(2**31))):
        synth = model.synthetic_data(rows=int(n_rows or len(codes)))
    return _expand(synth, supports, cols, rng)


def _measure(mbi: Any, data: Any, cliques: list[tuple[str, ...]], sigma: float,
             rng: np.random.Generator) -> list[Any]:
    """Gaussian-noised counts of each clique's marginal (each of L2 sensitivity 1, equal weights)."""
    scale = sigma * math.sqrt(len(cliques))
    out = []
    for cl in cliques:
        x = np.asarray(data.project(cl).datavector(), dtype=np.float64)
        out.append(mbi.LinearMeasurement(x + rng.normal(0.0, scale, size=x.size), cl, scale))
    return out


def _compress(mbi: Any, data: Any, log1: list[Any]) -> tuple[Any, list[Any], dict[str, np.ndarray]]:
    """Merge each column's values whose noisy count is below 3σ into one 'rare' value (post-processing)."""
    supports: dict[str, np.ndarray] = {}
    new_log, new_data, new_dom = [], {}, {}
    for m in log1:
        col = m.clique[0]
        y = np.asarray(m.noisy_measurement)
        sup = y >= 3 * float(m.stddev)
        supports[col] = sup
        raw = np.asarray(data.data[col])
        if sup.all():
            new_log.append(m)
            new_data[col], new_dom[col] = raw, int(y.size)
            continue
        size = int(sup.sum())
        mapping = np.full(y.size, size, dtype=np.int64)
        mapping[sup] = np.arange(size)
        new_data[col], new_dom[col] = mapping[raw], size + 1
        extra = y.size - size
        y2 = np.append(y[sup], y[~sup].sum() / math.sqrt(extra))
        w = np.ones(size + 1)
        w[-1] = 1.0 / math.sqrt(extra)
        new_log.append(mbi.LinearMeasurement(y2, (col,), m.stddev, query=mbi.WeightedQuery(w)))
    dom = mbi.Domain(list(new_dom), list(new_dom.values()))
    return mbi.Dataset(new_data, dom), new_log, supports


def _select(data: Any, rho: float, log1: list[Any], rng: np.random.Generator) -> list[tuple[str, ...]]:
    """A spanning tree of attribute pairs, edge by edge with the exponential mechanism (budget ρ).

    A pair's score is the L1 distance between its true 2-way counts and those the 1-way
    measurements predict under independence. The reference fits ``mbi``'s model to the 1-way
    measurements first; with 1-way cliques only that model is a product of marginals, so the
    noisy marginals clipped at 0 and rescaled (post-processing) stand in for it, in numpy.
    """
    attrs = [m.clique[0] for m in log1]
    total = max(float(np.mean([np.clip(np.asarray(m.noisy_measurement), 0, None).sum() for m in log1])), 1.0)
    p = {}
    for m in log1:
        y = np.asarray(m.noisy_measurement, dtype=np.float64)
        w = _query_weights(m, y.size)
        y = np.clip(y / w, 0, None)
        p[m.clique[0]] = y / y.sum() if y.sum() > 0 else np.full(y.size, 1.0 / y.size)
    codes = {a: np.asarray(data.data[a], dtype=np.int64) for a in attrs}
    sizes = dict(zip(data.domain.attributes, data.domain.shape, strict=True))
    weights = {}
    for a, b in itertools.combinations(attrs, 2):
        x = np.bincount(codes[a] * sizes[b] + codes[b], minlength=sizes[a] * sizes[b])
        weights[a, b] = float(np.abs(x - total * np.outer(p[a], p[b]).ravel()).sum())
    parent = {a: a for a in attrs}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    r = len(attrs)
    eps = math.sqrt(8 * rho / (r - 1))
    edges: list[tuple[str, ...]] = []
    candidates = list(weights)
    for _ in range(r - 1):
        candidates = [e for e in candidates if root(e[0]) != root(e[1])]
        q = np.array([weights[e] for e in candidates])
        scores = 0.5 * eps * q  # sensitivity 1, non-monotonic
        prob = np.exp(scores - logsumexp(scores))
        e = candidates[int(rng.choice(len(candidates), p=prob))]
        edges.append(e)
        parent[root(e[0])] = root(e[1])
    return edges


def _query_weights(m: Any, size: int) -> np.ndarray:
    """The per-cell weights of a (compressed) 1-way measurement's query (ones for the identity)."""
    w = getattr(m.query, "weights", None)
    return np.ones(size) if w is None else np.asarray(w, dtype=np.float64)


def _expand(synth: Any, supports: Mapping[str, np.ndarray], cols: list[str],
            rng: np.random.Generator) -> pd.DataFrame:
    """Codes of the compressed domain back to the original ones (a 'rare' code: one rare value at random)."""
    out = {}
    for c in cols:
        v = np.asarray(synth.data[c], dtype=np.int64)
        sup = supports[c]
        kept, extra = np.flatnonzero(sup), np.flatnonzero(~sup)
        rare = v == kept.size
        res = np.empty_like(v)
        res[~rare] = kept[v[~rare]]
        if rare.any():
            res[rare] = rng.choice(extra, size=int(rare.sum())) if extra.size else 0
        out[c] = res
    return pd.DataFrame(out)
