"""What matching a register to a release yields: candidates per register row and per patient.

Its own module so that matching (which builds it) and linkage scoring (which reads it) both
import it and neither imports the other back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Candidates:
    """Who matches whom: per register row and per released patient (arrays, never values)."""

    v_count: np.ndarray  # compatible released patients per register row
    v_last: np.ndarray  # one compatible patient per row (the only one where v_count == 1)
    p_count: np.ndarray  # compatible register rows per released patient
    v_true: np.ndarray  # the row's own patient is among its candidates (scoring only)
    hists: dict[str, np.ndarray] = field(default_factory=dict)  # attribute → (rows, values)
    attempted: np.ndarray | None = None  # rows with at least one usable field
