"""Sweep throughput: runs per hour of a Hydra multirun grid, with and without the caches.

    .venv/bin/python benchmarks/sweep_throughput.py [--quick]

The grid ``anon=optimal anon.k=2,5,10,20 model=logreg,rf,xgboost`` on 1,000 simulated
patients: 4 releases, each shared by 3 model runs, 12 runs. Three modes, each a real
``privhealth-run -m`` subprocess in a fresh temporary folder (its own MLflow SQLite store,
cache, outputs and pseudonymization key; nothing is written into the repository):

- cache off: ``cache.enabled=false``, every run anonymizes (and assesses) its release;
- cache empty: the caches start empty, so the first run of each release fills them;
- cache warm: the same command again on the filled cache.

Wall time includes the interpreter start, the MLflow store's creation and Hydra's launch:
what a user waits for. Every run must end FINISHED, and the test, raw, privacy, risk and
utility metrics of each (k, model) must be the same in the three modes (timing metrics
aside) to a relative 1e-9; values that are not bit-identical are counted and listed, beside
the spread of the cache-off sweep's own repeats of each raw-data model (run-to-run noise).
``--quick``: a 2-run grid (one release, two models) on 200 patients, 50 bootstrap samples,
no inference timing, a 20,000-candidate pseudonym-reversal dictionary (a smoke test).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Section, cli, machine_line, table, verdict

KEY = "bench-key-0123456789abcdef0123456789"
CACHE_METRICS = ("cache/release_hit", "cache/risk_hit")
COMPARED = ("test/", "privacy/", "risk/", "raw/", "utility/")
REL_TOL = 1e-9  # "identical": equal to this relative difference (floating-point summation order aside)


@dataclass
class ModeResult:
    """One multirun: wall seconds, runs by status, cache hits, and each run's compared metrics."""

    name: str
    wall_s: float
    n_runs: int
    n_finished: int
    hits: dict[str, int]
    metrics: dict[tuple[str, str], dict[str, float]]

    @property
    def runs_per_hour(self) -> float:
        return self.n_finished / self.wall_s * 3600


def grid(quick: bool) -> list[str]:
    """The multirun overrides: 12 runs on 1,000 patients, or 2 runs on 200 (``quick``)."""
    if quick:
        return ["anon=optimal", "anon.k=5", "model=logreg,xgboost", "data.n_patients=200",
                "evaluation.n_bootstrap=50", "evaluation.inference_timing=null",
                "attack.reversal_max_candidates=20000"]
    return ["anon=optimal", "anon.k=2,5,10,20", "model=logreg,rf,xgboost", "data.n_patients=1000"]


def launch(root: Path, overrides: list[str], timeout: float) -> float:
    """Run the sweep as a subprocess with everything under ``root``; its wall seconds."""
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "privhealth.experiments.run", "-m", *overrides],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def collect(name: str, store: Path, wall: float) -> ModeResult:
    """The sweep's child runs from the mode's own MLflow store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    exp = client.get_experiment_by_name("privhealth")
    runs = [r for r in client.search_runs([exp.experiment_id], max_results=1000)
            if r.data.tags.get("privhealth.kind") == "run"]
    hits = {m: sum(int(r.data.metrics.get(m, 0.0)) for r in runs) for m in CACHE_METRICS}
    metrics = {
        (r.data.params.get("anon.k", "?"), r.data.tags.get("privhealth.model", "?")): {
            k: v for k, v in r.data.metrics.items()
            if k.startswith(COMPARED) and not k.endswith("_seconds")
        }
        for r in runs
    }
    return ModeResult(name, wall, len(runs), sum(r.info.status == "FINISHED" for r in runs), hits, metrics)



def rel_diff(x: float | None, y: float | None) -> float:
    """|x - y| relative to the larger magnitude; inf when one side is missing."""
    if x is None or y is None:
        return 0.0 if x is y else float("inf")
    if x == y or (math.isnan(x) and math.isnan(y)):
        return 0.0
    return abs(x - y) / max(abs(x), abs(y), 1e-300)


def differences(a: ModeResult, b: ModeResult) -> list[tuple[str, float]]:
    """Metrics not bit-identical between two modes (same run, same name), with their relative difference."""
    out = []
    for run in sorted(set(a.metrics) | set(b.metrics)):
        ma, mb = a.metrics.get(run, {}), b.metrics.get(run, {})
        for k in sorted(set(ma) | set(mb)):
            d = rel_diff(ma.get(k), mb.get(k))
            if d > 0:
                out.append((f"k={run[0]} {run[1]} {k}: {ma.get(k)} vs {mb.get(k)}", d))
    return out


def repeat_spread(mode: ModeResult) -> tuple[int, float]:
    """Raw-data metrics the cache-off sweep computed once per k on identical input: (how many vary, max rel diff)."""
    by_model: dict[tuple[str, str], list[float]] = {}
    for (_, model), metrics in mode.metrics.items():
        for k, v in metrics.items():
            if k.startswith("raw/"):
                by_model.setdefault((model, k), []).append(v)
    spreads = [max(rel_diff(v, vs[0]) for v in vs) for vs in by_model.values() if len(vs) > 1]
    return sum(d > 0 for d in spreads), max(spreads, default=0.0)


def run(quick: bool = False) -> Section:
    overrides = grid(quick)
    timeout = 300 if quick else 900
    results: list[ModeResult] = []
    with tempfile.TemporaryDirectory(prefix="privhealth-sweep-bench-") as tmp:
        for name, sub, mode in [("cache off", "off", "off"), ("cache empty", "cached", "empty"),
                                ("cache warm (rerun)", "cached", "warm")]:
            root = Path(tmp) / sub  # the warm rerun shares the folder (key path, cache) of "empty"
            key = root / ".secrets" / "pseudonym.key"
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text(KEY)
            extra = [f"tracking.uri=sqlite:///{root}/mlflow-{mode}.db",  # a fresh store per mode
                     f"tracking.artifact_root={root}/mlartifacts-{mode}",
                     f"hydra.sweep.dir={root}/multirun-{mode}"]
            if mode == "off":
                extra.append("cache.enabled=false")
            wall = launch(root, overrides + extra, timeout)
            results.append(collect(name, root / f"mlflow-{mode}.db", wall))
            print(f"  {name}: {wall:.1f} s ({machine_line()})", file=sys.stderr, flush=True)

    base = results[0]
    expected = len(base.metrics) if base.metrics else 0
    rows = [[r.name, f"{r.wall_s:.1f}", f"{r.runs_per_hour:,.0f}", f"{base.wall_s / r.wall_s:.2f}×",
             f"{r.n_finished} / {r.n_runs}", r.hits["cache/release_hit"], r.hits["cache/risk_hit"]]
            for r in results]
    diffs = [d for r in results[1:] for d in differences(base, r)]
    worst = max((d for _, d in diffs), default=0.0)
    all_finished = all(r.n_finished == r.n_runs == expected > 0 for r in results)
    same_runs = all(set(r.metrics) == set(base.metrics) for r in results)
    identical = same_runs and worst <= REL_TOL
    n_metrics = sum(len(m) for m in base.metrics.values())
    n_vary, spread = repeat_spread(base)
    body = [
        f"`privhealth-run -m {' '.join(overrides)}` ({expected} runs), sequential launcher; "
        f"{machine_line()}. Each mode is a fresh subprocess with its own MLflow store and outputs; "
        "wall time includes interpreter start-up, store creation and Hydra's launch. "
        "`release hits` / `risk hits`: runs whose metric `cache/release_hit` / `cache/risk_hit` is 1.\n",
        table(["mode", "wall s", "runs / hour", "speed-up vs off", "FINISHED / runs",
               "release hits", "risk hits"], rows),
        f"results identical: {'yes' if identical else 'no'} — {n_metrics} test/raw/privacy/risk/utility "
        f"metrics of {expected} runs compared between the modes (timings aside), equal to a relative "
        f"{REL_TOL:g}; bit for bit: "
        + (f"all but {len(diffs)} of the {2 * n_metrics} compared pairs (largest relative difference "
           f"{worst:.1e})" if diffs else "all") + ".\n",
    ]
    if len({k for k, _ in base.metrics}) > 1:
        body.append(
            f"Run-to-run noise for scale: the cache-off sweep trains each raw-data model once per k on "
            f"the same input; {n_vary} of those raw/ metrics already differ between its own repeats "
            f"(largest relative difference {spread:.1e}).\n")
    if diffs:
        body.append("Values not bit-identical to the cache-off sweep (first 10):\n\n"
                    + "\n".join(f"- {d}" for d, _ in diffs[:10]) + "\n")
    empty, warm = results[1], results[2]
    verdicts = [
        f"all {expected} runs FINISHED in every mode: {verdict(all_finished)}",
        f"the cache speeds the sweep up (> 1×) without changing results: empty cache "
        f"{base.wall_s / empty.wall_s:.2f}×, warm {base.wall_s / warm.wall_s:.2f}×, results identical "
        f"(to {REL_TOL:g}) {'yes' if identical else 'no'}: {verdict(identical and base.wall_s / empty.wall_s > 1)}",
    ]
    return Section("Sweep throughput with the release and risk caches", "\n".join(body), verdicts)


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
