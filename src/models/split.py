"""Patient-level stratified train/validation/test split, reusable across raw and anonymized frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from privhealth.errors import ConfigError, SchemaError

FOLDS: tuple[str, str, str] = ("train", "val", "test")


def patient_split(
    frame: pd.DataFrame,
    entity: str,
    target: str,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> pd.Series:
    """Fold label ('train'/'val'/'test') per row, every row of a patient in the same fold.

    Patients are stratified by their label (patients without one form their own stratum),
    shuffled with ``seed`` and cut by ``fractions``. The result is aligned to
    ``frame.index``, so folds computed on the raw frame apply to an anonymized frame with
    the same index (pseudonyms and suppressed rows included). The assignment depends only
    on the set of patients, not on row order.
    """
    fr = _check_fractions(fractions)
    for col, what in ((entity, "entity"), (target, "target")):
        if col not in frame.columns:
            raise SchemaError(f"frame lacks the {what} column '{col}' needed to split patients")
    ids = frame[entity]
    if ids.isna().any():
        raise SchemaError(f"entity column '{entity}' has {int(ids.isna().sum())} missing value(s)")
    codes, uniques = pd.factorize(ids, sort=True)
    n = len(uniques)
    label = (
        pd.to_numeric(frame[target], errors="coerce")
        .groupby(codes, sort=True)
        .max()
        .reindex(pd.RangeIndex(n))
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    strata = np.where(np.isnan(label), -1, label).astype(np.int64)
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    cuts = np.cumsum(fr)[:2]
    for s in np.unique(strata):  # at most three strata: 0, 1, unlabelled
        members = rng.permutation(np.flatnonzero(strata == s))
        a, b = np.round(cuts * len(members)).astype(int)
        fold[members[:a]] = 0
        fold[members[a:b]] = 1
        fold[members[b:]] = 2
    return pd.Series(np.asarray(FOLDS, dtype=object)[fold[codes]], index=frame.index, name="fold")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    try:
        fr = np.asarray([float(f) for f in fractions], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"split fractions must be three numbers (got {fractions!r})") from None
    if fr.shape != (3,) or not np.all(fr > 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise ConfigError(
            "split fractions must be three positive numbers (train, val, test) summing to 1 "
            f"(got {list(fractions)!r})"
        )
    return fr


def align_folds(folds: pd.Series, frame: pd.DataFrame, entity: str) -> pd.Series:
    """``folds`` restricted to ``frame``'s rows; errors if rows lack a fold or a patient spans folds."""
    if not frame.index.is_unique:
        raise SchemaError("frame index has duplicate labels: folds are matched by index")
    aligned = folds.reindex(frame.index)
    if aligned.isna().any():
        raise SchemaError(
            f"folds do not cover {int(aligned.isna().sum())} row(s) of the frame "
            "(compute them on a frame with the same index)"
        )
    bad = sorted(set(aligned.unique()) - set(FOLDS))
    if bad:
        raise ConfigError(f"fold labels must be {FOLDS}; found {bad}")
    spread = aligned.groupby(frame[entity].to_numpy(), sort=False).nunique()
    if (spread > 1).any():
        raise SchemaError(
            f"{int((spread > 1).sum())} patient(s) of '{entity}' have rows in more than one fold "
            "(a leak between training and evaluation)"
        )
    return aligned
