"""The one interface every prediction model implements, and config helpers shared by them.

A model is built by the experiments layer with Hydra's ``instantiate`` on its
``conf/model/*.yaml`` mapping (``_target_`` plus hyper-parameters;
``privhealth.experiments.model_factory``), fitted on a training and a validation ``ModelInput`` and returns the
positive-class probability per patient. It exposes what the experiments layer logs:
``hparams()``, ``history`` (one dict per epoch or boosting round), ``n_parameters`` and
``summary()``. Unknown or out-of-range hyper-parameters raise ``ConfigError`` naming them.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

__all__ = ["ClinicalModel", "check_choice", "check_float", "check_int", "layer_table"]

import numpy as np

from privhealth.errors import ConfigError
from privhealth.models.checks import check_choice, check_float, check_int
from privhealth.models.dp import DPSettings, PrivacySpent
from privhealth.models.dp import check_settings as check_dp_settings
from privhealth.models.features import InputKind, ModelInput, unknown_message

# per-epoch history keys, shared by the neural nets and boosting (Fig. 9)
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


class ClinicalModel(ABC):
    """A binary clinical classifier: ``fit(train, val)`` then ``predict_proba(data)``."""

    name: ClassVar[str] = "model"
    input_kind: ClassVar[InputKind] = "tabular"
    supports_dp: ClassVar[bool] = False  # a differentially private training path (models/dp.py)

    def __init__(
        self,
        *,
        seed: int = 0,
        logger: Any = None,
        dp: bool = False,  # train with differential privacy (docs/dp.md)
        dp_epsilon: float = 1.0,  # target ε of the training
        dp_delta: float | None = None,  # None: 1/(10 n), below 1/n
        dp_max_grad_norm: float = 1.0,  # DP-SGD per-patient clipping norm (neural nets)
        dp_accountant: str = "rdp",  # rdp | prv (Opacus)
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(
                unknown_message(f"model '{self.name}'", list(unknown), self.accepted())
            )
        self.seed = check_int(self.name, "seed", seed, minimum=0)
        self.logger = logger  # a Lightning logger for the neural nets; ignored by the others
        self.history: list[dict[str, float]] = []
        self._hparams: dict[str, Any] = {"seed": self.seed}
        self.dp = bool(check_choice(self.name, "dp", dp, (True, False)))
        self.privacy_spent: PrivacySpent | None = None  # set by a DP fit
        self.dp_settings: DPSettings | None = None
        if self.dp:
            if not self.supports_dp:
                raise ConfigError(
                    f"model '{self.name}' has no differentially private training path "
                    "(dp=true works for dense, lstm, logreg and rf); set dp=false"
                )
            self.dp_settings = check_dp_settings(
                self.name, dp_epsilon, dp_delta, dp_max_grad_norm, dp_accountant
            )
            s = self.dp_settings
            self._hparams.update(
                dp=True, dp_epsilon=s.epsilon, dp_delta=s.delta,
                dp_max_grad_norm=s.max_grad_norm, dp_accountant=s.accountant,
            )

    @classmethod
    def accepted(cls) -> list[str]:
        """Hyper-parameter names the constructor accepts (each class in the hierarchy declares
        its own and passes the rest up with ``**common``)."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            params = inspect.signature(init).parameters.values()
            names += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in names]
        return names

    # ------------------------------------------------------------------ interface
    @abstractmethod
    def fit(self, train: ModelInput, val: ModelInput, seed: int | None = None) -> Self:
        """Train from scratch (a refit forgets earlier fits); ``seed`` overrides the configured one."""

    @abstractmethod
    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Probability of the positive class per patient, float64 of shape (n,)."""

    @property
    @abstractmethod
    def n_parameters(self) -> int:
        """Fitted parameters: weights for nets and logistic regression, tree nodes for forests."""

    @abstractmethod
    def summary(self) -> str:
        """A human-readable description of the fitted model (Fig. 7 for the dense net)."""

    def hparams(self) -> dict[str, Any]:
        """The hyper-parameters to log, as plain values."""
        return dict(self._hparams)

    # ------------------------------------------------------------------ helpers
    def _check_input(self, data: ModelInput, role: str) -> None:
        if data.kind != self.input_kind:
            raise ConfigError(
                f"model '{self.name}' takes {self.input_kind} input but the {role} input is {data.kind}"
            )
        if len(data) == 0:
            raise ConfigError(f"model '{self.name}': the {role} input has no patient")

    def _seed_for(self, seed: int | None) -> int:
        return self.seed if seed is None else check_int(self.name, "seed", seed, minimum=0)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hparams.items())
        return f"{type(self).__name__}({args})"


def layer_table(
    title: str, rows: Sequence[tuple[str, str, str, int]], non_trainable: int = 0
) -> str:
    """A Keras-style model summary: one row (name, type, output shape, params) per layer."""
    header = ("Layer (type)", "Output Shape", "Param #")
    body = [(f"{n} ({t})", shape, f"{p:,}") for n, t, shape, p in rows]
    w = [max(len(r[i]) for r in [header, *body]) + 2 for i in range(3)]
    line = "─" * sum(w)
    fmt = f"{{:<{w[0]}}}{{:<{w[1]}}}{{:>{w[2]}}}"
    trainable = sum(p for *_, p in rows)
    total = trainable + non_trainable
    out = [f'Model: "{title}"', line, fmt.format(*header), line]
    out += [fmt.format(*r) for r in body]
    out += [
        line,
        f" Total params: {total:,} ({_size(total)})",
        f" Trainable params: {trainable:,} ({_size(trainable)})",
        f" Non-trainable params: {non_trainable:,} ({_size(non_trainable)})",
    ]
    return "\n".join(out)


def _size(n_params: int) -> str:
    """float32 storage as Keras prints it: B, KB or MB (1024-based)."""
    b = 4.0 * n_params
    for unit in ("B", "KB", "MB"):
        if b < 1024 or unit == "MB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} MB"  # pragma: no cover
