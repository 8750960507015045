"""A model input as torch tensors, shared by the Lightning and the DP-SGD training loops."""

from __future__ import annotations

import numpy as np
import torch

from privhealth.models.features import ModelInput


def tensors(data: ModelInput) -> list[torch.Tensor]:
    """Inputs then label as tensors, built once: X (float32), lengths (int64, sequences), y (float32)."""
    out = [torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))]
    if data.kind == "sequence":
        if data.lengths is None:
            raise ValueError("sequence input without lengths")
        out.append(torch.from_numpy(np.ascontiguousarray(data.lengths, dtype=np.int64)))
    out.append(torch.from_numpy(np.ascontiguousarray(data.y, dtype=np.float32)))
    return out
