"""Timing of the embedded cohort simulator, the loader round trip and the voter list (not a test).

Run: .venv/bin/python benchmarks/bench_simulator.py [n_patients]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from privhealth.data.mdp import load_mdp
from privhealth.data.mimic import load_mimictable, to_mimictable_csv
from privhealth.data.population import simulate_population
from privhealth.data.simulator import simulate_cohort


def _timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - t0:7.2f} s")
    return out


def main(n: int = 10_000) -> None:
    _timed("load the icu-sepsis MDP (once per process)", load_mdp)
    data = _timed(f"simulate_cohort({n:,}) with identifiers", lambda: simulate_cohort(n, seed=0))
    _timed(f"simulate_cohort({n:,}) without identifiers",
           lambda: simulate_cohort(n, seed=0, identifiers=False))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "MIMICtable.csv"
        _timed(f"to_mimictable_csv ({len(data.frame):,} rows)", lambda: to_mimictable_csv(data, path))
        _timed("load_mimictable", lambda: load_mimictable(path))
    _timed("simulate_population(coverage 0.5, +5n extra)",
           lambda: simulate_population(data, 0.5, 0.05, 5 * n, seed=0))  # fmt: skip
    stays = data.frame.drop_duplicates("icustayid")
    f = data.frame
    print(f"rows {len(f):,}; stays {len(stays):,}; 90-day mortality {stays['mortality_90d'].mean():.3f}")
    print("bloc-level means: " + ", ".join(
        f"{c} {f[c].mean():.2f}" for c in ("HR", "SysBP", "MeanBP", "RR", "Temp_C", "SpO2",
                                           "Arterial_lactate", "SOFA", "GCS")))  # fmt: skip
    print(f"mean age {stays['age'].mean():.1f} y; male {(stays['gender'] == 0).mean():.3f}; "
          f"lactate median {f['Arterial_lactate'].median():.2f}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
