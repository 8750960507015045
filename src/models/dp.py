"""Training-level differential privacy: DP-SGD for the neural nets (Opacus) and the budget record.

DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016) clips each
patient's gradient to ``max_grad_norm``, adds Gaussian noise of scale ``noise_multiplier *
max_grad_norm`` to the summed batch gradient and samples batches by Poisson sampling (each
patient independently with rate ``q = batch_size / n``). Opacus picks the noise multiplier
that reaches ``target_epsilon`` at ``target_delta`` after the planned epochs
(``make_private_with_epsilon``) and its accountant (RDP by default, Mironov 2017) reports the
ε actually spent, which is what is logged as ``privacy/train_epsilon``. Opacus is an optional
dependency (the ``dp`` extra); it is imported only when a model is trained with ``dp=true``.

The guarantee covers the trained weights (and anything computed from them) with the patient
as the unit: one patient is one row of the training input. Per-epoch losses in ``history``
are diagnostics computed on the private data and are *not* covered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from privhealth.errors import ConfigError
from privhealth.models.features import ModelInput

if TYPE_CHECKING:  # torch is imported when a DP net is trained, not when a model is built
    import torch
    from torch import nn

ACCOUNTANTS = ("rdp", "prv")


@dataclass(frozen=True)
class DPSettings:
    """What a ``dp=true`` model was asked for: target ε, δ (None: 1/(10 n)), clipping, accountant."""

    epsilon: float = 1.0
    delta: float | None = None
    max_grad_norm: float = 1.0
    accountant: str = "rdp"

    def delta_for(self, n: int) -> float:
        """δ used for ``n`` training patients: the configured one, else 1/(10 n) (< 1/n)."""
        return float(self.delta) if self.delta is not None else 1.0 / (10.0 * max(n, 1))


@dataclass
class PrivacySpent:
    """The budget of one DP training, as logged (``privacy/train_*``)."""

    epsilon: float  # spent, from the accountant (or the library's budget accountant)
    epsilon_target: float
    delta: float
    mechanism: str  # "dp-sgd" | "diffprivlib"
    noise_multiplier: float = float("nan")
    sample_rate: float = float("nan")
    steps: int = 0
    accountant: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """``privacy/train_*`` metrics (distinct from a DP release's ``privacy/epsilon``)."""
        out = {
            "privacy/train_epsilon": self.epsilon,
            "privacy/train_epsilon_target": self.epsilon_target,
            "privacy/train_delta": self.delta,
        }
        if self.mechanism == "dp-sgd":
            out |= {
                "privacy/train_noise_multiplier": self.noise_multiplier,
                "privacy/train_sample_rate": self.sample_rate,
                "privacy/train_steps": float(self.steps),
            }
        return out


def require(module: str) -> Any:
    """Import an optional DP library or fail with how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"model.dp=true needs the '{module.split('.')[0]}' package: "
            "install the dp extra (pip install -e '.[dp]'; make install does)"
        ) from None


def check_settings(model: str, epsilon: Any, delta: Any, max_grad_norm: Any, accountant: Any) -> DPSettings:
    """Validated DP settings; errors name the model and the setting."""
    from privhealth.models.checks import check_choice, check_float

    eps = check_float(model, "dp_epsilon", epsilon, 1e-6, 1e6)
    dlt = None if delta is None else check_float(model, "dp_delta", delta, 1e-30, 1.0, high_open=True)
    clip = check_float(model, "dp_max_grad_norm", max_grad_norm, 1e-9, 1e9)
    acc = check_choice(model, "dp_accountant", accountant, ACCOUNTANTS)
    return DPSettings(eps, dlt, clip, acc)


def _loader(data: ModelInput, batch_size: int, seed: int) -> torch.utils.data.DataLoader:
    import torch

    from privhealth.models.tensors import tensors as _tensors

    ds = torch.utils.data.TensorDataset(*_tensors(data))
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, generator=gen)


def train_dp_sgd(
    net: nn.Module,
    train: ModelInput,
    val: ModelInput,
    settings: DPSettings,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    pos_weight: float | None = None,
) -> tuple[nn.Module, PrivacySpent, list[dict[str, float]]]:
    """Train ``net`` (logit output) with DP-SGD for ``epochs`` epochs on CPU; returns the plain
    network, the budget spent and the per-epoch history (``HISTORY_KEYS``)."""
    import torch
    from torch.nn import functional as F

    opacus = require("opacus")
    n = len(train)
    delta = settings.delta_for(n)
    if delta >= 1.0 / n:
        raise ConfigError(f"dp_delta={delta} must be below 1/n = {1.0 / n:.3g} for {n} training patients")
    torch.manual_seed(seed)
    net = net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    engine = opacus.PrivacyEngine(accountant=settings.accountant, secure_mode=False)
    loader = _loader(train, min(batch_size, n), seed)
    private, optimizer, loader = engine.make_private_with_epsilon(
        module=net,
        optimizer=optimizer,
        data_loader=loader,
        target_epsilon=settings.epsilon,
        target_delta=delta,
        epochs=epochs,
        max_grad_norm=settings.max_grad_norm,
        noise_generator=torch.Generator().manual_seed(seed + 1),
    )
    pw = None if pos_weight is None else torch.tensor(float(pos_weight))
    history: list[dict[str, float]] = []
    from privhealth.models.tensors import tensors as _tensors

    val_tensors = _tensors(val)
    for epoch in range(epochs):
        private.train()
        loss_sum, correct, seen = 0.0, 0.0, 0
        for *inputs, y in loader:
            if len(y) == 0:  # Poisson sampling can draw an empty batch
                continue
            optimizer.zero_grad()
            logits = private(*inputs)
            loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += float(((logits.detach() > 0) == (y > 0.5)).sum())
            seen += len(y)
        val_loss, val_acc = _evaluate(net, val_tensors, pw)
        history.append({
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen if seen else math.nan,
            "train_accuracy": correct / seen if seen else math.nan,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
        })
    steps = sum(int(h[2]) for h in engine.accountant.history)
    spent = PrivacySpent(
        epsilon=float(engine.get_epsilon(delta)),
        epsilon_target=settings.epsilon,
        delta=delta,
        mechanism="dp-sgd",
        noise_multiplier=float(optimizer.noise_multiplier),
        sample_rate=float(1.0 / len(loader)),
        steps=steps,
        accountant=settings.accountant,
    )
    # the GradSampleModule wraps ``net`` in place (hooks); strip them for plain inference
    if hasattr(private, "_close"):
        private._close()
    _strip_grad_samples(net)
    return net.eval(), spent, history


def _strip_grad_samples(net: nn.Module) -> None:
    for p in net.parameters():
        for attr in ("grad_sample", "_forward_counter", "summed_grad"):
            if hasattr(p, attr):
                try:
                    delattr(p, attr)
                except AttributeError:  # pragma: no cover
                    pass


def _evaluate(net: nn.Module, tensors: list[torch.Tensor], pw: torch.Tensor | None) -> tuple[float, float]:
    import torch
    from torch.nn import functional as F

    net.eval()
    *inputs, y = tensors
    with torch.no_grad():
        logits = net(*inputs)
    loss = float(F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw))
    acc = float(((logits > 0) == (y > 0.5)).float().mean())
    return loss, acc


def rdp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of the subsampled Gaussian mechanism from Opacus' RDP analysis (an oracle for the tests)."""
    rdp_mod = require("opacus.accountants.analysis.rdp")
    from opacus.accountants import RDPAccountant

    orders = RDPAccountant.DEFAULT_ALPHAS
    rdp = rdp_mod.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=orders)
    eps, _ = rdp_mod.get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    return float(eps)


def data_norm(n_features: int, clip: tuple[float, float] | None) -> float:
    """A data-independent L2 bound of a feature row: features are Min-Max scaled into ``clip``."""
    lo, hi = clip if clip is not None else (0.0, 1.0)
    return float(math.sqrt(n_features) * max(abs(lo), abs(hi)))
