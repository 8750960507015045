"""Re-identification risk models (as in ARX), with the patient as the unit.

Equivalence classes are formed on the released quasi-identifiers, one row per released
patient (the cohort is longitudinal; quasi-identifiers are constant per patient). With f_j the
size of patient j's class in the release and F_j the number of people in the population whose
data match j's released labels:

- prosecutor risk (the attacker knows the target is in the release): r_j = 1 / f_j; reported
  as the highest, the average, and the share of patients with r_j > threshold;
- journalist risk (the attacker does not know; matches in the population): r_j = 1 / F_j;
- marketer risk (the attacker re-identifies as many as possible, one random pick per class):
  expected share re-identified = n_classes / n (prosecutor) or mean(1 / F_j) (journalist);
- sample uniqueness: share of patients alone in their class (f_j = 1);
- population uniqueness: share of the population unique on the quasi-identifiers, estimated
  from the sample's class-size histogram (Pitman, Hoshino 2001; Zayatz 1991), with Dankar et
  al.'s (2012) rule for choosing: Pitman when the sampling fraction is <= 0.1, Zayatz
  otherwise (Dankar's rule takes the smaller of Zayatz and SNB there; SNB is not implemented).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import hypergeom


def class_sizes(patients: pd.DataFrame, quasi: list[str]) -> np.ndarray:
    """Size f_j of each patient's equivalence class on ``quasi`` (all in one class if none)."""
    n = len(patients)
    if not quasi or n == 0:
        return np.full(n, n, dtype=np.int64)
    codes = patients.groupby(quasi, sort=False, dropna=False, observed=True).ngroup().to_numpy()
    return np.bincount(codes)[codes]


def class_ids(patients: pd.DataFrame, quasi: list[str]) -> np.ndarray:
    """Equivalence-class id of each patient (for per-class checks)."""
    if not quasi:
        return np.zeros(len(patients), dtype=np.int64)
    return patients.groupby(quasi, sort=False, dropna=False, observed=True).ngroup().to_numpy()


# ---------------------------------------------------------------------- population uniqueness
def pitman_uniques(hist: dict[int, int], population_size: float) -> tuple[float, float, float]:
    """Estimated population uniques under the Pitman sampling formula, and (theta, alpha).

    (theta, alpha) are fitted by maximum likelihood to the sample partition, whose
    log-likelihood is sum_{i<u} log(theta + i alpha) - sum_{i<n} log(theta + i)
    + sum_s c_s [log Gamma(s - alpha) - log Gamma(1 - alpha)]; the population uniques are
    Gamma(theta + 1) / Gamma(theta + alpha) * N^alpha (Hoshino 2001). Assumes the sample is a
    simple random sample of the population and the class sizes follow the Pitman model.
    """
    sizes = np.array(sorted(hist), dtype=float)
    counts = np.array([hist[int(s)] for s in sizes], dtype=float)
    n, u = float((sizes * counts).sum()), int(counts.sum())
    if u < 2 or n < 2 or u == n:  # no class of size >= 2: the likelihood has no interior maximum
        return float("nan"), float("nan"), float("nan")
    i = np.arange(1, u, dtype=float)

    def nll(x: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            alpha = 1.0 / (1.0 + np.exp(-x[0]))
            theta = -alpha + np.exp(x[1])
            ll = np.log(theta + i * alpha).sum() - (gammaln(theta + n) - gammaln(theta + 1))
            ll += (counts * (gammaln(sizes - alpha) - gammaln(1 - alpha))).sum()
        return float(-ll) if np.isfinite(ll) else 1e300

    best = None
    for a0, t0 in ((0.5, 1.0), (0.9, 10.0), (0.1, 100.0)):  # a few starts: the surface is flat in places
        x0 = np.array([np.log(a0 / (1 - a0)), np.log(t0 + a0)])
        r = minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None  # three starts ran
    alpha = float(1.0 / (1.0 + np.exp(-best.x[0])))
    theta = float(-alpha + np.exp(best.x[1]))
    uniques = float(np.exp(gammaln(theta + 1) - gammaln(theta + alpha) + alpha * np.log(population_size)))
    if not np.isfinite(uniques) or uniques < 0 or uniques > population_size:
        uniques = float("nan")
    return uniques, theta, alpha


def zayatz_uniques(hist: dict[int, int], population_size: int) -> float:
    """Estimated population uniques after Zayatz (1991).

    P(population unique | sample unique) = c_1 h(1) / sum_s c_s h(s), with h(s) the
    hypergeometric probability that a population class of size s leaves exactly one record
    in a sample of n out of N; uniques = c_1 P / pi. Assumes the population's class-size
    distribution equals the sample's (so it overestimates class sizes' spread at small pi).
    """
    n = int(sum(s * c for s, c in hist.items()))
    c1 = hist.get(1, 0)
    if c1 == 0 or n == 0:
        return 0.0
    N = int(max(population_size, n))
    sizes = np.array(sorted(hist))
    counts = np.array([hist[int(s)] for s in sizes], dtype=float)
    h = hypergeom.pmf(1, N, np.minimum(sizes, N), n)
    denom = float((counts * h).sum())
    if denom <= 0:
        return float("nan")
    p = c1 * float(hypergeom.pmf(1, N, 1, n)) / denom
    return float(c1 * p / (n / N))


@dataclass
class PopulationUniqueness:
    """The population-uniqueness estimates and which one Dankar's rule picks."""

    population_size: int
    sampling_fraction: float
    pitman: float
    pitman_theta: float
    pitman_alpha: float
    zayatz: float
    model: str
    uniques: float

    @property
    def fraction(self) -> float:
        return self.uniques / self.population_size if self.population_size else 0.0


def population_uniqueness(hist: dict[int, int], population_size: int) -> PopulationUniqueness:
    """Pitman and Zayatz estimates; Dankar et al.'s rule (Pitman when pi <= 0.1, else Zayatz)."""
    n = int(sum(s * c for s, c in hist.items()))
    N = int(max(population_size, n))
    pi = n / N if N else 1.0
    if hist.get(1, 0) == 0:
        return PopulationUniqueness(N, pi, 0.0, float("nan"), float("nan"), 0.0, "none (no sample uniques)", 0.0)
    pit, theta, alpha = pitman_uniques(hist, N)
    zay = zayatz_uniques(hist, N)
    if pi <= 0.1 and np.isfinite(pit):
        model, est = "pitman", pit
    else:
        model, est = "zayatz", zay
    return PopulationUniqueness(N, pi, pit, theta, alpha, zay, model, float(est) if np.isfinite(est) else 0.0)


# ---------------------------------------------------------------------- the risk figures
@dataclass
class RiskModels:
    """Prosecutor, journalist and marketer risk, uniqueness (figures only)."""

    quasi: list[str]
    n_patients: int
    n_classes: int
    smallest_class: int
    threshold: float
    prosecutor_max: float
    prosecutor_avg: float
    records_at_risk: float
    sample_uniqueness: float
    marketer: float
    population: PopulationUniqueness | None
    journalist_fields: list[str] = field(default_factory=list)
    journalist_max: float = float("nan")
    journalist_avg: float = float("nan")
    journalist_at_risk: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = {k: _clean(v) for k, v in self.__dict__.items() if k != "population"}
        if self.population is not None:
            d["population"] = {k: _clean(v) for k, v in self.population.__dict__.items()}
            d["population"]["fraction"] = _clean(self.population.fraction)
        return d


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def risk_models(
    sizes: np.ndarray,
    quasi: list[str],
    threshold: float,
    population_size: int | None,
    journalist_counts: np.ndarray | None = None,
    journalist_fields: list[str] | None = None,
) -> RiskModels:
    """All figures from the class sizes f_j (and the population match counts F_j when known)."""
    n = len(sizes)
    if n == 0:
        return RiskModels(quasi, 0, 0, 0, threshold, 0.0, 0.0, 0.0, 0.0, 0.0, None)
    r = 1.0 / sizes
    n_classes = int(round(r.sum()))  # each class of size f contributes f * 1/f = 1
    hist = {int(s): int(c) for s, c in zip(*np.unique(sizes, return_counts=True), strict=True)}
    hist = {s: c // s for s, c in hist.items()}  # patients per size → classes per size
    pop = population_uniqueness(hist, population_size) if population_size else None
    out = RiskModels(
        quasi=list(quasi),
        n_patients=n,
        n_classes=n_classes,
        smallest_class=int(sizes.min()),
        threshold=float(threshold),
        prosecutor_max=float(r.max()),
        prosecutor_avg=float(r.mean()),
        records_at_risk=float((r > threshold).mean()),
        sample_uniqueness=float((sizes == 1).mean()),
        marketer=n_classes / n,
        population=pop,
    )
    if journalist_counts is not None:
        F = np.maximum(journalist_counts, 1)
        rj = 1.0 / F
        out.journalist_fields = list(journalist_fields or [])
        out.journalist_max = float(rj.max())
        out.journalist_avg = float(rj.mean())
        out.journalist_at_risk = float((rj > threshold).mean())
    return out
