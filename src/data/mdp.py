"""The AI Clinician sepsis MDP shipped by the icu-sepsis package, and vectorised patient rollouts.

``dynamics.npz`` holds an MDP estimated from the MIMIC-III Sepsis-3 cohort (Komorowski et al.
2018): 713 patient states plus death (713), survival (714) and an absorbing state (715), 25
actions (``5 * fluid_bin + vaso_bin``), the clinicians' policy and the transition matrix. The
file is read directly; ``import icu_sepsis`` would pull in the deprecated ``gym``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from privhealth.data.reference import FEATURES_47
from privhealth.errors import ConfigError

N_STATES = 713  # non-terminal patient states
DEATH = 713
SURVIVAL = 714
N_ACTIONS = 25


def dynamics_path() -> Path:
    """Location of icu-sepsis' ``dynamics.npz`` without importing the package."""
    spec = importlib.util.find_spec("icu_sepsis")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the 'icu-sepsis' package is not installed; the simulator needs its MDP")
    path = Path(next(iter(spec.submodule_search_locations))) / "envs" / "assets" / "dynamics.npz"
    if not path.is_file():
        raise ConfigError(f"{path}: icu-sepsis is installed but its dynamics file is missing")
    return path


class _Sampler:
    """Draws one column index per row from a row-stochastic matrix, for many rows at once.

    Non-zero entries are laid out row after row with cumulative keys ``row + cumprob``, so a
    single ``searchsorted`` on ``row + u`` samples every requested row.
    """

    def __init__(self, prob: np.ndarray) -> None:
        rows, cols = np.nonzero(prob > 0)
        p = prob[rows, cols]
        counts = np.bincount(rows, minlength=prob.shape[0])
        ends = np.cumsum(counts)  # one past each row's last entry
        totals = np.bincount(rows, weights=p, minlength=prob.shape[0])
        csum = np.cumsum(p)
        before = np.concatenate(([0.0], csum))[ends - counts]  # mass before each row
        within = (csum - before[rows]) / totals[rows]
        within[ends[counts > 0] - 1] = 1.0  # close each row exactly despite rounding
        self.keys = rows + within
        self.cols = cols
        self.last = ends - 1

    def __call__(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pos = np.searchsorted(self.keys, rows + rng.random(len(rows)), side="right")
        return self.cols[np.minimum(pos, self.last[rows])]


@dataclass(frozen=True)
class MDP:
    """The clinician-policy MDP: samplers, decoded cluster centres and absorption probabilities."""

    centres: np.ndarray  # (713, 47) in the AI Clinician encoding (icu-sepsis tweaks undone)
    initial: _Sampler
    policy: _Sampler
    transition: _Sampler
    p_death: np.ndarray  # (713,) probability of eventually dying from each state
    step_matrix: np.ndarray  # (713, 716) one-step state transition under the clinician policy
    d0: np.ndarray  # (713,)


@lru_cache(maxsize=1)
def load_mdp() -> MDP:
    """Read and prepare the MDP once per process (about a second; the file is ~100 MB)."""
    with np.load(dynamics_path()) as f:
        tx, pi, d0, raw_centres = f["tx_mat"], f["expert_policy"], f["d_0"], f["state_cluster_centers"]
    centres = raw_centres[:N_STATES].astype(np.float64).copy()
    centres[:, FEATURES_47.index("re_admission")] -= 0.6  # icu-sepsis added 0.6
    centres[:, FEATURES_47.index("input_4hourly")] /= 2.0  # icu-sepsis doubled it
    pi = pi[:N_STATES]
    tx = tx[:N_STATES]
    step = np.einsum("sa,sat->st", pi, tx)
    q = step[:, :N_STATES]
    p_death = np.linalg.solve(np.eye(N_STATES) - q, step[:, DEATH])
    return MDP(
        centres=centres,
        initial=_Sampler(d0[None, :N_STATES]),
        policy=_Sampler(pi),
        transition=_Sampler(tx.reshape(N_STATES * N_ACTIONS, -1)),
        p_death=np.clip(p_death, 0.0, 1.0),
        step_matrix=step,
        d0=d0[:N_STATES].copy(),
    )


@lru_cache(maxsize=8)
def occupancy(max_blocs: int) -> np.ndarray:
    """Share of recorded blocs spent in each state over a stay's first ``max_blocs`` blocs."""
    mdp = load_mdp()
    q = mdp.step_matrix[:, :N_STATES]
    mu = mdp.d0.copy()
    occ = np.zeros(N_STATES)
    for _ in range(max_blocs):
        occ += mu
        mu = mu @ q
    return occ / occ.sum()


@dataclass(frozen=True)
class Rollout:
    """States and actions of each patient's recorded blocs (-1 past the end), and the outcome."""

    states: np.ndarray  # (n, max_blocs) int16, -1 padding
    actions: np.ndarray  # (n, max_blocs) int8, -1 padding
    n_blocs: np.ndarray  # (n,) recorded blocs, 1..max_blocs
    n_steps: np.ndarray  # (n,) blocs until the terminal state (>= n_blocs)
    died: np.ndarray  # (n,) bool


def rollout(
    n: int, rng: np.random.Generator, max_blocs: int = 20, hard_cap: int = 500
) -> Rollout:
    """Roll ``n`` patients forward under the clinician policy until death or survival.

    One step moves all live patients at once. Blocs past ``max_blocs`` are not recorded but
    the roll goes on, so the outcome always comes from the MDP; a patient still alive at
    ``hard_cap`` steps (vanishingly rare) gets its outcome from the exact absorption probability.
    """
    if n < 1 or max_blocs < 1 or hard_cap < max_blocs:
        raise ConfigError("rollout needs n >= 1, max_blocs >= 1 and hard_cap >= max_blocs")
    mdp = load_mdp()
    states = np.full((n, max_blocs), -1, dtype=np.int16)
    actions = np.full((n, max_blocs), -1, dtype=np.int8)
    n_steps = np.zeros(n, dtype=np.int64)
    died = np.zeros(n, dtype=bool)
    cur = mdp.initial(np.zeros(n, dtype=np.int64), rng)
    live = np.arange(n)
    t = 0
    while live.size and t < hard_cap:
        a = mdp.policy(cur, rng)
        if t < max_blocs:
            states[live, t] = cur
            actions[live, t] = a
        nxt = mdp.transition(cur * N_ACTIONS + a, rng)
        t += 1
        done = nxt >= N_STATES
        n_steps[live[done]] = t
        died[live[done]] = nxt[done] == DEATH
        live, cur = live[~done], nxt[~done]
    if live.size:  # reached the hard cap: outcome from the absorption probabilities
        n_steps[live] = hard_cap
        died[live] = rng.random(live.size) < mdp.p_death[cur]
    return Rollout(states, actions, np.minimum(n_steps, max_blocs), n_steps, died)
