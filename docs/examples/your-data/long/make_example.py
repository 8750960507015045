"""Writes the synthetic long-table example (no real patient): static.csv (one row per patient) and
labs.csv (one row per measurement: patient, time, variable, value), seeded so the files are stable.

Run from the repository root: ``python docs/examples/your-data/long/make_example.py``.
Patients who die (``died``) have a higher, rising lactate and a faster heart rate over their
first day, so a sequence model has something to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N_PATIENTS = 80


def make(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pid = np.arange(101, 101 + N_PATIENTS)
    age = rng.integers(25, 90, N_PATIENTS)
    sex = rng.choice(["F", "M"], N_PATIENTS)
    died = (rng.random(N_PATIENTS) < 0.15 + 0.35 * (age > 70)).astype(int)
    admit = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 300, N_PATIENTS), unit="D")
    static = pd.DataFrame({"patient": pid, "age": age, "sex": sex,
                           "admit_date": admit.strftime("%Y-%m-%d"), "died": died})
    n_meas = rng.integers(2, 5, N_PATIENTS)  # measurement times per patient over the first 30 h of the day
    who = np.repeat(np.arange(N_PATIENTS), n_meas)
    hours = rng.uniform(0, 30, len(who))
    times = admit.to_numpy()[who] + pd.to_timedelta(np.round(hours * 60), unit="m").to_numpy()
    sick = died[who]
    values = {
        "heart_rate": 80 + 15 * sick + 4 * rng.standard_normal(len(who)),
        "lactate": 1.2 + sick * (1.0 + 0.08 * hours) + 0.3 * rng.standard_normal(len(who)),
        "sbp": 125 - 12 * sick + 8 * rng.standard_normal(len(who)),
    }
    long = pd.concat([
        pd.DataFrame({"patient": pid[who], "charttime": pd.DatetimeIndex(times).strftime("%Y-%m-%d %H:%M"),
                      "label": name, "valuenum": np.round(v, 1)})
        for name, v in values.items()
    ])
    keep = rng.random(len(long)) < 0.85  # not every variable at every time
    long = long.loc[keep].sort_values(["patient", "charttime", "label"], kind="stable")
    return static, long


if __name__ == "__main__":
    static, long = make()
    static.to_csv(HERE / "static.csv", index=False)
    long.to_csv(HERE / "labs.csv", index=False)
    print(f"static.csv: {len(static)} patients; labs.csv: {len(long)} measurements")
