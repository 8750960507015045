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
    codes, strata = _patient_strata(frame, entity, target)
    n = len(strata)
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


def patient_kfold(
    frame: pd.DataFrame,
    entity: str,
    target: str,
    n_folds: int = 5,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> list[pd.Series]:
    """``n_folds`` fold labellings ('train'/'val'/'test' per row), each patient tested exactly once.

    Patients are stratified by label as in ``patient_split`` and dealt into ``n_folds`` parts
    of near-equal size per stratum; fold ``i`` tests part ``i`` and carves ``val_fraction``
    of the other patients (per stratum) as its validation split (threshold, early stopping).
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise ConfigError(f"evaluation.folds must be an integer >= 2 for k-fold (got {n_folds!r})")
    if not 0 < float(val_fraction) < 1:
        raise ConfigError(f"the validation fraction must be in (0, 1) (got {val_fraction!r})")
    codes, strata = _patient_strata(frame, entity, target)
    rng = np.random.default_rng(seed)
    part = np.empty(len(strata), dtype=np.int64)
    order = {}
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        if len(members) < n_folds and s >= 0:
            raise SchemaError(
                f"{len(members)} patient(s) with label {s} of '{target}' cannot fill {n_folds} folds"
            )
        part[members] = np.arange(len(members)) % n_folds
        order[s] = members
    out = []
    for f in range(n_folds):
        fold = np.full(len(strata), 2, dtype=np.int64)
        for members in order.values():
            rest = members[part[members] != f]
            fold[rest] = 0
            fold[rest[: int(round(float(val_fraction) * len(rest)))]] = 1
        out.append(pd.Series(np.asarray(FOLDS, dtype=object)[fold[codes]], index=frame.index, name="fold"))
    return out


def train_val_split(
    frame: pd.DataFrame, entity: str, target: str, val_fraction: float = 0.25, seed: int = 0
) -> pd.Series:
    """'train'/'val' per row, ``val_fraction`` of each label's patients in validation (no test)."""
    if not 0 < float(val_fraction) < 1:
        raise ConfigError(f"the validation fraction must be in (0, 1) (got {val_fraction!r})")
    codes, strata = _patient_strata(frame, entity, target)
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(strata), dtype=np.int64)
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        fold[members[: int(round(float(val_fraction) * len(members)))]] = 1
    return pd.Series(np.asarray(FOLDS, dtype=object)[fold[codes]], index=frame.index, name="fold")


def _patient_strata(frame: pd.DataFrame, entity: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Patient code per row (ids sorted) and each patient's stratum (label 0/1, -1 if unlabelled)."""
    for col, what in ((entity, "entity"), (target, "target")):
        if col not in frame.columns:
            raise SchemaError(f"frame lacks the {what} column '{col}' needed to split patients")
    ids = frame[entity]
    if ids.isna().any():
        raise SchemaError(f"entity column '{entity}' has {int(ids.isna().sum())} missing value(s)")
    codes, uniques = pd.factorize(ids, sort=True)
    label = (
        pd.to_numeric(frame[target], errors="coerce")
        .groupby(codes, sort=True)
        .max()
        .reindex(pd.RangeIndex(len(uniques)))
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    return codes, np.where(np.isnan(label), -1, label).astype(np.int64)


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
