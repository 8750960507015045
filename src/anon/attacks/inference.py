"""Attribute inference (homogeneity and skewness attacks) through the linkage attacker's matches.

For every register person matched to at least one released patient (uniquely or not), the
attacker predicts a sensitive attribute as the most frequent value among their candidates,
with confidence = that value's share among them. A *success* is a confident (confidence >=
``threshold``) and correct prediction about a person who really is a released patient.
Beside it stands the *base rate*: the same count for an attacker who ignores the match and
predicts the release's overall most frequent value with its overall share as confidence. The
difference is what the release's quasi-identifiers teach beyond the population prior.
Both rates are over the released patients. The headline attribute is the one with the largest
excess of rate over base rate. A threshold close to the prior share makes the base rate jump
(the prior attacker claims only when the prior share reaches the threshold; 90-day mortality's
prior is about 0.8), so the accuracies without threshold are reported beside it, for the same
targets, and their largest difference is ``accuracy_gain``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.candidates import Candidates
from privhealth.anon.attacks.common import share


@dataclass
class AttributeInference:
    """Outcome for one sensitive attribute (counts and rates, no values)."""

    attribute: str
    targets: int
    targets_in_release: int
    confident: int
    successes: int
    base_successes: int
    rate: float
    base_rate: float
    accuracy: float
    base_accuracy: float
    prior_share: float


@dataclass
class InferenceResult:
    """All attributes attacked; the headline is the attribute with the largest excess over its prior."""

    attributes: list[AttributeInference]
    threshold: float
    skipped: dict[str, str]

    @property
    def headline(self) -> AttributeInference | None:
        """The attribute the release teaches most about: largest excess of rate over base rate."""
        if not self.attributes:
            return None
        return max(self.attributes, key=lambda a: (a.rate - a.base_rate, a.rate))

    @property
    def rate(self) -> float:
        h = self.headline
        return h.rate if h else 0.0

    @property
    def base_rate(self) -> float:
        h = self.headline
        return h.base_rate if h else 0.0

    @property
    def accuracy_gain(self) -> float:
        """Largest gain in accuracy of the class-mode guess over the prior-mode guess (no threshold)."""
        return max((a.accuracy - a.base_accuracy for a in self.attributes), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        h = self.headline
        return {
            "threshold": self.threshold,
            "headline_attribute": h.attribute if h else None,
            "attributes": [asdict(a) for a in self.attributes],
            "skipped": self.skipped,
        }


def encode_sensitive(patients: pd.DataFrame, columns: list[str], max_values: int) -> tuple[
    dict[str, np.ndarray], dict[str, int], dict[str, str]
]:
    """Integer codes (-1: missing) of each sensitive attribute per released patient."""
    codes, sizes, skipped = {}, {}, {}
    for c in columns:
        if c not in patients.columns:
            skipped[c] = "not in the release"
            continue
        k, uniq = pd.factorize(patients[c], use_na_sentinel=True)
        if len(uniq) == 0:
            skipped[c] = "no released values"
            continue
        if len(uniq) > max_values:
            skipped[c] = f"more than {max_values} distinct values (attack setting 'max_sensitive_values')"
            continue
        codes[c], sizes[c] = k.astype(np.int64), len(uniq)
    return codes, sizes, skipped


def infer_attributes(
    cand: Candidates,
    truth: np.ndarray,
    codes: dict[str, np.ndarray],
    threshold: float,
    skipped: dict[str, str],
) -> InferenceResult:
    """Score the class-mode predictor against the prior-mode predictor, per attribute."""
    n_p = len(cand.p_count)
    targets = cand.v_count > 0
    out = []
    for attr, code in codes.items():
        hist = cand.hists[attr]
        total = hist.sum(axis=1)
        pred = hist.argmax(axis=1)
        conf = np.divide(hist.max(axis=1), total, out=np.zeros(len(total)), where=total > 0)
        own = np.where(truth >= 0, code[np.maximum(truth, 0)], -1)
        known = targets & (truth >= 0) & (own >= 0) & (total > 0)
        prior = np.bincount(code[code >= 0], minlength=hist.shape[1])
        mode, prior_share = int(prior.argmax()), float(prior.max() / prior.sum())
        right = known & (pred == own)
        base_right = known & (own == mode)
        confident = targets & (total > 0) & (conf >= threshold)
        success = right & confident
        base = base_right if prior_share >= threshold else np.zeros_like(base_right)
        n_known = int(known.sum())
        out.append(
            AttributeInference(
                attribute=attr,
                targets=int(targets.sum()),
                targets_in_release=n_known,
                confident=int(confident.sum()),
                successes=int(success.sum()),
                base_successes=int(base.sum()),
                rate=share(success.sum(), n_p),
                base_rate=share(base.sum(), n_p),
                accuracy=share(right.sum(), n_known),
                base_accuracy=share(base_right.sum(), n_known),
                prior_share=prior_share,
            )
        )
    return InferenceResult(out, float(threshold), skipped)
