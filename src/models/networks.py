"""The paper's networks as plain torch modules: the dense net (Fig. 7) and the 3-layer LSTM
(Fig. 3), each with a Keras-style layer table; training lives in ``neural`` and ``dp``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class DenseNet(nn.Module):
    """Fig. 7: Dense 64 → Dense 32 → Dropout → Dense 16 → Dense 1 (logit; sigmoid applied outside).

    On 4 inputs it has 320 + 2,080 + 0 + 528 + 17 = 2,945 trainable parameters.
    """

    def __init__(self, n_features: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.dense = nn.Linear(n_features, 64)
        self.dense_1 = nn.Linear(64, 32)
        self.dropout = nn.Dropout(dropout)
        self.dense_2 = nn.Linear(32, 16)
        self.dense_3 = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.dense(x))
        h = self.dropout(F.relu(self.dense_1(h)))
        h = F.relu(self.dense_2(h))
        return self.dense_3(h).squeeze(-1)

    def layers(self) -> list[tuple[str, str, str, int]]:
        rows = []
        for name, mod in self.named_children():
            shape = f"(None, {mod.out_features})" if isinstance(mod, nn.Linear) else "(None, 32)"
            kind = "Dense" if isinstance(mod, nn.Linear) else "Dropout"
            rows.append((name, kind, shape, _count(mod)))
        return rows


class LSTMNet(nn.Module):
    """Fig. 3: stacked LSTM layers over the bloc sequence, a dense logit on the last observed step."""

    def __init__(
        self,
        n_features: int,
        hidden_size: int,
        num_layers: int = 3,
        dropout: float = 0.2,
        dp: bool = False,  # Opacus' DPLSTM (same maths, per-sample gradients for DP-SGD)
    ):
        super().__init__()
        lstm_cls: Any = nn.LSTM
        if dp:
            from privhealth.models.dp import require

            lstm_cls = require("opacus.layers").DPLSTM
        self.lstm = lstm_cls(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dense = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H); padding sits after each sequence, so it cannot
        last = (lengths - 1).clamp(min=0)  # change the output at the last observed step
        h = out[torch.arange(out.shape[0], device=out.device), last]
        return self.dense(h).squeeze(-1)

    def layers(self, seq_len: int) -> list[tuple[str, str, str, int]]:
        H = self.lstm.hidden_size
        rows = []
        for k in range(self.lstm.num_layers):
            n = sum(
                p.numel() for name, p in self.lstm.named_parameters() if name.endswith(f"_l{k}")
            )
            rows.append((f"lstm{'_' + str(k) if k else ''}", "LSTM", f"(None, {seq_len}, {H})", n))
        rows.append(("dense", "Dense", "(None, 1)", _count(self.dense)))
        return rows


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
