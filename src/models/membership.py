"""Membership inference against a trained clinical model: was this patient in its training set?

Two attacks, both scoring every candidate patient (members: the model's training patients;
non-members: held-out test patients); a higher score means "more likely a member":

* **Loss threshold** (Yeom, Giacomelli, Fredrikson & Jha, "Privacy Risk in Machine Learning:
  Analyzing the Connection to Overfitting", IEEE CSF 2018): score = −(cross-entropy loss of
  the true label). Sweeping the threshold gives the ROC curve; it needs only the model's
  predicted probabilities.
* **LiRA, online, global variance** (Carlini, Chien, Nasr, Song, Terzis & Tramèr, "Membership
  Inference Attacks From First Principles", IEEE S&P 2022): ``K`` shadow models are trained
  on random halves of the candidate pool, each candidate in about half of them. On the
  logit-scaled confidence φ(p) = log(p_y / (1 − p_y)) of the true label, the candidate's
  IN and OUT shadow values give two Gaussians (per-candidate means, one global variance per
  side, as the paper recommends for few shadows); the score is the log-likelihood ratio
  log N(φ_target; μ_in, σ_in²) − log N(φ_target; μ_out, σ_out²).

Reported as in Carlini et al.: the ROC AUC and the true-positive rate at 1% false-positive
rate (the attack's power on the patients it is most confident about), with a stratified
bootstrap interval for the AUC. An AUC of 0.5 means the attacker does no better than chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

EPS = 1e-12


@dataclass(frozen=True)
class AttackResult:
    """ROC summary of one attack; ``auc_ci`` is a bootstrap interval (nan when not computed)."""

    auc: float
    tpr_at_fpr: float  # TPR at ``fpr`` (1% by default)
    auc_ci: tuple[float, float]
    fpr: float = 0.01

    def metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix}auc``, ``{prefix}tpr_at_1pct_fpr`` and the AUC interval bounds."""
        pct = f"{self.fpr * 100:g}".replace(".", "p")
        return {
            f"{prefix}auc": self.auc,
            f"{prefix}auc_lo": self.auc_ci[0],
            f"{prefix}auc_hi": self.auc_ci[1],
            f"{prefix}tpr_at_{pct}pct_fpr": self.tpr_at_fpr,
        }


def true_label_proba(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The probability the model gives each patient's true label (binary, ``p`` = P(y=1))."""
    p = np.asarray(p, dtype=np.float64)
    return np.where(np.asarray(y) > 0.5, p, 1.0 - p)


def loss_scores(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Yeom et al.'s score: minus the cross-entropy loss, −log p_y (members have lower loss)."""
    return np.log(np.clip(true_label_proba(p, y), EPS, 1.0))


def logit_confidence(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LiRA's φ = log(p_y) − log(1 − p_y), numerically clipped."""
    py = np.clip(true_label_proba(p, y), EPS, 1.0 - EPS)
    return np.log(py) - np.log1p(-py)


def lira_scores(target_phi: np.ndarray, shadow_phi: np.ndarray, shadow_in: np.ndarray) -> np.ndarray:
    """Online LiRA with global variances: target φ (n,), shadows' φ (K, n), membership (K, n).

    A candidate without any IN (or OUT) shadow takes the mean of all IN (OUT) values.
    """
    target_phi = np.asarray(target_phi, dtype=np.float64)
    phi = np.asarray(shadow_phi, dtype=np.float64)
    inside = np.asarray(shadow_in, dtype=bool)
    if phi.shape != inside.shape or phi.shape[1:] != target_phi.shape:
        raise ValueError("shadow_phi and shadow_in must be (K, n) with n = len(target_phi)")
    if not inside.any() or inside.all():
        raise ValueError("LiRA needs shadow models both with and without the candidates")
    mu = []
    var = []
    for side in (inside, ~inside):
        count = side.sum(axis=0)
        total = np.where(side, phi, 0.0).sum(axis=0)
        overall = phi[side].mean()
        m = np.where(count > 0, total / np.maximum(count, 1), overall)
        mu.append(m)
        resid = np.where(side, phi - m[None, :], 0.0)
        var.append(max(float((resid**2).sum() / max(int(side.sum()) - 1, 1)), EPS))
    (mu_in, mu_out), (v_in, v_out) = mu, var
    log_in = -0.5 * ((target_phi - mu_in) ** 2 / v_in + np.log(v_in))
    log_out = -0.5 * ((target_phi - mu_out) ** 2 / v_out + np.log(v_out))
    return log_in - log_out


def shadow_assignment(n: int, k: int, seed: int) -> np.ndarray:
    """(k, n) membership of the candidates in the k shadows: each in exactly ⌊k/2⌋ of them (a
    random subset per candidate), Carlini et al.'s balanced design."""
    if k < 2:
        raise ValueError("LiRA needs at least 2 shadow models")
    ranks = np.argsort(np.random.default_rng(seed).random((k, n)), axis=0).argsort(axis=0)
    return ranks < k // 2


def evaluate_attack(
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    *,
    fpr: float = 0.01,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    seed: int = 0,
) -> AttackResult:
    """AUC, TPR at ``fpr`` (highest TPR whose FPR is at most ``fpr``) and a stratified bootstrap
    interval of the AUC (members and non-members resampled separately; ``n_bootstrap=0``: none)."""
    a = np.asarray(member_scores, dtype=np.float64)
    b = np.asarray(nonmember_scores, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("membership inference needs members and non-members")
    scores = np.concatenate([a, b])
    truth = np.r_[np.ones(len(a)), np.zeros(len(b))]
    auc = float(roc_auc_score(truth, scores))
    f, t, _ = roc_curve(truth, scores)
    tpr = float(t[f <= fpr + 1e-12].max())
    ci = (float("nan"), float("nan"))
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        ia = rng.integers(0, len(a), size=(n_bootstrap, len(a)))
        ib = rng.integers(0, len(b), size=(n_bootstrap, len(b)))
        aucs = _auc_many(a[ia], b[ib])
        alpha = (1.0 - ci_level) / 2.0
        ci = (float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1.0 - alpha)))
    return AttackResult(auc, tpr, ci, fpr)


def _auc_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row of (B, n_a) member and (B, n_b) non-member scores (ties: ½)."""
    b_sorted = np.sort(b, axis=1)
    below = np.stack([np.searchsorted(row, ra, side="left") for row, ra in zip(b_sorted, a, strict=True)])
    upto = np.stack([np.searchsorted(row, ra, side="right") for row, ra in zip(b_sorted, a, strict=True)])
    wins = below + 0.5 * (upto - below)
    return wins.sum(axis=1) / (a.shape[1] * b.shape[1])
