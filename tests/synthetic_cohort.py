"""A small synthetic ICU cohort in the AI Clinician MIMICtable layout, with a learnable signal.

Stand-in for the cohort simulator in tests and benchmarks: one row per patient per 4-hour
bloc, direct identifiers, quasi-identifiers, statics, time-varying vitals/labs with
missing cells, and ``mortality_90d`` (~20% positives) driven by lactate (level and
trend), SOFA and age. ``anonymize_like`` gives the same frame the way an anonymizer
would return it (pseudonyms, generalized QIs, suppressed rows and cells).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from privhealth.data.schema import TableSchema

VITALS = {  # name: (mean, sd, effect of risk on the level)
    "HR": (90.0, 15.0, 6.0),
    "SysBP": (120.0, 18.0, -8.0),
    "MeanBP": (78.0, 12.0, -5.0),
    "RR": (20.0, 5.0, 2.0),
    "SpO2": (96.0, 2.5, -1.0),
    "Temp_C": (37.0, 0.7, 0.1),
    "Creatinine": (1.3, 0.6, 0.3),
    "WBC_count": (11.0, 4.0, 1.5),
    "Platelets_count": (220.0, 80.0, -25.0),
    "input_4hourly": (300.0, 200.0, 80.0),
}
LABS = ("Arterial_lactate", "Creatinine", "WBC_count", "Platelets_count")  # often missing

SCHEMA_DICT = {
    "bloc": {"role": "time", "kind": "integer"},
    "icustayid": {"role": "entity", "kind": "integer"},
    "charttime": {"role": "time", "kind": "integer"},
    "name": {"role": "direct", "kind": "string", "pii": "name"},
    "ssn": {"role": "direct", "kind": "string", "pii": "ssn"},
    "gender": {"role": "quasi", "kind": "binary"},
    "age": {"role": "quasi", "kind": "numeric"},
    "zip": {"role": "quasi", "kind": "string", "pii": "zip"},
    "elixhauser": {"role": "insensitive", "kind": "integer"},
    "re_admission": {"role": "insensitive", "kind": "binary"},
    "Weight_kg": {"role": "insensitive", "kind": "numeric"},
    **{v: {"role": "insensitive", "kind": "numeric"} for v in VITALS},
    "Arterial_lactate": {"role": "insensitive", "kind": "numeric"},
    "SOFA": {"role": "insensitive", "kind": "integer"},
    "died_in_hosp": {"role": "sensitive", "kind": "binary"},
    "mortality_90d": {"role": "target", "kind": "binary"},
}


def cohort_schema() -> TableSchema:
    return TableSchema.from_dict(SCHEMA_DICT)


def make_cohort(
    n_patients: int = 400, seed: int = 0, max_blocs: int = 10, signal: float = 1.0
) -> tuple[pd.DataFrame, TableSchema]:
    """Bloc-level frame and its schema; ``signal`` scales how much risk drives the features."""
    rng = np.random.default_rng(seed)
    n = n_patients
    age = rng.normal(65, 15, n).clip(18, 95)
    sofa0 = rng.poisson(5, n).astype(float)
    lact0 = rng.lognormal(0.4, 0.5, n)
    risk = 0.9 * (age - 65) / 15 + 0.8 * (sofa0 - 5) / 2.2 + 0.9 * (np.log(lact0) - 0.4) / 0.5
    risk = risk + rng.normal(0, 0.6, n)
    died = rng.random(n) < 1 / (1 + np.exp(-(-1.9 + 1.1 * risk)))
    blocs = rng.integers(2, max_blocs + 1, n)
    pid = np.repeat(np.arange(n), blocs)
    step = np.arange(len(pid)) - np.repeat(np.cumsum(blocs) - blocs, blocs)
    z = (risk - risk.mean()) / risk.std()
    rows = len(pid)
    start = rng.integers(4_000_000_000, 5_000_000_000, n)
    df = pd.DataFrame(
        {
            "bloc": step + 1,
            "icustayid": 200_000 + pid * 7,
            "charttime": start[pid] + 14_400 * step,
            "name": np.array([f"Patient {i}" for i in range(n)], dtype=object)[pid],
            "ssn": np.array([f"{i:03d}-{i % 97:02d}-{i:04d}" for i in range(n)], dtype=object)[pid],
            "gender": rng.integers(0, 2, n)[pid],
            "age": age.round(1)[pid],
            "zip": np.array([f"021{d:02d}" for d in rng.integers(0, 40, n)], dtype=object)[pid],
            "elixhauser": rng.poisson(3, n)[pid],
            "re_admission": rng.integers(0, 2, n)[pid],
            "Weight_kg": rng.normal(80, 15, n).round(1)[pid],
        }
    )
    for name, (mean, sd, effect) in VITALS.items():
        df[name] = mean + signal * effect * z[pid] + rng.normal(0, sd * 0.5, rows)
    # deterioration follows the latent risk, not the outcome itself (no label leak)
    trend = signal * (0.05 * z + rng.normal(0, 0.05, n))
    df["Arterial_lactate"] = (
        lact0[pid] * np.exp(trend[pid] * step) + rng.normal(0, 0.2, rows)
    ).clip(0.3)
    df["SOFA"] = (sofa0[pid] + np.round(2 * trend[pid] * step)).clip(0, 24)
    for lab in LABS:
        df.loc[rng.random(rows) < 0.2, lab] = np.nan
    df["died_in_hosp"] = (died & (rng.random(n) < 0.8)).astype(int)[pid]
    df["mortality_90d"] = died.astype(int)[pid]
    return df, cohort_schema()


def anonymize_like(frame: pd.DataFrame, seed: int = 1, suppress: float = 0.05) -> pd.DataFrame:
    """The frame as an anonymizer returns it: same index (fewer rows), pseudonyms, generalized QIs."""
    rng = np.random.default_rng(seed)
    out = frame.loc[rng.random(len(frame)) >= suppress].copy()
    codes, uniques = pd.factorize(out["icustayid"])
    tokens = np.array([f"P{h:08x}" for h in rng.permutation(len(uniques)) * 2654435761 % 2**32])
    out["icustayid"] = tokens[codes]
    out["name"] = "XXXX"
    out["ssn"] = "*"
    decade = (out["age"] // 10 * 10).astype(int)
    out["age"] = decade.astype(str) + "-" + (decade + 9).astype(str)
    out["zip"] = out["zip"].str.slice(0, 3) + "**"
    out["gender"] = out["gender"].astype(str).where(rng.random(len(out)) > 0.05, "*")
    for lab in ("Arterial_lactate", "Creatinine"):
        out.loc[rng.random(len(out)) < 0.05, lab] = np.nan
    return out


@functools.cache
def cached_cohort(n_patients: int = 400, seed: int = 0) -> tuple[pd.DataFrame, TableSchema]:
    """``make_cohort`` built once per test session (callers must not modify the frame)."""
    return make_cohort(n_patients, seed=seed)
