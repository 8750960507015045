"""The simulator and the whole experiment pipeline at 1,000 / 10,000 / 100,000 patients.

    .venv/bin/python benchmarks/pipeline_scaling.py [--quick]

Each size runs the real pipeline (``privhealth.experiments.pipeline.run_pipeline``) with the
default config (``conf/config.yaml``: simulated cohort, the paper's rule set, privacy
models, every attack with a simulated voter list, rf and xgboost trained on raw and
released data with bootstrap CIs, MLflow logging) composed by Hydra with only
``data.n_patients`` changed, the release cache off, MLflow on a SQLite store and the
pseudonymization key in a temporary folder. Each size runs in a fresh subprocess, so its
peak resident memory (``ru_maxrss``) is its own. Stage times are the pipeline's own timer
(``result.timings``); *log* is the rest of ``run_pipeline``'s wall time (MLflow runs,
params, metrics and artifacts). ``--quick`` runs 200 and 1,000 patients with the tests'
fast model settings (figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Section, fmt_s, machine_line, table, verdict

FULL_SIZES = [1_000, 10_000, 100_000]
QUICK_SIZES = [200, 1_000]
QUICK_OVERRIDES = [  # the tests' fast settings (tests/pipeline_helpers.py)
    "evaluation.n_bootstrap=200",
    "model.rf.n_estimators=50",
    "model.xgboost.n_estimators=60",
]
BUDGET_S = 480.0  # full mode: 8 minutes for every size together
QUICK_BUDGET_S = 120.0  # quick mode takes about 30 s; the limit only guards a hung child
MEMORY_GIB = 24.0
MAX_EXPONENT = 1.1  # n log n from 10k to 100k is 10^1.09; above that a stage grows faster
STAGES = [("generate", ["load"]), ("split", ["split"]), ("anonymize", ["anonymize"]),
          ("measure", ["measure"]), ("attack", ["attack"])]


def child(n: int, root: Path, overrides: list[str]) -> dict:
    """One pipeline run at ``n`` patients in this process: stage seconds, wall time, peak RSS."""
    import resource

    from hydra import compose, initialize_config_dir

    from privhealth.experiments.pipeline import run_pipeline

    key = root / ".secrets" / "pseudonym.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("benchmark-key-0123456789abcdef0123456789")
    ov = [f"paths.root={root}", f"data.n_patients={n}", "cache.enabled=false", *overrides]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=ov)
    t0 = time.perf_counter()
    result = run_pipeline(cfg)
    wall = time.perf_counter() - t0
    return {
        "n": n,
        "timings": dict(result.timings),
        "wall_s": wall,
        "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "models": [m.name for m in result.models],
        "rows": int(len(result.release.frame)),
    }


def run_size(n: int, quick: bool, limit_s: float) -> dict | None:
    """``child`` in a fresh interpreter; None when it ran past ``limit_s`` (it is killed)."""
    with tempfile.TemporaryDirectory(prefix="privhealth-bench-") as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--root", tmp] + (["--quick"] if quick else [])
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)  # the key file in the temp root is used
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s, cwd=tmp, env=env)
        except subprocess.TimeoutExpired:
            return None
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline at {n} patients failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stage_rows(res: dict) -> dict[str, float]:
    """Seconds per reported stage: the timer's stages, train summed over models, log the rest."""
    t = res["timings"]
    out = {name: sum(t.get(k, 0.0) for k in keys) for name, keys in STAGES}
    for m in res["models"]:
        out[f"train {m}"] = t.get(f"train_{m}", 0.0)
    out["log (MLflow)"] = max(0.0, res["wall_s"] - sum(t.values()))
    out["total"] = res["wall_s"]
    return out


def exponent(t_small: float, t_big: float, factor: float) -> float | None:
    """log(t_big / t_small) / log(factor); None when a time is too small to say."""
    if t_small < 0.05 or t_big <= 0:
        return None
    return math.log(t_big / t_small) / math.log(factor)


def run(quick: bool = False) -> Section:
    sizes = QUICK_SIZES if quick else FULL_SIZES
    start = time.perf_counter()
    results: dict[int, dict | None] = {}
    for n in sizes:
        left = (QUICK_BUDGET_S if quick else BUDGET_S) - (time.perf_counter() - start)
        results[n] = run_size(n, quick, max(left, 1.0)) if left > 1.0 else None
        print(f"[pipeline_scaling] {n:,} patients: "
              f"{'done' if results[n] else 'over the budget'} ({machine_line()})", file=sys.stderr, flush=True)
    done = {n: stage_rows(r) for n, r in results.items() if r}
    names = list(next(iter(done.values())).keys()) if done else []
    big, small = sizes[-1], sizes[-2]
    factor = big / small
    grow_ok, exps = True, {}
    for name in names:
        e = exponent(done[small][name], done[big][name], factor) if big in done and small in done else None
        exps[name] = e
        if e is not None and name != "total":
            grow_ok &= e <= MAX_EXPONENT
    rows = []
    for name in names:
        e = exps[name]
        rows.append([name] + [fmt_s(done[n][name]) if n in done else "> budget" for n in sizes]
                    + ["n/a" if e is None else f"{e:.2f}"])
    rows.append(["peak RSS (GiB)"] + [f"{results[n]['rss_gib']:.2f}" if results[n] else "n/a" for n in sizes]
                + [""])
    rss_big = results[big]["rss_gib"] if results[big] else None
    over = [n for n in sizes if not results[n]]
    budget = f"{QUICK_BUDGET_S if quick else BUDGET_S:.0f} s"
    body = [
        "The real pipeline (`run_pipeline`) with the default config (`conf/config.yaml`: simulated "
        "cohort, `anon=paper_rules`, privacy models, every attack against a simulated voter list "
        "(coverage 0.6, twice as many non-patients), `model=[rf, xgboost]` trained on the raw and "
        "the released data with bootstrap CIs (1,000 by default), MLflow on SQLite), only "
        f"`data.n_patients` changed{' plus the fast model settings ' + ', '.join(QUICK_OVERRIDES) if quick else ''}; "
        "release cache off; each size in a fresh subprocess (peak RSS is its own). Seconds per stage "
        "from the pipeline's timer; *generate* is the load stage (`simulate_cohort`), *log* the rest "
        "of the run's wall time (MLflow runs, params, metrics, artifacts).\n",
        f"Machine: {machine_line()}. Figures are indicative when other jobs share the machine.\n",
        table(["stage"] + [f"{n:,} patients" for n in sizes] + [f"exponent {small:,}→{big:,}"], rows),
        f"Exponent = log(t{big:,} / t{small:,}) / log({factor:g}): 1 is linear; n log n over this "
        f"step gives {math.log10(factor * math.log(big) / math.log(small)) / math.log10(factor):.2f}; "
        f"the rule is exponent ≤ {MAX_EXPONENT} for every stage (n/a below 0.05 s, too small to time).\n",
    ]
    if over:
        body.append(f"Sizes stopped at the {budget} budget: {', '.join(f'{n:,}' for n in over)}.\n")
    verdicts = [
        f"{big:,} patients within {MEMORY_GIB:.0f} GiB: peak RSS "
        f"{'n/a' if rss_big is None else f'{rss_big:.2f} GiB'}: {verdict(rss_big is not None and rss_big <= MEMORY_GIB)}",
        f"no stage grows faster than n log n (exponent ≤ {MAX_EXPONENT}, {small:,}→{big:,}): "
        f"{verdict(grow_ok and big in done)}"
        + ("" if grow_ok else " (" + ", ".join(f"{k} {v:.2f}" for k, v in exps.items()
                                               if v is not None and v > MAX_EXPONENT and k != "total") + ")"),
        f"all sizes within the {budget} budget: {verdict(not over)}",
    ]
    title = f"Simulator and end-to-end pipeline at {' / '.join(f'{n:,}' for n in sizes)} patients"
    return Section(title, "\n".join(body), verdicts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import logging

        logging.disable(logging.WARNING)
        out = child(args.child, Path(args.root), QUICK_OVERRIDES if args.quick else [])
        print(json.dumps(out))
        return
    print(run(quick=args.quick).markdown())


if __name__ == "__main__":
    main()
