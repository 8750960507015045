"""Honest, comparable evaluation: threshold chosen on validation, bootstrap CIs, majority baseline.

Threshold rule: the decision threshold maximises F1 on the validation split and is
applied unchanged to test. F1 is the paper's headline metric (Table 2); at ~20%
prevalence a fixed 0.5 threshold gives poor recall, and Youden's J (sensitivity +
specificity − 1) ignores precision, so it accepts many false alarms on the majority
class. Ties go to the highest such threshold; the threshold is then put halfway down to
the next lower validation score (the validation predictions are unchanged, test scores
falling in the gap are not decided by an accident of which validation score came last).
A validation split without positives gives 0.5.

Point metrics are computed with scikit-learn; 95% confidence intervals are percentile
intervals over patient bootstrap resamples of the test split, computed in one vectorized
pass (resample counts as weights), and the majority-class baseline (always predicting the
training split's majority class, probability = training prevalence) is reported beside
them: at 20% prevalence it scores 0.8 accuracy with F1 0, which is why accuracy alone
says little.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn import metrics as skm

from privhealth.data.schema import TableSchema
from privhealth.errors import ConfigError, SchemaError
from privhealth.models.base import ClinicalModel
from privhealth.models.features import FeaturePipeline, InputKind, ModelInput, TaskConfig
from privhealth.models.split import align_folds

METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auroc",
    "auprc",
    "balanced_accuracy",
    "brier",
)
PAPER_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")  # Table 2


# ---------------------------------------------------------------------- point metrics
def classification_metrics(
    y_true: np.ndarray, y_prob: np.ndarray, threshold: float | np.ndarray
) -> dict[str, float]:
    """The eight metrics with scikit-learn; predicted positive where ``y_prob >= threshold``.

    ``threshold`` may be one value per patient (pooled folds, each with its own threshold).

    Precision/recall/F1 with no predicted (or actual) positive are 0; AUROC, AUPRC and
    balanced accuracy are NaN when the labels hold a single class.
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(y_prob, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    two = len(np.unique(y)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "auroc": float(skm.roc_auc_score(y, p)) if two else float("nan"),
        "auprc": float(skm.average_precision_score(y, p)) if two else float("nan"),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)) if two else float("nan"),
        "brier": float(skm.brier_score_loss(y, p)) if len(y) else float("nan"),
    }


def select_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """The threshold maximising F1 on validation (module docstring gives the rule and why)."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(y_prob, dtype=np.float64)
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.5
    order, starts = _score_groups(p)
    ys = y[order]
    ends = np.r_[starts[1:], len(p)] - 1  # last index of each distinct score
    tp, fp = np.cumsum(ys)[ends], np.cumsum(~ys)[ends]
    score = p[order][ends]
    f1 = 2 * tp / (2 * tp + fp + (n_pos - tp))
    best = int(np.argmax(f1))  # first maximum = highest threshold among ties
    if best + 1 == len(score):
        return float(score[best])
    mid = (score[best] + score[best + 1]) / 2.0
    return float(mid if mid > score[best + 1] else score[best])


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Metrics of always predicting the training majority class (probability = train prevalence)."""
    prevalence = float(np.mean(y_train)) if len(y_train) else 0.0
    return classification_metrics(y_test, np.full(len(y_test), prevalence), threshold=0.5)


# ---------------------------------------------------------------------- bootstrap
def bootstrap_metrics(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Each metric over ``n_resamples`` patient resamples (one value per resample, NaN if undefined).

    Vectorized: resample counts form a (B, n) weight matrix; counts at the threshold are
    matrix products, AUROC and AUPRC come from weight sums per distinct score. Equal to
    scikit-learn's values on each resample (tested with unit weights).
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(y_prob, dtype=np.float64)
    n = len(y)
    if n == 0:
        raise ValueError("bootstrap of an empty test set")
    rng = np.random.default_rng(seed)
    chunk = bootstrap_chunk(n)
    parts = []
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        parts.append(weighted_metrics(resample_weights(rng, b, n), y, p, threshold))
    return {k: np.concatenate([part[k] for part in parts]) for k in METRICS}


def resample_weights(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(b, n) counts of each patient in ``b`` bootstrap resamples of ``n`` (rows of ``rng.integers``)."""
    idx = rng.integers(0, n, size=(b, n))
    offsets = (np.arange(b) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def bootstrap_chunk(n: int) -> int:
    """Resamples per chunk: bounds memory to a few (chunk × n) float64 matrices."""
    return max(1, 4_000_000 // n)


def weighted_metrics(
    W: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics for each row of case weights ``W`` (B, n), e.g. bootstrap resample counts."""
    y = y.astype(bool)
    pred = p >= threshold
    tp = W @ (y & pred)
    fp = W @ (~y & pred)
    fn = W @ (y & ~pred)
    tn = W @ (~y & ~pred)
    total = W.sum(axis=1)
    pos, neg = tp + fn, fp + tn
    out = {
        "accuracy": _div(tp + tn, total),
        "precision": _div(tp, tp + fp, empty=0.0),
        "recall": _div(tp, pos, empty=0.0),
        "f1": _div(2 * tp, 2 * tp + fp + fn, empty=0.0),
        "brier": _div(W @ (p - y) ** 2, total),
    }
    two = (pos > 0) & (neg > 0)
    out["balanced_accuracy"] = np.where(two, (_div(tp, pos) + _div(tn, neg)) / 2, np.nan)

    # per distinct score, highest first: weight of positives and negatives in each group
    order, starts = _score_groups(p)
    Ws = W[:, order]
    P = np.add.reduceat(Ws * y[order], starts, axis=1)  # (B, G)
    N = np.add.reduceat(Ws * ~y[order], starts, axis=1)
    neg_below = neg[:, None] - np.cumsum(N, axis=1)  # negatives scored strictly lower
    auc = (P * (neg_below + 0.5 * N)).sum(axis=1)
    out["auroc"] = np.where(two, _div(auc, pos * neg), np.nan)
    tp_cum, fp_cum = np.cumsum(P, axis=1), np.cumsum(N, axis=1)
    precision_at = _div(tp_cum, tp_cum + fp_cum, empty=0.0)
    out["auprc"] = np.where(pos > 0, _div((P * precision_at).sum(axis=1), pos), np.nan)
    return out


def _score_groups(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order of the scores, highest first, and where each run of equal scores starts in it."""
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    return order, np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])


def _div(a: np.ndarray, b: np.ndarray, empty: float = np.nan) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, empty), where=b > 0)


def bootstrap_ci(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float | np.ndarray,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval (patients resampled) of each metric at ``level``."""
    check_level(level)
    resampled = bootstrap_metrics(y_true, y_prob, threshold, n_resamples, seed)
    return {k: percentile_interval(v, level) for k, v in resampled.items()}


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"confidence level must be in (0, 1) (got {level!r})")


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the defined (non-NaN) resampled values."""
    v = values[~np.isnan(values)]
    if not len(v):
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def fold_summary(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean, standard deviation, standard error and t-interval of one metric over folds."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    k = len(v)
    nan = float("nan")
    if k == 0:
        return {"mean": nan, "sd": nan, "se": nan, "ci_lo": nan, "ci_hi": nan}
    mean = float(v.mean())
    if k == 1:
        return {"mean": mean, "sd": nan, "se": nan, "ci_lo": nan, "ci_hi": nan}
    sd = float(v.std(ddof=1))
    se = sd / np.sqrt(k)
    half = float(sps.t.ppf((1 + level) / 2, k - 1)) * se
    return {"mean": mean, "sd": sd, "se": float(se), "ci_lo": float(mean - half), "ci_hi": float(mean + half)}


# ---------------------------------------------------------------------- retained utility
def retained_fraction(anonymized: float, raw: float) -> float:
    """anonymized / raw: the share of a metric kept after anonymization (1 = nothing lost).

    Values above 1 are kept (anonymization can regularise). Edge cases: NaN in either →
    NaN; raw == 0 → 1.0 if anonymized == 0 too (nothing to lose), else NaN (the ratio is
    undefined; compare the two metrics directly); raw < 0 → NaN.
    """
    a, r = float(anonymized), float(raw)
    if np.isnan(a) or np.isnan(r) or r < 0:
        return float("nan")
    if r == 0:
        return 1.0 if a == 0 else float("nan")
    return a / r


def retained_utility(
    anonymized: TaskResult | Mapping[str, float],
    raw: TaskResult | Mapping[str, float],
    metrics: Sequence[str] = ("f1", "auroc"),
) -> dict[str, float]:
    """``{'<metric>_retained': anonymized / raw}`` for each metric (log as ``utility/…``)."""
    a = anonymized.metrics if isinstance(anonymized, TaskResult) else anonymized
    r = raw.metrics if isinstance(raw, TaskResult) else raw
    return {f"{m}_retained": retained_fraction(a[m], r[m]) for m in metrics}


# ---------------------------------------------------------------------- one run
@dataclass(eq=False)
class TaskResult:
    """Everything one train-and-evaluate run produces, ready to log (no patient identifiers)."""

    model_name: str
    metrics: dict[str, float]  # test split, at ``threshold``
    ci: dict[str, tuple[float, float]]  # bootstrap interval (lo, hi) of each metric
    baseline: dict[str, float]  # majority-class baseline on the same test split
    threshold: float  # chosen on validation (max F1)
    val_metrics: dict[str, float]  # validation split, at ``threshold``
    history: list[dict[str, float]]  # per epoch / boosting round (Fig. 9)
    n_parameters: int
    summary: str
    hparams: dict[str, Any]
    y_true: np.ndarray  # test labels, one per patient
    y_prob: np.ndarray  # test probabilities, same order
    fit_seconds: float
    predict_seconds: float  # predicting the whole test split
    n_patients: dict[str, int]  # per fold, after windowing; dropped = unlabelled patients
    feature_names: tuple[str, ...]
    task: TaskConfig
    ci_level: float = 0.95
    n_bootstrap: int = 1000
    model: ClinicalModel | None = field(default=None, repr=False)  # fitted, for timing (Fig. 8)
    test_input: ModelInput | None = field(default=None, repr=False)
    train_input: ModelInput | None = field(default=None, repr=False)  # members, for membership inference
    # repeated splits (crossval.cross_validate): per-patient thresholds of the pooled test
    # predictions, their patient keys (pairing raw and anonymized; never logged), per-fold metrics
    thresholds: np.ndarray | None = field(default=None, repr=False)
    patient_keys: np.ndarray | None = field(default=None, repr=False)
    fold_metrics: list[dict[str, float]] = field(default_factory=list)
    fold_val_metrics: list[dict[str, float]] = field(default_factory=list)
    n_suppressed: int = 0  # test patients absent from the frame, scored with the prevalence

    @property
    def y_pred(self) -> np.ndarray:
        thr = self.threshold if self.thresholds is None else self.thresholds
        return (self.y_prob >= thr).astype(np.int8)

    def predictions(self) -> pd.DataFrame:
        """Test predictions, one row per patient, without identifiers."""
        return pd.DataFrame({"y_true": self.y_true, "y_prob": self.y_prob, "y_pred": self.y_pred})

    def flat_metrics(self, prefix: str = "") -> dict[str, float]:
        """Scalars to log: metrics, ``*_ci_lo``/``*_ci_hi``, ``baseline_*``, threshold, sizes, times."""
        out: dict[str, float] = {}
        for k in METRICS:
            out[f"{prefix}{k}"] = self.metrics[k]
            out[f"{prefix}{k}_ci_lo"], out[f"{prefix}{k}_ci_hi"] = self.ci[k]
            out[f"{prefix}baseline_{k}"] = self.baseline[k]
        out[f"{prefix}threshold"] = self.threshold
        out[f"{prefix}n_parameters"] = float(self.n_parameters)
        out[f"{prefix}fit_seconds"] = self.fit_seconds
        out[f"{prefix}predict_seconds"] = self.predict_seconds
        for fold, n in self.n_patients.items():
            out[f"{prefix}n_patients_{fold}"] = float(n)
        if self.fold_metrics:
            out[f"{prefix}n_folds"] = float(len(self.fold_metrics))
            out[f"{prefix}n_suppressed"] = float(self.n_suppressed)
            for k in METRICS:
                s = fold_summary([f[k] for f in self.fold_metrics], self.ci_level)
                for stat in ("mean", "sd", "ci_lo", "ci_hi"):
                    out[f"{prefix}{k}_fold_{stat}"] = s[stat]
        return out


@dataclass(eq=False)
class PreparedInputs:
    """Model inputs per fold and the pipeline fitted on the training fold."""

    train: ModelInput
    val: ModelInput
    test: ModelInput
    pipeline: FeaturePipeline
    dropped: dict[str, int]


def prepare_inputs(
    frame: pd.DataFrame,
    schema: TableSchema,
    folds: pd.Series,
    task: TaskConfig | Mapping[str, Any] | None = None,
    kind: InputKind = "tabular",
) -> PreparedInputs:
    """Fit the feature pipeline on the training fold only and transform each fold."""
    pipeline = FeaturePipeline(schema, TaskConfig.from_mapping(task))
    aligned = align_folds(folds, frame, pipeline.entity)
    parts = {f: frame.loc[(aligned == f).to_numpy()] for f in ("train", "val", "test")}
    for f, part in parts.items():
        if len(part) == 0:
            raise SchemaError(f"the {f} fold has no row in this frame")
    pipeline.fit(parts["train"])
    inputs, dropped = {}, {}
    for f, part in parts.items():
        inputs[f] = pipeline.transform(part, kind)
        dropped[f] = int(part[pipeline.entity].nunique()) - len(inputs[f])
        if len(inputs[f]) == 0:
            raise SchemaError(f"the {f} fold has no labelled patient in this frame")
    ytr = inputs["train"].y
    if len(np.unique(ytr)) < 2:
        raise SchemaError(
            f"the training fold holds only class {int(ytr[0])} of target '{pipeline.target}'"
        )
    return PreparedInputs(inputs["train"], inputs["val"], inputs["test"], pipeline, dropped)


@dataclass(eq=False)
class Fitted:
    """A fitted copy of a model, its validation and test probabilities and the chosen threshold."""

    model: ClinicalModel
    p_val: np.ndarray
    threshold: float
    p_test: np.ndarray
    fit_seconds: float
    predict_seconds: float


def fit_and_predict(model: ClinicalModel, data: PreparedInputs, seed: int | None) -> Fitted:
    """Fit a shallow copy of ``model`` on the training fold; threshold on validation; predict test."""
    model = copy.copy(model)
    t0 = time.perf_counter()
    model.fit(data.train, data.val, seed=seed)
    fit_seconds = time.perf_counter() - t0
    p_val = model.predict_proba(data.val)
    threshold = select_threshold(data.val.y, p_val)
    t0 = time.perf_counter()
    p_test = model.predict_proba(data.test)
    return Fitted(model, p_val, threshold, p_test, fit_seconds, time.perf_counter() - t0)


def train_and_evaluate(
    model: ClinicalModel,
    frame: pd.DataFrame,
    schema: TableSchema,
    folds: pd.Series,
    task: TaskConfig | Mapping[str, Any] | None = None,
    seed: int | None = None,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
) -> TaskResult:
    """Fit ``model`` on the training fold, pick the threshold on validation, evaluate on test.

    ``folds`` (from ``patient_split`` on the raw frame) are matched to ``frame`` by index,
    so the same folds serve the raw and the anonymized frame. ``seed`` (if given)
    overrides the model's configured seed and seeds the bootstrap. ``model`` itself is not
    modified: a shallow copy is fitted (sharing its logger) and returned in ``result.model``,
    so one configured model can serve the raw and the anonymized run.
    """
    task = TaskConfig.from_mapping(task)
    data = prepare_inputs(frame, schema, folds, task, model.input_kind)
    fit = fit_and_predict(model, data, seed)
    model, p_val, threshold, p_test = fit.model, fit.p_val, fit.threshold, fit.p_test
    fit_seconds, predict_seconds = fit.fit_seconds, fit.predict_seconds
    y_test = data.test.y.astype(np.int8)
    boot_seed = model.seed if seed is None else seed
    return TaskResult(
        model_name=model.name,
        metrics=classification_metrics(y_test, p_test, threshold),
        ci=bootstrap_ci(y_test, p_test, threshold, n_bootstrap, ci_level, seed=boot_seed),
        baseline=majority_baseline(data.train.y, y_test),
        threshold=threshold,
        val_metrics=classification_metrics(data.val.y, p_val, threshold),
        history=list(model.history),
        n_parameters=model.n_parameters,
        summary=model.summary(),
        hparams=model.hparams() | ({"seed": seed} if seed is not None else {}),
        y_true=y_test,
        y_prob=p_test,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        n_patients={
            "train": len(data.train),
            "val": len(data.val),
            "test": len(data.test),
            "dropped": sum(data.dropped.values()),
        },
        feature_names=data.train.feature_names,
        task=task,
        ci_level=ci_level,
        n_bootstrap=n_bootstrap,
        model=model,
        test_input=data.test,
        train_input=data.train,
    )
