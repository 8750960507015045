"""DP-SGD's privacy-utility curve on a small overfitting task: test AUROC and membership AUC per ε.

A dense net (no dropout, long training) on a wide [0, 1] cohort whose labels are a quarter
flipped, so it memorises its training patients; trained without DP and with DP-SGD at each
target ε, then attacked by the loss-threshold membership inference (docs/dp.md).

    .venv/bin/python benchmarks/dp_mia.py                   # ε ∈ {0.5, 2, 8} and no DP (~minutes)
    .venv/bin/python benchmarks/dp_mia.py --epsilons 1 --epochs 5 --patients 100   # smoke
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Section, table

from privhealth.experiments.mia import MIASettings, attack_model
from privhealth.experiments.model_factory import instantiate_model
from privhealth.models.features import ModelInput


def cohort(n: int, p: int, seed: int) -> ModelInput:
    rng = np.random.default_rng(seed)
    X = rng.random((n, p)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] > 1.0) ^ (rng.random(n) < 0.25)).astype(np.float32)
    return ModelInput(X, y, tuple(f"f{i}" for i in range(p)), "tabular")


def run(args: argparse.Namespace) -> Section:
    train, test = cohort(args.patients, 30, 1), cohort(2 * args.patients, 30, 2)
    base = {"_target_": "privhealth.models.neural.DenseNetModel", "dropout": 0.0,
            "max_epochs": args.epochs, "patience": args.epochs, "batch_size": 32,
            "learning_rate": 0.01, "accelerator": "cpu", "progress_bar": False}
    rows: list[list[Any]] = []
    t0 = time.perf_counter()
    for eps in [None, *args.epsilons]:
        cfg = base if eps is None else {**base, "dp": True, "dp_epsilon": eps}
        model = instantiate_model(cfg).fit(train, test)
        res = SimpleNamespace(model=model, train_input=train, test_input=test)
        m = attack_model(res, cfg, MIASettings(n_bootstrap=200), seed=0)  # type: ignore[arg-type]
        spent = model.privacy_spent
        rows.append([
            "no DP" if eps is None else f"{eps:g}",
            "—" if spent is None else f"{spent.epsilon:.3f}",
            "—" if spent is None else f"{spent.noise_multiplier:.2f}",
            f"{roc_auc_score(test.y, model.predict_proba(test)):.3f}",
            f"{m['mia_auc']:.3f} [{m['mia_auc_lo']:.3f}, {m['mia_auc_hi']:.3f}]",
            f"{m['mia_tpr_at_1pct_fpr']:.3f}",
        ])
    header = ["target ε", "spent ε (RDP)", "noise σ", "test AUROC", "MIA AUC [95% CI]", "TPR @ 1% FPR"]
    body = (f"{args.patients} training / {2 * args.patients} held-out patients, 30 features, "
            f"{args.epochs} epochs, batch 32, δ = 1/(10 n).\n\n" + table(header, rows))
    return Section("DP-SGD: utility and membership inference per ε", body,
                   wall_s=time.perf_counter() - t0)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 2.0, 8.0])
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(run(parse(argv)).markdown())


if __name__ == "__main__":
    main()
