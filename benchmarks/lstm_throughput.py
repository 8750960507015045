"""LSTM training throughput: a plain PyTorch loop vs the Lightning model, on the device present.

Trains the paper's 3-layer LSTM (hidden 128, batch 1024, 6 blocs) on N synthetic patient
sequences for a fixed number of epochs and prints patient-sequences per second for
(a) a plain loop over tensors already on the device and (b) ``LSTMModel`` (Lightning,
``accelerator="auto"``). Steady state excludes the first epoch (allocations, cuDNN
autotuning); the Lightning figure times training batches only (validation excluded) and
the end-to-end fit time is printed beside it. The two paths run alternately
``--repeats`` times and the best epoch is reported beside the median, so that other jobs
on a shared machine distort the comparison less.

    .venv/bin/python benchmarks/lstm_throughput.py --patients 2000 --epochs 3   # CPU, ~1 min
    python benchmarks/lstm_throughput.py --patients 200000 --epochs 5           # GPU

Reference: an H100 runs the plain loop at ~265,000 seq/s, a 2-core CPU at ~580 seq/s;
the Lightning model should reach at least half of the plain loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from privhealth.models.features import ModelInput
from privhealth.models.neural import LSTMModel, LSTMNet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic(n: int, blocs: int, features: int, seed: int) -> ModelInput:
    """Min-max-scaled-like sequences with a learnable label (mean of the first feature)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, blocs, features), dtype=np.float32)
    y = (X[:, :, 0].mean(axis=1) + rng.normal(0, 0.1, n) > 0.6).astype(np.int8)
    lengths = np.full(n, blocs, dtype=np.int64)
    return ModelInput(X, y, tuple(f"f{i}" for i in range(features)), "sequence", lengths)


def plain_loop(data: ModelInput, args: argparse.Namespace, device: torch.device) -> list[float]:
    """Seconds per epoch of a bare training loop with the whole dataset on ``device``."""
    torch.manual_seed(args.seed)
    net = LSTMNet(data.n_features, args.hidden, num_layers=3, dropout=0.2).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    X = torch.from_numpy(data.X).to(device)
    lengths = torch.from_numpy(data.lengths).to(device)
    y = torch.from_numpy(data.y.astype(np.float32)).to(device)
    n, times = len(data), []
    for _ in range(args.epochs):
        _sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for s in range(0, n, args.batch_size):
            idx = perm[s : s + args.batch_size]
            loss = F.binary_cross_entropy_with_logits(net(X[idx], lengths[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


class EpochTimer(pl.Callback):
    """Seconds of training batches per epoch (from epoch start to the start of validation)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device)
        self._t0 = time.perf_counter()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device)
        self.times.append(time.perf_counter() - self._t0)


def lightning(
    data: ModelInput, val: ModelInput, args: argparse.Namespace
) -> tuple[list[float], float, LSTMModel]:
    timer = EpochTimer()
    model = LSTMModel(
        hidden_size=args.hidden,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.epochs + 1,  # no early stop: a fixed number of epochs
        progress_bar=False,
        callbacks=[timer],
        seed=args.seed,
    )
    t0 = time.perf_counter()
    model.fit(data, val)
    return timer.times, time.perf_counter() - t0, model


def _steady(times: list[float]) -> list[float]:
    """Epoch times without the first (warm-up) epoch, unless it is the only one."""
    return times[1:] if len(times) > 1 else times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each path")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--blocs", type=int, default=6)
    ap.add_argument("--features", type=int, default=48, help="inputs per bloc (MIMICtable: ~47)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    data = synthetic(args.patients, args.blocs, args.features, args.seed)
    val = synthetic(max(256, args.patients // 50), args.blocs, args.features, args.seed + 1)
    print(
        f"device: {name} ({torch.get_num_threads()} CPU threads); torch {torch.__version__}; "
        f"{args.patients:,} patients × {args.blocs} blocs × {args.features} features, "
        f"hidden {args.hidden}, batch {args.batch_size}, {args.epochs} epochs × {args.repeats} runs"
    )
    plain: list[float] = []
    light: list[float] = []
    walls: list[float] = []
    placement = "?"
    for _ in range(args.repeats):  # alternate, so that contention hits both paths alike
        plain += _steady(plain_loop(data, args, device))
        times, wall, model = lightning(data, val, args)
        light += _steady(times)
        walls.append(wall)
        placement = model.placement
    rate = {k: args.patients / np.array(v) for k, v in (("plain", plain), ("light", light))}
    print()
    print("| path | seq/s best epoch | seq/s median epoch |")
    print("| --- | ---: | ---: |")
    print(f"| plain PyTorch loop | {rate['plain'].max():,.0f} | {np.median(rate['plain']):,.0f} |")
    print(
        f"| Lightning LSTMModel (data on: {placement}) | {rate['light'].max():,.0f} | "
        f"{np.median(rate['light']):,.0f} |"
    )
    e2e = args.patients * args.epochs / min(walls)
    print(
        f"\nLightning / plain (best epochs): {rate['light'].max() / rate['plain'].max():.2f} "
        f"(target >= 0.5); Lightning end-to-end fit incl. setup, first epoch and validation: "
        f"{min(walls):.2f} s ({e2e:,.0f} seq/s)"
    )


if __name__ == "__main__":
    main()
