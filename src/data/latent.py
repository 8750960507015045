"""Per-patient latent variables of the simulated cohort, and the attributes drawn from them.

Each patient gets a standardised age ``age_z``, a comorbidity burden ``comorbidity`` (correlated
with age) and a frailty ``frailty`` ~ N(0, 1) that mixes both with an unobserved part. Frailty
tilts the MDP's transitions (``privhealth.data.mdp.tilted``); age, comorbidity index and
re-admission are drawn from the latent variables here. No function in this module takes the
outcome: every non-outcome column is independent of 90-day death given the latent variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privhealth.data.mdp import frailty_bin, frailty_bin_means
from privhealth.data.reference import ELIXHAUSER, REF

AGE_COMORBIDITY_CORR = 0.2  # older patients carry more chronic disease
FRAILTY_WEIGHTS = {"age": 0.2, "comorbidity": 0.3, "unobserved": 0.55}  # before normalising
COMORBIDITY_LOG_RISK = 1.0  # log relative prevalence of each comorbidity per SD of burden
READMISSION_LOG_ODDS = 0.5  # log odds ratio of re-admission per SD of comorbidity burden


@dataclass(frozen=True)
class Latents:
    """The latent variables of ``n`` patients (all standard normal) and their frailty bins."""

    age_z: np.ndarray
    comorbidity: np.ndarray
    unobserved: np.ndarray
    frailty: np.ndarray
    frailty_bin: np.ndarray


def frailty_of(age_z: np.ndarray, comorbidity: np.ndarray, unobserved: np.ndarray) -> np.ndarray:
    """Frailty as a unit-variance mix of age, comorbidity burden and an unobserved part."""
    w = FRAILTY_WEIGHTS
    raw = w["age"] * age_z + w["comorbidity"] * comorbidity + w["unobserved"] * unobserved
    var = (w["age"] ** 2 + w["comorbidity"] ** 2 + w["unobserved"] ** 2
           + 2 * w["age"] * w["comorbidity"] * AGE_COMORBIDITY_CORR)  # fmt: skip
    return raw / np.sqrt(var)


def draw_latents(n: int, rng: np.random.Generator) -> Latents:
    """Draw the latent variables of ``n`` patients from their own random stream."""
    age_z = rng.standard_normal(n)
    rho = AGE_COMORBIDITY_CORR
    comorbidity = rho * age_z + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    unobserved = rng.standard_normal(n)
    frailty = frailty_of(age_z, comorbidity, unobserved)
    return Latents(age_z, comorbidity, unobserved, frailty, frailty_bin(frailty))


def chain_thetas(strength: float, state_corr: float, offset: float) -> tuple[tuple[float, float, float], ...]:
    """(θ_state, curvature, θ_end) of each frailty bin's chain (docs/data.md, ``mdp.tilted``).

    The state tilt makes a patient's severity score h ~ N(ρ m, 1 - ρ²) instead of N(0, 1)
    (``m = E[frailty | bin]``, ρ = ``state_corr``), so the mix over bins keeps h's marginal;
    the ending tilt multiplies the odds of death by ``e^{offset + strength m}``.
    """
    rho2 = state_corr**2
    curvature = rho2 / (2 * (1 - rho2))
    return tuple((float(state_corr * m / (1 - rho2)), float(curvature), float(offset + strength * m))
                 for m in frailty_bin_means())


def true_age(lat: Latents) -> np.ndarray:
    """Age in years from its latent z-score (reference mean and SD), clipped to 18-100."""
    ref = REF["age"]
    return np.round(np.clip(ref.mean + ref.sd * lat.age_z, 18.0, 100.0), ref.decimals)


def elixhauser(lat: Latents, rng: np.random.Generator) -> np.ndarray:
    """van Walraven-weighted Elixhauser score from 30 flags, more frequent with comorbidity burden."""
    n = len(lat.comorbidity)
    risk = np.exp(COMORBIDITY_LOG_RISK * lat.comorbidity - 0.5 * COMORBIDITY_LOG_RISK**2)
    score = np.zeros(n, dtype=np.int64)
    for _, weight, prevalence in ELIXHAUSER:  # 30 comorbidities, each vectorised over patients
        score += weight * (rng.random(n) < np.minimum(prevalence * risk, 0.95))
    return score


def re_admission(base_p: np.ndarray, lat: Latents, rng: np.random.Generator) -> np.ndarray:
    """Re-admission flag: the first state's implied probability, shifted in log odds by comorbidity."""
    p = np.clip(base_p, 1e-3, 1 - 1e-3)
    logit = np.log(p / (1 - p)) + READMISSION_LOG_ODDS * lat.comorbidity
    return (rng.random(len(p)) < 1 / (1 + np.exp(-logit))).astype(np.int64)
