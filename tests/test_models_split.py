"""Patient-level stratified split, reusable on the anonymized frame."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_cohort import anonymize_like, cached_cohort

from privhealth.errors import ConfigError, SchemaError
from privhealth.models.split import align_folds, patient_split


@pytest.fixture(scope="module")
def cohort():
    return cached_cohort(400, seed=0)


def test_every_patient_in_one_fold_with_stratified_sizes(cohort):
    df, _ = cohort
    folds = patient_split(df, "icustayid", "mortality_90d", seed=1)
    assert folds.index.equals(df.index)
    assert (folds.groupby(df["icustayid"]).nunique() == 1).all()
    per_patient = folds.groupby(df["icustayid"]).first()
    y = df.groupby("icustayid")["mortality_90d"].first()
    share = per_patient.value_counts(normalize=True)
    np.testing.assert_allclose(share[["train", "val", "test"]], [0.6, 0.2, 0.2], atol=0.01)
    prevalence = y.groupby(per_patient).mean()
    assert prevalence.max() - prevalence.min() < 0.02


def test_seeded_and_independent_of_row_order(cohort):
    df, _ = cohort
    a = patient_split(df, "icustayid", "mortality_90d", seed=7)
    b = patient_split(df.sample(frac=1.0, random_state=1), "icustayid", "mortality_90d", seed=7)
    assert a.equals(b.reindex(a.index))
    assert not a.equals(patient_split(df, "icustayid", "mortality_90d", seed=8))


def test_folds_carry_over_to_the_anonymized_frame(cohort):
    df, _ = cohort
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    anon = anonymize_like(df)
    aligned = align_folds(folds, anon, "icustayid")
    assert len(aligned) == len(anon) < len(df)
    assert (aligned == folds.loc[anon.index]).all()


def test_rows_without_fold_or_patient_across_folds_are_errors(cohort):
    df, _ = cohort
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    with pytest.raises(SchemaError, match="do not cover"):
        align_folds(folds.iloc[:-3], df, "icustayid")
    leaky = folds.copy()
    first = df.index[df["icustayid"] == df["icustayid"].iloc[0]]
    leaky.loc[first[0]] = "test" if leaky.loc[first[1]] != "test" else "train"
    with pytest.raises(SchemaError, match="more than one fold"):
        align_folds(leaky, df, "icustayid")


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.6, 0.3, 0.3), (0.8, 0.2, 0.0)])
def test_bad_fractions_are_config_errors(cohort, fractions):
    df, _ = cohort
    with pytest.raises(ConfigError, match="fractions"):
        patient_split(df, "icustayid", "mortality_90d", fractions=fractions)


def test_missing_target_column_is_named(cohort):
    df, _ = cohort
    with pytest.raises(SchemaError, match="mortality_90d"):
        patient_split(df.drop(columns="mortality_90d"), "icustayid", "mortality_90d")
