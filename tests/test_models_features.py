"""Task window, feature roles, raw and anonymized frames, and scaling fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_cohort import anonymize_like, cached_cohort, make_cohort

from privhealth.errors import ConfigError, SchemaError
from privhealth.models.evaluation import prepare_inputs
from privhealth.models.features import FeaturePipeline, MinMaxScaler, TaskConfig
from privhealth.models.scaling import impute, nanmedian
from privhealth.models.split import patient_split

NEVER_FEATURES = ("icustayid", "bloc", "charttime", "name", "ssn", "mortality_90d", "died_in_hosp")


def _base(name: str) -> str:
    return name.split("__")[0].split("=")[0]


@pytest.fixture(scope="module")
def cohort():
    df, schema = cached_cohort(200, seed=3)
    return df.copy(), schema


def test_minmax_is_eq1_with_constant_columns_and_clipping():
    train = np.array([[0.0, 5.0, 1.0], [10.0, 5.0, np.nan], [5.0, 5.0, 3.0]])
    sc = MinMaxScaler(clip=(0.0, 1.0)).fit(train)
    out = sc.transform(np.array([[2.5, 5.0, 2.0], [20.0, 7.0, -1.0]]))
    np.testing.assert_allclose(out, [[0.25, 0.0, 0.5], [1.0, 0.0, 0.0]])
    assert MinMaxScaler(clip=None).fit(train).transform(np.array([[20.0, 5.0, 5.0]]))[0, 0] == 2.0


def test_medians_from_sklearn_equal_numpy_zero_for_empty_columns_and_refuse_infinity():
    """Medians by hand: (1, 2, 4, 10) -> 3; (3, 5, 7) -> 5; an all-NaN column -> 0 (kept, not dropped)."""
    X = np.array([[1.0, np.nan, 3.0], [2.0, np.nan, np.nan], [10.0, np.nan, 5.0], [4.0, np.nan, 7.0]])
    med = nanmedian(X, ["a", "b", "c"])
    np.testing.assert_array_equal(med, [3.0, 0.0, 5.0])
    np.testing.assert_array_equal(impute(X, med)[1], [2.0, 0.0, 5.0])
    assert nanmedian(np.zeros((3, 0)), []).shape == (0,)
    with pytest.raises(SchemaError, match=r"\['c'\] hold infinite values"):
        nanmedian(np.array([[1.0, 2.0, np.inf]]), ["a", "b", "c"])


def test_tabular_features_exclude_identifiers_time_target_and_outcomes(cohort):
    df, schema = cohort
    data = FeaturePipeline(schema).fit_transform(df, "tabular")
    bases = {_base(n) for n in data.feature_names}
    assert not bases & set(NEVER_FEATURES)
    assert {"HR__last", "HR__min", "HR__max", "HR__mean", "age", "n_blocs"} <= set(
        data.feature_names
    )
    assert "age__mean" not in data.feature_names  # static: one value per patient
    assert data.X.shape == (200, len(data.feature_names))
    assert data.X.dtype == np.float32 and not np.isnan(data.X).any()
    assert data.X.min() >= 0.0 and data.X.max() <= 1.0


def test_window_keeps_first_blocs_only(cohort):
    df, schema = cohort
    task = TaskConfig(window_blocs=3)
    pipe = FeaturePipeline(schema, task).fit(df)
    seq = pipe.transform(df, "sequence")
    assert seq.X.shape[1] == 3 and seq.lengths.max() == 3 and seq.lengths.min() >= 2
    later = df.copy()
    later.loc[later["bloc"] > 3, "HR"] = 1e6  # after the window: must not matter
    np.testing.assert_array_equal(
        pipe.transform(later, "tabular").X, pipe.transform(df, "tabular").X
    )
    np.testing.assert_array_equal(pipe.transform(later, "sequence").X, seq.X)


def test_window_counts_from_first_observed_bloc_in_any_row_order(cohort):
    df, schema = cohort
    pipe = FeaturePipeline(schema).fit(df)
    shuffled = df.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(
        pipe.transform(shuffled, "sequence").X, pipe.transform(df, "sequence").X
    )


def test_relabelled_patients_give_the_same_matrices(cohort):
    """A pseudonym key only relabels patients: it must not reorder them (models see row order)."""
    df, schema = cohort
    pipe = FeaturePipeline(schema).fit(df)
    ids = df[schema.entity].unique()
    relabel = dict(zip(ids, [f"p{h:08x}" for h in np.random.default_rng(1).permutation(len(ids))], strict=True))
    renamed = df.assign(**{schema.entity: df[schema.entity].map(relabel)})
    for kind in ("tabular", "sequence"):
        a, b = pipe.transform(df, kind), pipe.transform(renamed, kind)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)


def test_sequence_input_pads_and_repeats_statics(cohort):
    df, schema = cohort
    seq = FeaturePipeline(schema).fit_transform(df, "sequence")
    assert seq.X.shape[:2] == (200, 6) and seq.lengths.dtype == np.int64
    k = seq.feature_names.index("age")
    np.testing.assert_array_equal(seq.X[:, 0, k], seq.X[:, -1, k])
    short = np.flatnonzero(seq.lengths < 6)[0]
    hr = seq.feature_names.index("HR")
    assert (seq.X[short, seq.lengths[short] :, hr] == 0).all()


def test_anonymized_frame_one_hot_encodes_generalized_qis():
    df, schema = make_cohort(150, seed=4)
    anon = anonymize_like(df)
    task = TaskConfig(max_categories=4, generalized="onehot")  # the paper's reading
    data = FeaturePipeline(schema, task).fit_transform(anon, "tabular")
    names = set(data.feature_names)
    assert {"age=60-69", "age=__other__", "zip=021**", "gender=*"} <= names
    assert sum(n.startswith("age=") for n in names) == 5  # 4 kept + other
    assert not np.isnan(data.X).any()


@pytest.mark.parametrize("mode", ["midpoint", "bounds"])
def test_generalized_ranges_read_as_numbers(mode):
    df, schema = make_cohort(150, seed=4)
    anon = anonymize_like(df)
    pipe = FeaturePipeline(schema, TaskConfig(max_categories=4, generalized=mode)).fit(anon)
    data = pipe.transform(anon, "tabular")
    names = set(data.feature_names)
    assert not any(n.startswith(("age=", "gender=")) for n in names)
    assert {"zip=021**"} <= names  # a categorical generalization keeps its label
    cols = ["age"] if mode == "midpoint" else ["age__lo", "age__hi"]
    assert set(cols) <= names and not np.isnan(data.X).any()
    raw = pipe._tabular_raw(pipe._window(anon))[0]
    got = raw[:, [data.feature_names.index(c) for c in cols]]
    decade = pipe._window(anon).rows.groupby(pipe._window(anon).codes)["age"].last()
    lo = decade.str.split("-").str[0].astype(float).to_numpy()
    want = lo[:, None] + (np.array([[4.5]]) if mode == "midpoint" else np.array([[0.0, 9.0]]))
    np.testing.assert_array_equal(got, want)  # "60-69" → 64.5, or 60 and 69


def test_bad_generalized_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="task.generalized"):
        TaskConfig(generalized="median")


def test_numeric_text_stays_numeric_and_high_cardinality_is_capped():
    df, schema = make_cohort(120, seed=5)
    df["age"] = df["age"].round().astype(int).astype(str)  # e.g. "1950"-like text numbers
    data = FeaturePipeline(schema, TaskConfig(max_categories=3)).fit_transform(df, "tabular")
    assert "age" in data.feature_names
    assert sum(n.startswith("zip=") for n in data.feature_names) == 4


def test_scaler_never_sees_validation_or_test_rows():
    df, schema = make_cohort(200, seed=6)
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    test_rows = (folds == "test").to_numpy()
    extreme = df.copy()
    first_test = extreme.index[test_rows & (extreme["bloc"] == 1).to_numpy()][0]
    extreme.loc[first_test, "Arterial_lactate"] = 1e6
    noisy = df.copy()  # no extreme value, validation and test rows scrambled instead
    held_out = (folds != "train").to_numpy()
    noisy.loc[held_out, "HR"] = np.random.default_rng(0).normal(0, 1e4, held_out.sum())
    got = prepare_inputs(extreme, schema, folds)
    ref = prepare_inputs(noisy, schema, folds)
    np.testing.assert_array_equal(got.pipeline.scaler.min_, ref.pipeline.scaler.min_)
    np.testing.assert_array_equal(got.pipeline.scaler.max_, ref.pipeline.scaler.max_)
    col = got.test.feature_names.index("Arterial_lactate__max")
    assert got.test.X[:, col].max() == 1.0  # clipped to the training range
    assert 1e6 > got.pipeline.scaler.max_[col]


def test_window_of_zero_blocs_is_a_config_error():
    with pytest.raises(ConfigError, match="window_blocs"):
        TaskConfig(window_blocs=0)
    with pytest.raises(ConfigError, match="window_bloc"):
        TaskConfig.from_mapping({"window_bloc": 6})


def test_frame_without_target_is_a_schema_error(cohort):
    df, schema = cohort
    with pytest.raises(SchemaError, match="mortality_90d"):
        FeaturePipeline(schema).fit(df.drop(columns="mortality_90d"))


def test_target_must_be_binary_and_constant_per_patient(cohort):
    df, schema = cohort
    bad = df.copy()
    bad.loc[bad.index[bad["bloc"] == 2], "mortality_90d"] = (
        1 - bad.loc[bad["bloc"] == 2, "mortality_90d"]
    )
    with pytest.raises(SchemaError, match="not constant"):
        FeaturePipeline(schema).fit(bad)
    bad = df.copy()
    bad["mortality_90d"] = bad["mortality_90d"] * 2
    with pytest.raises(SchemaError, match="binary"):
        FeaturePipeline(schema).fit(bad)


def test_unlabelled_patients_are_left_out(cohort):
    df, schema = cohort
    part = df.copy()
    first = part["icustayid"].iloc[0]
    part.loc[part["icustayid"] == first, "mortality_90d"] = np.nan
    data = FeaturePipeline(schema).fit_transform(part, "tabular")
    assert len(data) == 199


def test_missing_feature_column_at_transform_is_named(cohort):
    df, schema = cohort
    pipe = FeaturePipeline(schema).fit(df)
    with pytest.raises(SchemaError, match="SOFA"):
        pipe.transform(df.drop(columns="SOFA"), "tabular")


def test_datetime_time_column_uses_four_hour_blocs(cohort):
    df, schema = cohort
    dt = df.copy()
    dt["charttime"] = pd.to_datetime(dt["charttime"], unit="s")
    a = FeaturePipeline(schema, TaskConfig(time_column="charttime")).fit_transform(dt, "sequence")
    b = FeaturePipeline(schema).fit_transform(df, "sequence")
    np.testing.assert_array_equal(a.lengths, b.lengths)
