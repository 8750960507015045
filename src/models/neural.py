"""Neural models in PyTorch Lightning: the paper's dense net (Fig. 7) and 3-layer LSTM (Fig. 3).

Training runs on whatever ``accelerator="auto"`` finds (GPU when present), is seeded
(identical results on CPU for a given seed), early-stops on validation loss and restores
the best epoch's weights. The input pipeline builds tensors once; on a GPU the whole
dataset is moved to the device when it fits (else batches are gathered into pinned
memory), and batches are index slices of those tensors, so no per-sample Python work or
worker processes stand between the data and the accelerator. Per-epoch metrics are
accumulated on the device and read back once per epoch (no per-step synchronisation).
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, TQDMProgressBar
from torch import nn
from torch.nn import functional as F

from privhealth.models.base import ClinicalModel, check_choice, check_float, check_int, layer_table
from privhealth.models.features import ModelInput
from privhealth.models.networks import DenseNet, LSTMNet, _count
from privhealth.models.tensors import tensors as _tensors

Batch = tuple[torch.Tensor, ...]


# ====================================================================== data


class TensorBatches:
    """Mini-batches as index slices of pre-built tensors (a DataLoader without per-sample work)."""

    def __init__(
        self, dm: ClinicalDataModule, split: str, batch_size: int, shuffle: bool, seed: int
    ):
        self.dm, self.split, self.batch_size, self.shuffle = dm, split, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.dm.tensors[self.split][0]) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        tensors = self.dm.tensors[self.split]  # read at iteration: they may have moved device
        n = len(tensors[0])
        if not self.shuffle:
            for s in range(0, n, self.batch_size):
                yield tuple(t[s : s + self.batch_size] for t in tensors)  # views stay pinned
            return
        perm = torch.randperm(n, generator=self.generator).to(tensors[0].device)
        pinned = self.dm.placement == "pinned"
        for s in range(0, n, self.batch_size):
            idx = perm[s : s + self.batch_size]
            yield tuple(_gather(t, idx, pinned) for t in tensors)


def _gather(t: torch.Tensor, idx: torch.Tensor, pinned: bool) -> torch.Tensor:
    if not pinned:
        return t.index_select(0, idx)
    out = torch.empty((len(idx), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
    return torch.index_select(t, 0, idx, out=out)


class ClinicalDataModule(pl.LightningDataModule):
    """Training and validation tensors; ``to_device`` moves them to the accelerator when they fit."""

    def __init__(
        self,
        train: ModelInput,
        val: ModelInput,
        batch_size: int = 256,
        eval_batch_size: int = 8192,
        seed: int = 0,
        max_device_fraction: float = 0.5,
    ) -> None:
        super().__init__()
        self.tensors = {"train": _tensors(train), "val": _tensors(val)}
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.max_device_fraction = max_device_fraction
        self.placement = "cpu"  # "cpu", "device" (all on the accelerator) or "pinned"

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for ts in self.tensors.values() for t in ts)

    def to_device(self, device: torch.device) -> str:
        """Put the data where batches are cheapest to reach ``device``; returns the placement."""
        if device.type == "cpu" or self.placement != "cpu":
            return self.placement
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            fits = self.nbytes < self.max_device_fraction * free
        else:  # mps and others: no cheap free-memory query; the data is small, move it
            fits = True
        if fits:
            self.tensors = {k: [t.to(device) for t in ts] for k, ts in self.tensors.items()}
            self.placement = "device"
        elif device.type == "cuda":
            self.tensors = {k: [t.pin_memory() for t in ts] for k, ts in self.tensors.items()}
            self.placement = "pinned"
        return self.placement

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(self, "train", self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(self, "val", self.eval_batch_size, shuffle=False, seed=self.seed)


# ====================================================================== Lightning module
class ClassifierModule(pl.LightningModule):
    """Binary cross-entropy training of ``net`` with Adam; per-epoch loss and accuracy in ``history``."""

    def __init__(
        self,
        net: nn.Module,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        pos_weight: float | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.tensor(float(pos_weight))
        )
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._val: dict[str, float] = {}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(*inputs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if isinstance(dm, ClinicalDataModule):
            dm.to_device(self.device)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        *inputs, y = batch
        logits = self.net(*inputs)
        loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)
        sums = self._sums.get(stage)
        if sums is None:
            sums = self._sums[stage] = torch.zeros(3, device=logits.device, dtype=torch.float64)
        n = y.shape[0]
        sums[0] += loss.detach() * n  # stays on the device: no synchronisation per step
        sums[1] += ((logits.detach() > 0) == (y > 0.5)).sum()
        sums[2] += n
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def _read(self, stage: str) -> tuple[float, float]:
        sums = self._sums.pop(stage, None)
        if sums is None:
            return float("nan"), float("nan")
        loss_sum, correct, n = sums.tolist()  # the one read-back per epoch
        return loss_sum / n, correct / n

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._read("val")
        self._val = {"val_loss": loss, "val_accuracy": acc}
        self.log_dict(self._val, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        loss, acc = self._read("train")
        self.log_dict({"train_loss": loss, "train_accuracy": acc})
        self.history.append(
            {
                "epoch": self.current_epoch + 1,
                "train_loss": loss,
                "train_accuracy": acc,
                "val_loss": self._val.get("val_loss", float("nan")),
                "val_accuracy": self._val.get("val_accuracy", float("nan")),
            }
        )


class BestWeights(Callback):
    """Keeps the weights of the epoch with the lowest validation loss (in memory) and restores them."""

    def __init__(self) -> None:
        self.best = float("inf")
        self.best_epoch = 0
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val_loss")
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.best_epoch = trainer.current_epoch + 1
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)


@contextmanager
def _quiet_lightning(enabled: bool) -> Iterator[None]:
    """Silence Lightning's info banners (GPU available, …) for the duration, when asked.

    Always hides the deprecation notice that pytorch-lightning 2.6 triggers in torch 2.13's
    pytree module at every step (a version mismatch of the two libraries, not our code).
    """
    names = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    if enabled:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
            yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)


# ====================================================================== models
class LightningModel(ClinicalModel):
    """Common training settings and the fit/predict loop of the neural models.

    With ``dp=true`` the net is trained by DP-SGD (``models/dp.py``, Opacus) on CPU for
    ``max_epochs`` epochs (no early stopping: the accountant needs the planned steps).
    """

    supports_dp = True

    def __init__(
        self,
        *,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 10,  # epochs without a lower validation loss before stopping
        pos_weight: float | None = None,  # weight of positives in the loss (None: 1)
        accelerator: str = "auto",  # GPU when present
        devices: int = 1,
        progress_bar: bool | str = "auto",  # auto: only when stderr is a terminal
        eval_batch_size: int = 8192,
        callbacks: Sequence[Callback] | None = None,  # extra Lightning callbacks
        **common: Any,  # seed, logger
    ) -> None:
        super().__init__(**common)
        n = self.name
        self.max_epochs = check_int(n, "max_epochs", max_epochs)
        self.batch_size = check_int(n, "batch_size", batch_size)
        self.learning_rate = check_float(n, "learning_rate", learning_rate, 1e-12, 10.0)
        self.weight_decay = check_float(n, "weight_decay", weight_decay, 0.0, 10.0)
        self.patience = check_int(n, "patience", patience)
        self.pos_weight = (
            None if pos_weight is None else check_float(n, "pos_weight", pos_weight, 1e-9, 1e9)
        )
        self.accelerator = check_choice(
            n, "accelerator", accelerator, ("auto", "cpu", "gpu", "cuda", "mps")
        )
        self.devices = check_int(n, "devices", devices)
        self.progress_bar = (
            sys.stderr.isatty()
            if check_choice(n, "progress_bar", progress_bar, (True, False, "auto")) == "auto"
            else bool(progress_bar)
        )
        self.eval_batch_size = check_int(n, "eval_batch_size", eval_batch_size)
        self.callbacks = list(callbacks or [])
        self._hparams.update(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            patience=self.patience,
            pos_weight=self.pos_weight,
            accelerator=self.accelerator,
        )
        self.net_: nn.Module | None = None
        self.device_ = torch.device("cpu")
        self.best_epoch = 0
        self.placement = "cpu"
        self._shape: tuple[int, ...] = ()

    @abstractmethod
    def build_network(self, n_features: int, seq_len: int = 1) -> nn.Module:
        """A freshly initialised network for inputs of this width (and sequence length)."""

    def fit(self, train: ModelInput, val: ModelInput, seed: int | None = None) -> Self:
        self._check_input(train, "training")
        self._check_input(val, "validation")
        seed = self._seed_for(seed)
        self._shape = tuple(train.X.shape[1:])
        if self.dp_settings is not None:
            return self._fit_dp(train, val, seed)
        cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda), _quiet_lightning(not self.progress_bar):
            torch.manual_seed(seed)
            net = self.build_network(train.n_features, seq_len=train.X.shape[1])
            module = ClassifierModule(net, self.learning_rate, self.weight_decay, self.pos_weight)
            dm = ClinicalDataModule(train, val, self.batch_size, self.eval_batch_size, seed)
            best = BestWeights()
            callbacks: list[Callback] = [
                EarlyStopping(monitor="val_loss", mode="min", patience=self.patience),
                best,
                *self.callbacks,
            ]
            if self.progress_bar:
                callbacks.append(
                    TQDMProgressBar(refresh_rate=max(1, len(dm.train_dataloader()) // 10))
                )
            trainer = pl.Trainer(
                accelerator=self.accelerator,
                devices=self.devices,
                max_epochs=self.max_epochs,
                logger=self.logger if self.logger is not None else False,
                callbacks=callbacks,
                enable_checkpointing=False,
                enable_progress_bar=self.progress_bar,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=1,
            )
            trainer.fit(module, datamodule=dm)
        self.net_ = module.net.eval()
        self.device_ = trainer.strategy.root_device
        self.history = module.history
        self.best_epoch = best.best_epoch
        self.placement = dm.placement
        return self

    def _fit_dp(self, train: ModelInput, val: ModelInput, seed: int) -> Self:
        from privhealth.models.dp import train_dp_sgd

        assert self.dp_settings is not None
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = self.build_network(train.n_features, seq_len=train.X.shape[1])
            net, spent, history = train_dp_sgd(
                net, train, val, self.dp_settings, epochs=self.max_epochs,
                batch_size=self.batch_size, learning_rate=self.learning_rate, seed=seed,
                pos_weight=self.pos_weight,
            )
        self.net_, self.privacy_spent, self.history = net, spent, history
        self.device_ = torch.device("cpu")
        self.best_epoch = self.max_epochs
        self.placement = "cpu"
        return self

    @torch.inference_mode()
    def predict_proba(self, data: ModelInput) -> np.ndarray:
        if self.net_ is None:
            raise RuntimeError(f"model '{self.name}' predicted before fit")
        self._check_input(data, "prediction")
        net = self.net_.to(self.device_).eval()
        inputs = _tensors(data)[:-1]
        out = []
        for s in range(0, len(data), self.eval_batch_size):
            chunk = [
                t[s : s + self.eval_batch_size].to(self.device_, non_blocking=True) for t in inputs
            ]
            out.append(torch.sigmoid(net(*chunk)))
        return torch.cat(out).double().cpu().numpy()

    @property
    def n_parameters(self) -> int:
        return 0 if self.net_ is None else _count(self.net_)


class DenseNetModel(LightningModel):
    """The paper's feed-forward net (Fig. 7) on the tabular window summaries."""

    name = "dense"
    input_kind = "tabular"

    def __init__(
        self,
        *,
        dropout: float = 0.2,
        **training: Any,  # max_epochs, batch_size, …, seed, logger: see LightningModel
    ) -> None:
        super().__init__(**training)
        self.dropout = check_float(self.name, "dropout", dropout, 0.0, 1.0, high_open=True)
        self._hparams["dropout"] = self.dropout

    def build_network(self, n_features: int, seq_len: int = 1) -> nn.Module:
        return DenseNet(n_features, self.dropout)

    def summary(self) -> str:
        net = self.net_ if isinstance(self.net_, DenseNet) else None
        if net is None:
            return f"{self.name}: not fitted (Dense 64 → Dense 32 → Dropout → Dense 16 → Dense 1)"
        inputs = f"\ninputs: {net.dense.in_features} features; output: sigmoid probability"
        return layer_table("sequential", net.layers()) + inputs


class LSTMModel(LightningModel):
    """The paper's stacked LSTM (Fig. 3, three layers) on the bloc sequence of the window."""

    name = "lstm"
    input_kind = "sequence"

    def __init__(
        self,
        *,
        hidden_size: int = 64,
        num_layers: int = 3,
        dropout: float = 0.2,
        **training: Any,  # max_epochs, batch_size, …, seed, logger: see LightningModel
    ) -> None:
        super().__init__(**training)
        self.hidden_size = check_int(self.name, "hidden_size", hidden_size)
        self.num_layers = check_int(self.name, "num_layers", num_layers)
        self.dropout = check_float(self.name, "dropout", dropout, 0.0, 1.0, high_open=True)
        self._hparams.update(
            hidden_size=self.hidden_size, num_layers=self.num_layers, dropout=self.dropout
        )

    def build_network(self, n_features: int, seq_len: int = 1) -> nn.Module:
        return LSTMNet(n_features, self.hidden_size, self.num_layers, self.dropout, dp=self.dp)

    def summary(self) -> str:
        net = self.net_ if isinstance(self.net_, LSTMNet) else None
        if net is None:
            return f"{self.name}: not fitted ({self.num_layers} stacked LSTM layers → Dense 1)"
        T = self._shape[0] if self._shape else 0
        notes = (
            f"\ninputs: {net.lstm.input_size} features × {T} blocs; output: sigmoid probability"
            "\n(PyTorch LSTM layers carry two bias vectors per gate, Keras one)"
        )
        return layer_table("lstm", net.layers(T)) + notes
