"""The evaluation protocol of a job: which folds, which test patients, which frames each model sees.

``evaluation.folds`` k-fold splits by patient (stratified by the label; validation carved
from each fold's training part), or one holdout split (``folds=1``, ``split.fractions``);
``evaluation.fresh_test_patients=N`` appends an independent simulated cohort (another seed)
whose N patients are the only test patients. The test patients of every fold are fixed on
the raw data (``crossval.reference_patients``): the raw and every anonymized model are
scored on exactly them.

``evaluation.protocol`` chooses what the anonymized model is trained and tested on:
``release`` (the paper's: train and test inside the release) and ``deploy`` (train on the
release, test on the raw held-out patients mapped through ``Release.apply``: the release's
recipe applied to new records, as a hospital would use the model). ``evaluation.release_scope``
says which patients the release is computed from: ``all`` (the default, transductive: the
test patients' records, labels included, shape the release, as in the paper) or ``train``
(inductive: per fold, a release of the non-test patients only; needs ``protocol=deploy``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from privhealth.anon.release import Release
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError
from privhealth.models.crossval import TestPatients, patient_keys, reference_patients
from privhealth.models.split import patient_kfold, patient_split, train_val_split

PROTOCOLS = ("release", "deploy")
PREFIX = {"release": "test/", "deploy": "deploy/"}  # metric prefix of each protocol
DELTA_PREFIX = {"release": "utility/delta_", "deploy": "utility/deploy_delta_"}
SCOPES = ("all", "train")
FRESH_SEED_OFFSET = 1_000_003  # the fresh cohort's seed: the job's seed plus this


@dataclass(frozen=True)
class Settings:
    """``cfg.evaluation``'s protocol settings, validated."""

    folds: int
    val_fraction: float
    protocols: tuple[str, ...]
    scope: str
    fresh: int | None

    @classmethod
    def from_cfg(cls, ev: DictConfig) -> Settings:
        folds = ev.get("folds", 1)
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
            raise ConfigError(f"evaluation.folds must be an integer >= 1 (got {folds!r})")
        val = ev.get("val_fraction", 0.25)
        if isinstance(val, bool) or not isinstance(val, int | float) or not 0 < val < 1:
            raise ConfigError(f"evaluation.val_fraction must be a number in (0, 1) (got {val!r})")
        raw = ev.get("protocol", "release")
        protos = tuple(str(p) for p in raw) if isinstance(raw, ListConfig | list | tuple) else (str(raw),)
        bad = [p for p in protos if p not in PROTOCOLS]
        if bad or not protos or len(set(protos)) != len(protos):
            raise ConfigError(f"evaluation.protocol must be one or both of {PROTOCOLS} (got {list(protos)})")
        scope = str(ev.get("release_scope", "all"))
        if scope not in SCOPES:
            raise ConfigError(f"evaluation.release_scope must be one of {SCOPES} (got {scope!r})")
        if scope == "train" and "release" in protos:
            raise ConfigError(
                "evaluation.release_scope=train keeps the test patients out of the release, so they "
                "can only be scored through Release.apply: use evaluation.protocol=deploy"
            )
        fresh = ev.get("fresh_test_patients")
        if fresh is not None and (isinstance(fresh, bool) or not isinstance(fresh, int) or fresh < 1):
            raise ConfigError(f"evaluation.fresh_test_patients must be null or an integer >= 1 (got {fresh!r})")
        return cls(int(folds), float(val), protos, scope, fresh)

    def spec(self) -> dict[str, object]:
        """What decides the raw model's results (part of its cache key)."""
        return {"cv": 1, "folds": self.folds, "val": self.val_fraction, "fresh": self.fresh}


@dataclass
class Plan:
    """The splits, the patients each fold scores, and the row → patient key join."""

    settings: Settings
    dataset: Dataset  # with the fresh cohort appended when asked
    splits: list[pd.Series]
    keys: pd.Series
    reference: list[TestPatients]

    def test_mask(self, fold: int) -> np.ndarray:
        return (self.splits[fold] == "test").to_numpy()


def make_plan(cfg: DictConfig, dataset: Dataset) -> Plan:
    """Validate the settings, append the fresh cohort if asked, cut the folds, fix the test patients."""
    st = Settings.from_cfg(cfg.evaluation)
    entity, target = dataset.schema.entity, dataset.schema.target
    seed = int(cfg.seed)
    if st.fresh:
        dataset, fresh = with_fresh_cohort(cfg, dataset, st.fresh)
        base = train_val_split(dataset.frame.loc[~fresh], entity, target, st.val_fraction, seed)
        splits = [base.reindex(dataset.frame.index).fillna("test").rename("fold")]
    elif st.folds == 1:
        splits = [patient_split(dataset.frame, entity, target, tuple(cfg.split.fractions), seed)]
    else:
        splits = patient_kfold(dataset.frame, entity, target, st.folds, st.val_fraction, seed)
    keys = patient_keys(dataset.frame[entity])
    task = OmegaConf.to_container(cfg.task, resolve=True)
    reference = reference_patients(dataset.frame, dataset.schema, splits, keys, task)
    return Plan(st, dataset, splits, keys, reference)


def with_fresh_cohort(cfg: DictConfig, dataset: Dataset, n: int) -> tuple[Dataset, np.ndarray]:
    """The dataset with ``n`` newly simulated patients appended (seed + offset); mask of their rows."""
    if not str(cfg.data.get("_target_", "")).endswith("simulate_cohort"):
        raise ConfigError(
            "evaluation.fresh_test_patients needs a simulated cohort (data=simulated): "
            f"'{cfg.data.get('_target_')}' cannot draw new patients"
        )
    fresh = instantiate(cfg.data, n_patients=int(n), seed=int(cfg.seed) + FRESH_SEED_OFFSET, _convert_="all")
    entity = dataset.schema.entity
    f = fresh.frame.copy()
    f.index = f.index + (int(dataset.frame.index.max()) + 1 - int(f.index.min()))
    f[entity] = f[entity] + (int(dataset.frame[entity].max()) + 1 - int(f[entity].min()))
    frame = pd.concat([dataset.frame, f[dataset.frame.columns]])
    mask = np.r_[np.zeros(len(dataset.frame), bool), np.ones(len(f), bool)]
    meta = {**own_metadata(dataset), "fresh_test_patients": int(n), "fresh_seed": int(cfg.seed) + FRESH_SEED_OFFSET}
    return replace(dataset, frame=frame, metadata=meta), mask


def own_metadata(dataset: Dataset) -> dict[str, object]:
    """The metadata of a dataset derived from ``dataset`` by changing its rows: without the source's
    fingerprint or file hash, so the release cache fingerprints the new rows (not the source's)."""
    return {k: v for k, v in dataset.metadata.items() if k not in ("fingerprint", "sha256")}


def applied(release: Release, frame: pd.DataFrame) -> pd.DataFrame:
    """Raw records mapped through the release's recipe (``Release.apply``), or a clear error."""
    apply = getattr(release, "apply", None)
    if apply is None:
        raise ConfigError("evaluation.protocol=deploy needs Release.apply, which this version lacks")
    out = apply(frame)
    if not out.index.equals(frame.index):
        raise ConfigError(f"Release.apply of '{release.method}' did not keep the records' index")
    return out


def frames_for(
    protocol: str, plan: Plan, release: Release, fold_release: Callable[[int], Release] | None = None
) -> pd.DataFrame | list[pd.DataFrame]:
    """What an anonymized model sees under ``protocol``: the release, or per fold its non-test rows
    plus the fold's raw test records mapped through the (fold's) release."""
    if protocol == "release":
        return release.frame
    return [deploy_frame(plan, fold_release(f) if fold_release is not None else release, f)
            for f in range(len(plan.splits))]


def deploy_frame(plan: Plan, rel: Release, fold: int) -> pd.DataFrame:
    """Fold ``fold``'s deploy frame: ``rel``'s non-test rows plus the raw test records mapped through it."""
    test = plan.dataset.frame.loc[plan.test_mask(fold)]
    train = rel.frame.loc[~rel.frame.index.isin(test.index)]
    return pd.concat([train, applied(rel, test)[train.columns]])


def train_patients(plan: Plan, fold: int) -> Dataset:
    """The dataset restricted to fold ``fold``'s non-test patients (release_scope=train)."""
    frame = plan.dataset.frame.loc[~plan.test_mask(fold)]
    return replace(plan.dataset, frame=frame, metadata=own_metadata(plan.dataset))
