"""An embedded stand-in for the MIMIC-III sepsis cohort (``MIMICtable.csv``), built on a real MDP.

Patients are rolled out under the clinicians' policy of the AI Clinician MDP (icu-sepsis'
``dynamics.npz``, estimated from MIMIC-III), so state sequences, treatment and 90-day mortality
follow the real cohort's dynamics. Each recorded 4-hour bloc gets clinical values: the cluster
centre of the current state plus within-cluster noise (a per-patient random effect plus an
AR(1) bloc term, so series are autocorrelated), de-standardised with the approximate reference
scales of ``privhealth.data.reference`` and clipped to physiological ranges. Fluid and
vasopressor doses come from the sampled action's dose bin; cumulative fluids are cumulated.

``simulate_cohort`` returns exactly what ``load_mimictable`` returns for the same data (age in
years, top-coded at 90); ``privhealth.data.mimic.to_mimictable_csv`` writes the raw layout.
What it does not reproduce: correlations beyond what the 713 states carry, real identifiers,
real lengths of record (the MDP's stays, ~8 recorded blocs on average, are shorter than many
real ones).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr

from privhealth.data import identifiers as ids
from privhealth.data import latent
from privhealth.data import mdp as mdp_module
from privhealth.data.mdp import load_mdp, occupancy, rollout
from privhealth.data.mimic import (
    DAYS_PER_YEAR,
    MIMIC_SHIFTED_AGE,
    MIMICTABLE_COLUMNS,
    mimictable_dataset,
)
from privhealth.data.reference import (
    FEATURES_47,
    FLUID_BIN_EDGES,
    REF,
    VASO_BIN_EDGES,
    Ref,
)
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError

attach_identifiers = ids.attach_identifiers  # re-exported: identities for a real MIMICtable

RANDOM_EFFECT_SHARE = 0.5  # share of within-state variance that is constant per patient
AR_COEF = 0.6  # lag-1 autocorrelation of the per-bloc part of the noise
GROUP_SHARE = 0.6  # share of noise common to physiologically linked features
FRAILTY = 1.0  # default tilt strength (0: the pure MDP); see latent.chain_thetas and docs/data.md
FRAILTY_STATE_CORR = 0.8  # correlation of frailty with the visited states' severity score
FRAILTY_END = 1.0  # log odds ratio of death at the end of a stay per unit frailty (x strength)
FRAILTY_LABS = 1.5  # frailty's share of the patient-level lab/vital deviations (x centre correlation)
FRAILTY_OFFSET = -0.6  # θ_end shift keeping 90-day mortality near the published cohort's
VAR_FLOOR = 0.05  # least within-state variance (z units) when centres already explain ~all
BLOC_SECONDS = 4 * 3600
GROUPS: dict[str, tuple[str, ...]] = {
    "blood_pressure": ("SysBP", "MeanBP", "DiaBP"),
    "acid_base": ("Arterial_pH", "Arterial_BE", "HCO3"),
    "coagulation": ("PTT", "PT", "INR"),
    "liver": ("SGOT", "SGPT"),
    "renal": ("BUN", "Creatinine"),
}
STATIC = ("gender", "re_admission", "age", "Weight_kg")
# Features drawn per bloc from centre + noise (everything else is static, derived or action-based).
PER_BLOC_FEATURES = tuple(
    f
    for f in FEATURES_47
    if REF[f].encoding != "binary"
    and f not in STATIC
    and f not in ("Shock_Index", "PaO2_FiO2", "cumulated_balance")
    and f not in ("input_total", "input_4hourly", "output_total")
)
_INTEGER = ("GCS", "SOFA", "SIRS")
SCORES = ("SOFA", "SIRS")  # composite scores: no frailty share in their noise (see _physiology)


@lru_cache(maxsize=8)
def within_sd(max_blocs: int) -> np.ndarray:
    """Within-state SD per feature (z units) so that the marginal variance over recorded blocs is ~1."""
    c = load_mdp().centres
    w = occupancy(max_blocs)
    between = w @ (c - w @ c) ** 2
    return np.sqrt(np.maximum(1.0 - between, VAR_FLOOR))


def _decode(ref: Ref, z: np.ndarray) -> np.ndarray:
    """z-score (or z-score of log(x + 0.1)) back to clinical units, clipped to the physiological range."""
    x = ref.mean + ref.sd * z
    if ref.encoding == "log":
        x = np.exp(x) - 0.1
    return np.clip(x, ref.lo, ref.hi)


def _autocorrelated(rng: np.random.Generator, n: int, blocs: int) -> np.ndarray:
    """Unit-variance noise per (patient, bloc): a patient random effect plus a stationary AR(1)."""
    e = rng.standard_normal((n, blocs))
    e[:, 0] /= np.sqrt(1 - AR_COEF**2)
    ar = lfilter([np.sqrt(1 - AR_COEF**2)], [1.0, -AR_COEF], e, axis=1)
    u = rng.standard_normal((n, 1))
    return np.sqrt(RANDOM_EFFECT_SHARE) * u + np.sqrt(1 - RANDOM_EFFECT_SHARE) * ar


def _log_uniform(
    bins: np.ndarray, edges: tuple[tuple[float, float], ...], rng: np.random.Generator
) -> np.ndarray:
    """A dose per cell, log-uniform within its bin's edges; 0 where the bin is 0 (no drug)."""
    e = np.log(np.array(((1.0, 1.0),) + edges))
    lo, hi = e[bins, 0], e[bins, 1]
    return np.where(bins > 0, np.exp(lo + (hi - lo) * rng.random(bins.shape)), 0.0)


def _outcomes(died: np.ndarray, extra_steps: np.ndarray, rng: np.random.Generator) -> dict:
    """Hospital-death flags and the delay (hours) from the last recorded bloc to discharge or death."""
    n = len(died)
    soon = rng.random(n) < 0.6
    to_death = np.where(soon, rng.exponential(10.0, n), rng.exponential(250.0, n))
    to_discharge = rng.lognormal(np.log(72.0), 0.9, n)
    delay = np.minimum(4.0 * extra_steps + np.where(died, to_death, to_discharge), 90 * 24.0)
    within_48h = died & (delay <= 48)
    in_hosp = died & (within_48h | (rng.random(n) < 0.55))
    return {
        "died_in_hosp": in_hosp.astype(np.int64),
        "died_within_48h_of_out_time": within_48h.astype(np.int64),
        "mortality_90d": died.astype(np.int64),
        "delay_end_of_record_and_discharge_or_death": np.round(delay, 1),
    }


def chain_thetas(frailty: float) -> tuple[tuple[float, float, float], ...]:
    """(θ_state, curvature, θ_end) of each frailty bin's chain (``((0, 0, 0),)``: the pure MDP).

    ``frailty`` scales both tilts: the state correlation is ``FRAILTY_STATE_CORR * min(frailty, 1)``.
    """
    if frailty == 0:
        return ((0.0, 0.0, 0.0),)
    corr = FRAILTY_STATE_CORR * min(frailty, 1.0)
    return latent.chain_thetas(float(frailty) * FRAILTY_END, corr, FRAILTY_OFFSET)


def _validate_args(n_patients: int, max_blocs: int, hard_cap: int) -> None:
    if not isinstance(n_patients, int | np.integer) or n_patients < 1:
        raise ConfigError(f"simulate_cohort: n_patients must be a positive integer, got {n_patients!r}")
    if not isinstance(max_blocs, int | np.integer) or max_blocs < 1:
        raise ConfigError(f"simulate_cohort: max_blocs must be a positive integer, got {max_blocs!r}")
    if hard_cap < max_blocs:
        raise ConfigError("simulate_cohort: hard_cap must be at least max_blocs")


def _validate_frailty(frailty: float) -> float:
    if isinstance(frailty, bool) or not isinstance(frailty, int | float) or not 0 <= frailty <= 5:
        raise ConfigError(f"simulate_cohort: frailty must be a number in [0, 5] (0 = pure MDP), got {frailty!r}")
    return float(frailty)


def _centre(feature: str, states: np.ndarray) -> np.ndarray:
    """The cluster centre (z units) of ``feature`` for each state in ``states``."""
    return load_mdp().centres[:, FEATURES_47.index(feature)][states]


def _noisy(feature: str, states: np.ndarray, noise: np.ndarray, blocs: int) -> np.ndarray:
    """Centre + scaled within-state noise, in clinical units, clipped and rounded."""
    ref = REF[feature]
    sd = within_sd(blocs)[FEATURES_47.index(feature)]
    return np.round(_decode(ref, _centre(feature, states) + sd * noise), ref.decimals)


@lru_cache(maxsize=1)
def severity_loading() -> np.ndarray:
    """Correlation of each feature's state centre with the severity score h, over d0 (47,)."""
    m = mdp_module.load_mdp()
    h, c, w = mdp_module.severity(), m.centres, m.d0
    hc, cc = h - w @ h, c - w @ c
    return (w @ (hc[:, None] * cc)) / np.sqrt((w @ hc**2) * (w @ cc**2) + 1e-12)


def _physiology(st: np.ndarray, rng: np.random.Generator, frailty: np.ndarray | None = None,
                loading: float = 0.0) -> dict[str, np.ndarray]:
    """Per-bloc vitals and labs (n x blocs), with ordered blood pressures and recomputed ratios.

    With ``frailty``, each feature's noise shares a patient-level part ``λ_f frailty`` (λ_f =
    ``loading`` × the feature centres' correlation with severity), variance kept at 1.
    """
    n, blocs = st.shape
    group_noise = {g: _autocorrelated(rng, n, blocs) for g in GROUPS}
    group_of = {f: g for g, fs in GROUPS.items() for f in fs}
    lam = np.clip(loading * severity_loading(), -0.9, 0.9)
    lam[[FEATURES_47.index(f) for f in SCORES]] = 0.0  # scores follow the state, not the patient
    v: dict[str, np.ndarray] = {}
    for f in PER_BLOC_FEATURES:
        noise = _autocorrelated(rng, n, blocs)
        if f in group_of:
            noise = np.sqrt(GROUP_SHARE) * group_noise[group_of[f]] + np.sqrt(1 - GROUP_SHARE) * noise
        if frailty is not None:
            k = lam[FEATURES_47.index(f)]
            noise = np.sqrt(1 - k**2) * noise + k * frailty[:, None]
        v[f] = _noisy(f, st, noise, blocs)
    p_vent = np.clip(_centre("mechvent", st) + 0.5, 0, 1)  # binary: a copula keeps runs of 0s/1s
    v["mechvent"] = (ndtr(_autocorrelated(rng, n, blocs)) < p_vent).astype(np.int64)
    v["DiaBP"] = np.minimum(v["DiaBP"], v["SysBP"] - 5)
    v["MeanBP"] = np.clip(v["MeanBP"], v["DiaBP"] + 1, v["SysBP"] - 1)
    v["Shock_Index"] = np.round(v["HR"] / v["SysBP"], 3)
    v["PaO2_FiO2"] = np.round(v["paO2"] / v["FiO2_1"], 1)
    for f in _INTEGER:
        v[f] = v[f].astype(np.int64)
    return v


def _treatment(v: dict[str, np.ndarray], act: np.ndarray, rng: np.random.Generator) -> None:
    """Doses from the sampled actions (action = 5 * fluid_bin + vaso_bin), cumulative fluids."""
    v["input_4hourly"] = np.round(_log_uniform(act // 5, FLUID_BIN_EDGES, rng))
    v["max_dose_vaso"] = np.round(_log_uniform(act % 5, VASO_BIN_EDGES, rng), 3)
    v["median_dose_vaso"] = np.round(v["max_dose_vaso"] * rng.uniform(0.5, 1.0, act.shape), 3)


def _cumulative_fluids(
    v: dict[str, np.ndarray], s0: np.ndarray, blocs: int, rng: np.random.Generator
) -> None:
    """Totals = a pre-ICU amount (from the first state) plus the running sum; never decreasing."""
    for total, per_bloc in (("input_total", "input_4hourly"), ("output_total", "output_4hourly")):
        at_first_bloc = _noisy(total, s0, rng.standard_normal(len(s0)), blocs)
        before_icu = np.maximum(at_first_bloc - v[per_bloc][:, 0], 0)
        v[total] = before_icu[:, None] + np.cumsum(v[per_bloc], axis=1)
    v["cumulated_balance"] = v["input_total"] - v["output_total"]


def _extra_columns(v: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """MIMICtable columns outside the 47 features, derived plausibly from their neighbours."""
    shape = v["HR"].shape
    ionised = 0.135 * v["Calcium"] + 0.05 * rng.standard_normal(shape)
    v["Ionised_Ca"] = np.round(np.clip(ionised, 0.5, 2.0), 2)
    v["CO2_mEqL"] = np.round(np.clip(v["HCO3"] + 1.0 + 1.2 * rng.standard_normal(shape), 3, 55))
    albumin = 2.9 + 0.45 * rng.standard_normal((shape[0], 1)) - 0.04 * (v["SOFA"] - 6)
    v["Albumin"] = np.round(np.clip(albumin + 0.15 * rng.standard_normal(shape), 1.0, 5.0), 1)


def _calendar(
    n: int, blocs: int, rng: np.random.Generator, admission_years: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stay ids (MIMIC-III range, sorted), real admission dates, and date-shifted charttimes.

    Each patient's calendar is shifted by a whole number of weeks into 2100-2200 (MIMIC keeps
    the day of the week); the first bloc starts 0-72 h after admission, blocs 4 h apart.
    """
    stay_ids = np.sort(rng.choice(max(100_000, 10 * n), size=n, replace=False)) + 200_001
    admission = ids.draw_admission_dates(n, rng, admission_years)
    shift_days = 7 * np.rint(rng.uniform(100, 180, n) * DAYS_PER_YEAR / 7).astype(np.int64)
    shifted_day = (admission + shift_days.astype("timedelta64[D]")).astype("datetime64[s]")
    start = shifted_day.astype(np.int64) + rng.integers(0, 3 * 86400, n)
    charttime = start[:, None] + BLOC_SECONDS * np.arange(blocs)[None, :]
    return stay_ids, admission, charttime


def simulate_cohort(
    n_patients: int,
    seed: int,
    max_blocs: int = 20,
    identifiers: bool = True,
    *,
    shift_ages_over_89: bool = True,
    hard_cap: int = 500,
    admission_years: tuple[int, int] = ids.ADMISSION_YEARS,
    frailty: float = FRAILTY,
) -> Dataset:
    """Simulate ``n_patients`` ICU stays as a bloc-level MIMICtable Dataset (deterministic per seed).

    The frame is what ``load_mimictable`` would return for the same data: MIMICtable columns in
    file order, age in years top-coded at 90, then (if ``identifiers``) synthetic identities.
    ``shift_ages_over_89`` stores ages of 90+ as ~300 years in the raw layout, like MIMIC-III.
    ``frailty`` is the strength of the per-patient tilt of the MDP (docs/data.md); 0 keeps the
    pure MDP dynamics. No column except the four outcome columns is drawn from the outcome.
    """
    _validate_args(n_patients, max_blocs, hard_cap)
    strength = _validate_frailty(frailty)
    n, blocs = int(n_patients), int(max_blocs)
    r_mdp, r_static, r_feat, r_out, r_time, r_id, r_latent = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)
    )
    lat = latent.draw_latents(n, r_latent)
    thetas = chain_thetas(strength)
    group = lat.frailty_bin if len(thetas) > 1 else None
    ro = rollout(n, r_mdp, blocs, hard_cap, group, thetas)
    mask = np.arange(blocs)[None, :] < ro.n_blocs[:, None]
    st = np.where(mask, ro.states, 0).astype(np.intp)  # padding cells use state 0, dropped later
    act = np.where(mask, ro.actions, 0).astype(np.intp)

    # patient-level attributes: from the latent variables and the (frailty-tilted) first state
    s0 = st[:, 0]
    gender = (r_static.random(n) < np.clip(_centre("gender", s0) + 0.5, 0, 1)).astype(np.int64)
    p_readm = np.clip(_centre("re_admission", s0) + 0.5, 0, 1)
    re_admission = latent.re_admission(p_readm, lat, r_static)
    true_age = latent.true_age(lat)
    weight = _noisy("Weight_kg", s0, r_static.standard_normal(n), blocs)

    v = _physiology(st, r_feat, lat.frailty if group is not None else None, FRAILTY_LABS)
    _treatment(v, act, r_feat)
    _cumulative_fluids(v, s0, blocs, r_feat)
    _extra_columns(v, r_feat)

    stay_ids, admission, charttime = _calendar(n, blocs, r_time, admission_years)
    age_days = true_age * DAYS_PER_YEAR
    if shift_ages_over_89:
        old = true_age >= 90
        age_days[old] = (MIMIC_SHIFTED_AGE + r_time.random(old.sum())) * DAYS_PER_YEAR
    patient = {
        "icustayid": stay_ids,
        "gender": gender,
        "age": age_days,
        "elixhauser": latent.elixhauser(lat, r_static),
        "re_admission": re_admission,
        **_outcomes(ro.died, ro.n_steps - ro.n_blocs, r_out),
        "Weight_kg": weight,
    }
    reps = ro.n_blocs
    cols = {"bloc": np.broadcast_to(np.arange(1, blocs + 1), mask.shape)[mask]}
    cols["charttime"] = charttime[mask]
    cols.update({k: np.repeat(a, reps) for k, a in patient.items()})
    cols.update({k: a[mask] for k, a in v.items()})
    raw = pd.DataFrame({c: cols[c] for c in MIMICTABLE_COLUMNS})

    identities = None
    if identifiers:
        people = ids.generate_identities(true_age, gender, r_id, admission=admission)
        identities = people.iloc[np.repeat(np.arange(n), reps)].reset_index(drop=True)
    meta = {
        "generator": "privhealth.data.simulator.simulate_cohort",
        "seed": seed,
        "n_patients": n,
        "max_blocs": blocs,
        "mdp": "icu-sepsis dynamics.npz (AI Clinician MDP, Komorowski et al. 2018), clinician policy",
        "reference_scales": "privhealth.data.reference (approximate literature values, not MIMIC)",
        "frailty": strength,
        "mortality_90d_rate": float(ro.died.mean()),
        "stays_truncated_at_max_blocs": int((ro.n_steps > blocs).sum()),
    }
    source = f"simulate_cohort(seed={seed})"
    return mimictable_dataset(raw, source, "simulated_mimictable", identities, meta)
