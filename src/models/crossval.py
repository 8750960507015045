"""Repeated patient-level evaluation on a fixed set of test patients (raw and anonymized alike).

Every fold scores exactly the patients that the *raw* frame's test fold holds (its
``reference``): the raw model and the anonymized model are compared on the same patients,
with the raw labels. A test patient the release suppressed (no released row, or no labelled
row left in the window) is still scored, with the training fold's prevalence as its
probability (the score of a model that knows nothing about the patient), and counted in
``n_suppressed``. Out-of-fold predictions are pooled over folds (each patient tested once in
k-fold) for the pooled metrics and their patient bootstrap; the per-fold metrics give the
mean and a t-interval over folds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.data.schema import TableSchema
from privhealth.errors import SchemaError
from privhealth.models.base import ClinicalModel
from privhealth.models.evaluation import (
    METRICS,
    TaskResult,
    bootstrap_ci,
    classification_metrics,
    fit_and_predict,
    prepare_inputs,
)
from privhealth.models.features import FeaturePipeline, TaskConfig
from privhealth.models.split import align_folds


@dataclass(frozen=True, eq=False)
class TestPatients:
    """The patients one fold scores: their patient keys and raw labels, in a fixed order."""

    keys: np.ndarray
    y: np.ndarray


def patient_keys(ids: pd.Series) -> pd.Series:
    """A patient number per row (the rank of the raw identifier): joins a release to its source.

    Not an identifier value: only the pipeline holds it, and it is never logged.
    """
    codes, _ = pd.factorize(ids, sort=True)
    return pd.Series(codes.astype(np.int64), index=ids.index, name=ids.name)


def with_keys(frame: pd.DataFrame, entity: str, keys: pd.Series) -> pd.DataFrame:
    """``frame`` with its entity column replaced by the source's patient key of each row."""
    k = keys.reindex(frame.index)
    if k.isna().any():
        raise SchemaError(f"{int(k.isna().sum())} row(s) of the frame are not rows of the source")
    return frame.assign(**{entity: k.to_numpy(dtype=np.int64)})


def window_keys(pipeline: FeaturePipeline, frame: pd.DataFrame) -> np.ndarray:
    """Patient key of each row of ``pipeline.transform(frame)`` (same window, same order)."""
    win = pipeline._window(frame)  # the pipeline's own rule for who is kept, and in which order
    return win.rows[pipeline.entity].groupby(win.codes, sort=True).first().to_numpy(dtype=np.int64)


def reference_patients(
    frame: pd.DataFrame,
    schema: TableSchema,
    splits: Sequence[pd.Series],
    keys: pd.Series,
    task: TaskConfig | Mapping[str, Any] | None = None,
) -> list[TestPatients]:
    """Per fold, the labelled test patients of the raw ``frame`` (keys and labels): who is scored."""
    pipeline = FeaturePipeline(schema, TaskConfig.from_mapping(task))
    keyed = with_keys(frame, pipeline.entity, keys)
    out = []
    for folds in splits:
        test = keyed.loc[(align_folds(folds, keyed, pipeline.entity) == "test").to_numpy()]
        win = pipeline._window(test)
        if win.n_patients == 0:
            raise SchemaError("a test fold holds no labelled patient")
        out.append(TestPatients(window_keys(pipeline, test), win.y.astype(np.int8)))
    return out


def cross_validate(
    model: ClinicalModel,
    frame: pd.DataFrame | Sequence[pd.DataFrame],
    schema: TableSchema,
    splits: Sequence[pd.Series],
    reference: Sequence[TestPatients],
    keys: pd.Series,
    task: TaskConfig | Mapping[str, Any] | None = None,
    seed: int | None = None,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
) -> TaskResult:
    """Fit and score ``model`` once per fold on ``frame`` (raw or released), scored on ``reference``.

    ``frame`` is one frame or one per fold (deploy protocol); ``keys`` maps each row (by index)
    to its source patient; ``reference`` (from ``reference_patients`` on the raw frame) fixes who
    each fold scores. The result's metrics are pooled over folds; ``fold_metrics`` keeps each fold's.
    """
    task = TaskConfig.from_mapping(task)
    if len(splits) != len(reference):
        raise ValueError("one reference set of test patients per fold is needed")
    frames = [frame] * len(splits) if isinstance(frame, pd.DataFrame) else list(frame)
    parts: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    for f, (folds, ref) in enumerate(zip(splits, reference, strict=True)):
        keyed = with_keys(frames[f], schema.entity or "", keys)
        data = prepare_inputs(keyed, schema, folds, task, model.input_kind)
        fit = fit_and_predict(model, data, seed)
        test_part = keyed.loc[(align_folds(folds, keyed, data.pipeline.entity) == "test").to_numpy()]
        pos = pd.Index(window_keys(data.pipeline, test_part)).get_indexer(ref.keys)
        prevalence = float(np.mean(data.train.y))
        p = np.where(pos >= 0, fit.p_test[np.maximum(pos, 0)], prevalence)
        parts.append({
            "p": p, "thr": fit.threshold, "prev": prevalence, "missing": int((pos < 0).sum()),
            "metrics": classification_metrics(ref.y, p, fit.threshold),
            "val": classification_metrics(data.val.y, fit.p_val, fit.threshold),
            "fit": fit.fit_seconds, "pred": fit.predict_seconds, "dropped": sum(data.dropped.values()),
        })
        if f == 0:
            first = {"model": fit.model, "data": data}
    y = np.concatenate([r.y for r in reference])
    p = np.concatenate([part["p"] for part in parts])
    sizes = [len(r.y) for r in reference]
    thr = np.repeat([part["thr"] for part in parts], sizes)
    prev = np.full(len(y), np.mean([part["prev"] for part in parts]))  # one constant: AUROC 0.5
    fitted, data = first["model"], first["data"]
    boot_seed = fitted.seed if seed is None else seed
    fold_val = [part["val"] for part in parts]
    return TaskResult(
        model_name=fitted.name,
        metrics=classification_metrics(y, p, thr),
        ci=bootstrap_ci(y, p, thr, n_bootstrap, ci_level, seed=boot_seed),
        baseline=classification_metrics(y, prev, 0.5),
        threshold=float(np.mean([part["thr"] for part in parts])),
        val_metrics={m: float(np.nanmean([v[m] for v in fold_val])) for m in METRICS},
        history=list(fitted.history),
        n_parameters=fitted.n_parameters,
        summary=fitted.summary(),
        hparams=fitted.hparams() | ({"seed": seed} if seed is not None else {}),
        y_true=y.astype(np.int8),
        y_prob=p,
        fit_seconds=sum(part["fit"] for part in parts),
        predict_seconds=sum(part["pred"] for part in parts),
        n_patients={
            "train": len(data.train),
            "val": len(data.val),
            "test": len(y),
            "dropped": parts[0]["dropped"],
        },
        feature_names=data.train.feature_names,
        task=task,
        ci_level=ci_level,
        n_bootstrap=n_bootstrap,
        model=fitted,
        test_input=data.test,
        train_input=data.train,
        thresholds=thr,
        patient_keys=np.concatenate([r.keys for r in reference]),
        fold_metrics=[part["metrics"] for part in parts],
        fold_val_metrics=fold_val,
        n_suppressed=sum(part["missing"] for part in parts),
    )
