"""Training and inference time per model on a 10,000-patient cohort, as a Markdown table.

Uses the cohort simulator (``privhealth.data.simulator.simulate_cohort``) when it is
installed, else the synthetic cohort of the test suite. Each model is built from its
``conf/model/*.yaml`` and run through ``train_and_evaluate`` (60/20/20 patient split,
24-hour window), so the times are those the experiments layer will see.

    .venv/bin/python benchmarks/models_speed.py                 # all five, ~ minutes on 2 cores
    .venv/bin/python benchmarks/models_speed.py --patients 2000 --models logreg,rf
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from privhealth.data.schema import TableSchema
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models import patient_split, train_and_evaluate
from privhealth.models.figures import inference_timing

REPO = Path(__file__).resolve().parents[1]
MODELS = ("logreg", "rf", "xgboost", "dense", "lstm")


def load_cohort(n: int, seed: int) -> tuple[pd.DataFrame, TableSchema, str]:
    """The simulator's cohort when available, else the test suite's synthetic one."""
    try:
        from privhealth.data.simulator import simulate_cohort  # type: ignore[import-not-found]
    except ImportError:
        simulate_cohort = None
    if simulate_cohort is not None:
        params = inspect.signature(simulate_cohort).parameters
        kwargs: dict[str, Any] = {"seed": seed} if "seed" in params else {}
        out = simulate_cohort(n, **kwargs)
        if isinstance(out, tuple):
            return out[0], out[1], "privhealth.data.simulator"
        return out.frame, out.schema, "privhealth.data.simulator"
    sys.path.insert(0, str(REPO / "tests"))
    from synthetic_cohort import make_cohort

    frame, schema = make_cohort(n, seed=seed)
    return frame, schema, "tests/synthetic_cohort.py"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    frame, schema, source = load_cohort(args.patients, args.seed)
    folds = patient_split(frame, schema.entity, schema.target, seed=args.seed)
    print(
        f"cohort: {args.patients:,} patients, {len(frame):,} rows from {source} "
        f"({time.perf_counter() - t0:.1f} s); torch threads {torch.get_num_threads()}, "
        f"device {'cuda' if torch.cuda.is_available() else 'cpu'}\n"
    )
    rows = []
    for name in args.models.split(","):
        cfg = yaml.safe_load((REPO / "conf" / "model" / f"{name}.yaml").read_text())
        extra = {"progress_bar": False} if "progress_bar" in cfg else {}
        model = instantiate_model(cfg, **extra)
        t0 = time.perf_counter()
        r = train_and_evaluate(
            model, frame, schema, folds, seed=args.seed, n_bootstrap=args.bootstrap
        )
        total = time.perf_counter() - t0
        per_batch = inference_timing({name: r}, sizes=(1000,), repeats=5)["seconds"].iloc[0]
        lo, hi = r.ci["auroc"]
        rows.append(
            {
                "model": name,
                "input": model.input_kind,
                "params": f"{r.n_parameters:,}",
                "epochs/rounds": len(r.history) or "-",
                "fit s": f"{r.fit_seconds:.2f}",
                f"predict ms ({r.n_patients['test']:,} test)": f"{1000 * r.predict_seconds:.1f}",
                "ms / 1,000 patients": f"{1000 * per_batch:.1f}",
                "total s": f"{total:.1f}",
                "AUROC (95% CI)": f"{r.metrics['auroc']:.3f} ({lo:.3f}-{hi:.3f})",
                "F1": f"{r.metrics['f1']:.3f}",
                "accuracy": f"{r.metrics['accuracy']:.3f}",
            }
        )
        print(f"  {name}: done in {total:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    print()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "|".join(" --- " for _ in table.columns) + "|")
    for _, row in table.iterrows():
        print("| " + " | ".join(str(v) for v in row) + " |")
    print(
        f"\nmajority baseline on the same test split: accuracy {r.baseline['accuracy']:.3f}, "
        f"F1 {r.baseline['f1']:.3f}, AUROC {r.baseline['auroc']:.3f}; "
        "total s includes features, threshold and bootstrap"
    )


if __name__ == "__main__":
    main()
