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
from scipy.special import ndtr, ndtri

from privhealth.data.reference import FEATURES_47
from privhealth.errors import ConfigError

N_STATES = 713  # non-terminal patient states
DEATH = 713
SURVIVAL = 714
N_ACTIONS = 25
N_COLUMNS = 716  # states + death + survival + the unused absorbing state
FRAILTY_BINS = 20  # equal-probability bins of the standard-normal frailty (one tilted chain each)


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


def frailty_bin(z: np.ndarray) -> np.ndarray:
    """The equal-probability bin (0..FRAILTY_BINS-1) of each standard-normal frailty value."""
    return np.minimum((ndtr(z) * FRAILTY_BINS).astype(np.int64), FRAILTY_BINS - 1)


def frailty_bin_means() -> np.ndarray:
    """E[Z | bin] for Z ~ N(0, 1) and each equal-probability bin: the value that tilts its chain."""
    edges = ndtri(np.linspace(0.0, 1.0, FRAILTY_BINS + 1))
    phi = np.exp(-0.5 * np.nan_to_num(edges, posinf=0.0, neginf=0.0) ** 2) / np.sqrt(2 * np.pi)
    phi[[0, -1]] = 0.0
    return FRAILTY_BINS * (phi[:-1] - phi[1:])


def severity() -> np.ndarray:
    """h(s): normal scores of the states' death-absorption probabilities under d0 (~N(0, 1) there)."""
    mdp = load_mdp()
    order = np.argsort(mdp.p_death, kind="stable")
    cum = np.cumsum(mdp.d0[order])
    mid = np.empty(N_STATES)
    mid[order] = cum - mdp.d0[order] / 2  # mid-rank of each state's mass
    return ndtri(np.clip(mid, 1e-6, 1 - 1e-6))


@dataclass(frozen=True)
class Tilted:
    """The clinician-policy chain tilted by (θ_state, curvature, θ_end); see ``tilted``."""

    theta_state: float
    curvature: float
    theta_end: float
    ratio: np.ndarray  # (713, 716) step_θ(s'|s) / step(s'|s) (0 where step is 0)
    step: np.ndarray  # (713, 716) tilted one-step state transition
    d0: np.ndarray  # (713,) tilted initial distribution
    p_death: np.ndarray  # (713,) absorption probability into death under the tilted chain


@lru_cache(maxsize=2 * FRAILTY_BINS)  # ~8 MB a chain: two frailty settings
def tilted(theta_state: float, curvature: float, theta_end: float) -> Tilted:
    """Each row of the step matrix tilted toward death-prone states (all 0: the MDP itself).

    Moves to live states: ``step(s'|s) e^{θ_state h(s') - curvature h(s')^2}``, renormalised so
    that the chance of staying alive for another bloc is unchanged; endings: the odds of death
    over survival times ``e^{θ_end}``. The initial distribution is tilted like a move.
    """
    mdp = load_mdp()
    step0 = mdp.step_matrix
    h = severity()
    e_state = np.exp(theta_state * h - curvature * h**2)
    moves = step0[:, :N_STATES] * e_state[None, :]
    stay = step0[:, :N_STATES].sum(axis=1)
    moves *= (stay / np.where(moves.sum(axis=1) > 0, moves.sum(axis=1), 1.0))[:, None]
    die, live = step0[:, DEATH] * np.exp(theta_end), step0[:, SURVIVAL]
    end = step0[:, DEATH] + live
    step = np.zeros_like(step0)
    step[:, :N_STATES] = moves
    odds = np.where(end > 0, die + live, 1.0)
    step[:, DEATH] = end * die / odds
    step[:, SURVIVAL] = end * live / odds
    ratio = np.divide(step, step0, out=np.zeros_like(step), where=step0 > 0)
    d0 = mdp.d0 * e_state
    p = np.linalg.solve(np.eye(N_STATES) - step[:, :N_STATES], step[:, DEATH])
    return Tilted(float(theta_state), float(curvature), float(theta_end), ratio, step, d0 / d0.sum(),
                  np.clip(p, 0.0, 1.0))


@lru_cache(maxsize=1)
def action_given_move() -> _Sampler:
    """Samples a ~ P(a | s, s') = π(a|s) T(s'|s,a) / Σ_a π T, rows ``s * 716 + s'``.

    Tilting reweights whole (s, s') cells, so P(a | s, s') is the same on every tilted chain.
    """
    with np.load(dynamics_path()) as f:
        tx, pi = f["tx_mat"][:N_STATES], f["expert_policy"][:N_STATES]
    joint = pi[:, :, None] * tx  # (s, a, s')
    return _Sampler(joint.transpose(0, 2, 1).reshape(N_STATES * N_COLUMNS, N_ACTIONS))


@lru_cache(maxsize=4)
def _tilted_samplers(thetas: tuple[tuple[float, float, float], ...]) -> tuple[_Sampler, _Sampler]:
    """One stacked sampler for the initial states and one for the moves, row ``g * 713 + s``."""
    chains = [tilted(*t) for t in thetas]
    initial = _Sampler(np.stack([c.d0 for c in chains]))
    moves = _Sampler(np.concatenate([c.step for c in chains]))
    return initial, moves


@dataclass(frozen=True)
class Rollout:
    """States and actions of each patient's recorded blocs (-1 past the end), and the outcome."""

    states: np.ndarray  # (n, max_blocs) int16, -1 padding
    actions: np.ndarray  # (n, max_blocs) int8, -1 padding
    n_blocs: np.ndarray  # (n,) recorded blocs, 1..max_blocs
    n_steps: np.ndarray  # (n,) blocs until the terminal state (>= n_blocs)
    died: np.ndarray  # (n,) bool


def rollout(
    n: int,
    rng: np.random.Generator,
    max_blocs: int = 20,
    hard_cap: int = 500,
    group: np.ndarray | None = None,
    thetas: tuple[tuple[float, float, float], ...] = (),
) -> Rollout:
    """Roll ``n`` patients forward under the clinician policy until death or survival.

    One step moves all live patients at once. Blocs past ``max_blocs`` are not recorded but
    the roll goes on, so the outcome always comes from the MDP; a patient still alive at
    ``hard_cap`` steps (vanishingly rare) gets its outcome from the exact absorption probability.
    With ``group`` (per patient, indexing ``thetas``) each patient follows the chain tilted by
    its own (θ_state, curvature, θ_end) (``tilted``); without it, the untilted MDP exactly as sampled before tilting existed.
    """
    if n < 1 or max_blocs < 1 or hard_cap < max_blocs:
        raise ConfigError("rollout needs n >= 1, max_blocs >= 1 and hard_cap >= max_blocs")
    if group is not None:
        return _tilted_rollout(n, rng, max_blocs, hard_cap, np.asarray(group, np.int64), thetas)
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


def _tilted_rollout(
    n: int, rng: np.random.Generator, max_blocs: int, hard_cap: int, group: np.ndarray,
    thetas: tuple[tuple[float, float, float], ...],
) -> Rollout:
    """``rollout`` on the tilted chains: the next state from P_θ(s'|s), then a ~ P(a | s, s')."""
    if group.shape != (n,) or group.min() < 0 or group.max() >= len(thetas):
        raise ConfigError("rollout: group must give each patient an index into thetas")
    initial, moves = _tilted_samplers(tuple(tuple(float(x) for x in t) for t in thetas))
    act = action_given_move()
    states = np.full((n, max_blocs), -1, dtype=np.int16)
    actions = np.full((n, max_blocs), -1, dtype=np.int8)
    n_steps = np.zeros(n, dtype=np.int64)
    died = np.zeros(n, dtype=bool)
    cur = initial(group, rng)
    live = np.arange(n)
    t = 0
    while live.size and t < hard_cap:
        g = group[live]
        nxt = moves(g * N_STATES + cur, rng)
        a = act(cur * N_COLUMNS + nxt, rng)
        if t < max_blocs:
            states[live, t] = cur
            actions[live, t] = a
        t += 1
        done = nxt >= N_STATES
        n_steps[live[done]] = t
        died[live[done]] = nxt[done] == DEATH
        live, cur = live[~done], nxt[~done]
    if live.size:
        n_steps[live] = hard_cap
        p = np.array([tilted(*t).p_death for t in thetas])
        died[live] = rng.random(live.size) < p[group[live], cur]
    return Rollout(states, actions, np.minimum(n_steps, max_blocs), n_steps, died)
