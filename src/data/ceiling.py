"""The Bayes ceiling of the default task on the simulated cohort, computed exactly.

An oracle that knows each patient's frailty bin, true MDP states and sampled actions over the
first ``window_blocs`` blocs predicts 90-day death with the exact probability

- ``P(death | θ, s, a, next is terminal)`` when the stay ends inside the window (the record
  shows it ended, not how), and
- ``Σ_s' P_θ(s' | s, a) q_θ(s')`` after the window's last bloc (``q_θ`` the tilted absorption
  probability, 1 for death, 0 for survival).

Given θ the future depends only on the last (state, action), and the patient attributes are
independent of the outcome given the latent variables, so no model that sees noisy values can
beat this score. The distribution of (θ, s, a, ended) is propagated forward exactly, so AUROC,
best F1 and best accuracy are population values (no sampling error).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from privhealth.data.mdp import (
    DEATH,
    N_STATES,
    SURVIVAL,
    dynamics_path,
    tilted,
)
from privhealth.errors import ConfigError

CEILING_VERSION = 1  # bump when the simulator's dynamics or this computation change


@dataclass(frozen=True)
class Ceiling:
    """Population AUROC, best F1 and best accuracy of the oracle, and the cohort's mortality."""

    auroc: float
    f1: float
    accuracy: float
    mortality: float

    def metrics(self, prefix: str = "task/bayes_") -> dict[str, float]:
        """The ``task/bayes_*`` metrics logged with every run on simulated data."""
        return {f"{prefix}auroc": self.auroc, f"{prefix}f1": self.f1, f"{prefix}accuracy": self.accuracy}


@lru_cache(maxsize=1)
def _policy_transitions() -> tuple[np.ndarray, np.ndarray]:
    """π(a|s) (713, 25) and T(s'|s,a) (713, 25, 716) as stored in the MDP file."""
    with np.load(dynamics_path()) as f:
        return f["expert_policy"][:N_STATES].copy(), f["tx_mat"][:N_STATES].copy()


def oracle_cells(theta: tuple[float, float, float], window_blocs: int) -> tuple[np.ndarray, np.ndarray]:
    """Mass and death probability of every (state, action, ended-in-window) cell for one chain."""
    pi, tx = _policy_transitions()
    chain = tilted(*theta)
    r = chain.ratio  # P_θ(a, s'|s) = π(a|s) T(s'|s,a) r(s, s')
    a_mass = np.einsum("sat,st->sa", tx, r)  # P_θ(a|s) / π(a|s)
    q = np.concatenate([chain.p_death, [1.0, 0.0, 0.0]])
    p_next = np.einsum("sat,st->sa", tx, r * q[None, :]) / np.where(a_mass > 0, a_mass, 1.0)
    to_death = tx[:, :, DEATH] * r[:, None, DEATH]
    ends = to_death + tx[:, :, SURVIVAL] * r[:, None, SURVIVAL]
    p_end = to_death / np.where(ends > 0, ends, 1.0)
    alive = chain.d0.copy()
    ended_mass = np.zeros_like(pi)
    moves = chain.step[:, :N_STATES]
    for _ in range(window_blocs - 1):
        ended_mass += alive[:, None] * pi * ends
        alive = alive @ moves
    last_mass = alive[:, None] * pi * a_mass
    mass = np.concatenate([ended_mass.ravel(), last_mass.ravel()])
    prob = np.concatenate([p_end.ravel(), p_next.ravel()])
    return mass, prob


def weighted_scores(mass: np.ndarray, prob: np.ndarray) -> Ceiling:
    """AUROC, best F1 and best accuracy of a score equal to each cell's true death probability."""
    keep = mass > 0
    mass, prob = mass[keep], prob[keep]
    values, inv = np.unique(prob, return_inverse=True)
    pos = np.bincount(inv, weights=mass * prob)
    neg = np.bincount(inv, weights=mass * (1 - prob))
    p_tot, n_tot = pos.sum(), neg.sum()
    neg_below = np.cumsum(neg) - neg
    auroc = float((pos * (neg_below + 0.5 * neg)).sum() / (p_tot * n_tot))
    tp = np.cumsum(pos[::-1])  # predict death for scores >= each value, highest first
    fp = np.cumsum(neg[::-1])
    f1 = float(np.max(2 * tp / (tp + fp + p_tot)))
    accuracy = float(max(n_tot, np.max(tp + n_tot - fp)) / (p_tot + n_tot))
    return Ceiling(auroc, f1, accuracy, float(p_tot / (p_tot + n_tot)))


@lru_cache(maxsize=16)
def bayes_ceiling(thetas: tuple[tuple[float, float, float], ...], window_blocs: int) -> Ceiling:
    """The oracle's scores when patients are spread equally over the chains tilted by ``thetas``."""
    if not isinstance(window_blocs, int) or window_blocs < 1:
        raise ConfigError(f"bayes_ceiling: window_blocs must be a positive integer, got {window_blocs!r}")
    cells = [oracle_cells(t, window_blocs) for t in thetas]
    mass = np.concatenate([m for m, _ in cells]) / len(thetas)
    prob = np.concatenate([p for _, p in cells])
    return weighted_scores(mass, prob)


def cached_ceiling(thetas: tuple[tuple[float, float, float], ...], window_blocs: int, cache_dir: Path | None = None) -> Ceiling:
    """``bayes_ceiling`` with a small JSON cache under ``cache_dir`` keyed by θs and window."""
    if cache_dir is None:
        return bayes_ceiling(thetas, window_blocs)
    key = json.dumps([CEILING_VERSION, [[round(x, 12) for x in t] for t in thetas], window_blocs, ])
    path = Path(cache_dir) / "bayes_ceiling.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if key in table:
        return Ceiling(**table[key])
    result = bayes_ceiling(thetas, window_blocs)
    table[key] = asdict(result)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp")
        tmp.write_text(json.dumps(table, indent=1))
        tmp.replace(path)
    except OSError:  # a read-only or unusable cache: the run goes on with the computed value
        pass
    return result


__all__ = ["Ceiling", "bayes_ceiling", "cached_ceiling", "oracle_cells", "weighted_scores"]
