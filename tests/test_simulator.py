"""The embedded MIMIC-III sepsis cohort simulator: layout, determinism, plausibility, identities."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from privhealth.data.identifiers import IDENTITY_NAMES, attach_identifiers
from privhealth.data.mimic import MIMICTABLE_COLUMNS
from privhealth.data.reference import REF
from privhealth.data.schema import Role
from privhealth.data.simulator import PER_BLOC_FEATURES, simulate_cohort
from privhealth.errors import ConfigError, SchemaError

N = 2000


@pytest.fixture(scope="module")
def cohort():
    t0 = time.perf_counter()
    data = simulate_cohort(N, seed=11)
    print(f"\nsimulate_cohort({N}) took {time.perf_counter() - t0:.2f} s (incl. MDP load)")
    return data


@pytest.fixture(scope="module")
def stays(cohort) -> pd.DataFrame:
    return cohort.frame.drop_duplicates("icustayid")


def test_columns_in_mimictable_order_then_identities(cohort):
    assert list(cohort.frame.columns) == list(MIMICTABLE_COLUMNS) + list(IDENTITY_NAMES)
    assert cohort.schema.column_names == list(cohort.frame.columns)
    assert cohort.n_entities == N
    assert cohort.frame["icustayid"].is_monotonic_increasing


def test_schema_roles(cohort):
    s = cohort.schema
    assert s.entity == "icustayid"
    assert s.time == ["bloc", "charttime"]
    assert s.target == "mortality_90d"
    assert s.sensitive == ["elixhauser"]
    assert set(s.quasi) == {"gender", "age", "zip", "date_of_birth", "admission_date"}
    assert set(s.direct) == {"name", "ssn", "mrn", "address", "city", "state", "phone", "email"}
    pii = {c.name: c.pii for c in s if c.pii}
    assert pii["zip"] == "zip" and pii["date_of_birth"] == "date" and pii["ssn"] == "ssn"
    assert {pii[c] for c in s.direct} == {"name", "ssn", "mrn", "address", "phone", "email"}
    assert s["HR"].role is Role.INSENSITIVE


def test_blocs_and_charttimes(cohort):
    f = cohort.frame
    per = f.groupby("icustayid")["bloc"].agg(["min", "max", "count"])
    assert (per["min"] == 1).all() and (per["max"] == per["count"]).all()
    assert per["max"].max() <= 20
    step = f.groupby("icustayid")["charttime"].diff().dropna()
    assert (step == 4 * 3600).all()
    years = pd.to_datetime(f["charttime"], unit="s").dt.year
    assert years.between(2100, 2200).all()


def test_same_seed_same_frame_other_seed_differs():
    a = simulate_cohort(200, seed=5)
    b = simulate_cohort(200, seed=5)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    c = simulate_cohort(200, seed=6)
    assert not a.frame["HR"].head(50).reset_index(drop=True).equals(c.frame["HR"].head(50))
    # identities come from their own random stream: turning them off leaves the clinical data
    d = simulate_cohort(200, seed=5, identifiers=False)
    pd.testing.assert_frame_equal(d.frame, a.frame[list(MIMICTABLE_COLUMNS)])
    assert not d.schema.direct


def test_mortality_plausible_for_a_sepsis_cohort(stays, cohort):
    m = stays["mortality_90d"].mean()
    print(f"\nsimulated 90-day mortality: {m:.3f} over {N} stays (real AI Clinician cohort ~15-25%)")
    assert 0.15 <= m <= 0.25
    assert cohort.metadata["mortality_90d_rate"] == pytest.approx(m)
    # deaths in hospital imply 90-day death; in-hospital death is most deaths
    assert (stays["died_in_hosp"] <= stays["mortality_90d"]).all()
    assert (stays["died_within_48h_of_out_time"] <= stays["died_in_hosp"]).all()
    assert stays.loc[stays["mortality_90d"] == 1, "died_in_hosp"].mean() > 0.6


def test_feature_marginals_plausible(cohort, stays):
    f = cohort.frame
    means = {c: round(float(f[c].mean()), 2) for c in ("HR", "SysBP", "MeanBP", "RR", "Temp_C", "SOFA")}
    print(f"\nbloc-level means: {means}; mean age {stays['age'].mean():.1f} y")
    assert 80 <= f["HR"].mean() <= 100
    assert 105 <= f["SysBP"].mean() <= 135
    assert 55 <= stays["age"].mean() <= 75
    assert 1 <= f["Arterial_lactate"].median() <= 3
    assert 0.50 <= (stays["gender"] == 0).mean() <= 0.62  # ~56% male
    assert f["SOFA"].between(0, 24).all() and 3 <= f["SOFA"].mean() <= 10
    assert f["FiO2_1"].between(0.21, 1.0).all()
    assert f["SpO2"].le(100).all() and f["SpO2"].median() >= 94
    assert f["Arterial_pH"].between(6.8, 7.8).all()
    assert f["GCS"].between(3, 15).all() and (f["GCS"] == f["GCS"].round()).all()
    assert f["SIRS"].between(0, 4).all()
    assert f[["SOFA", "SIRS"]].dtypes.eq("int64").all()
    nonneg = ["BUN", "Creatinine", "SGOT", "SGPT", "Total_bili", "INR", "Glucose", "Potassium",
              "Albumin", "input_total", "input_4hourly", "output_total", "output_4hourly",
              "max_dose_vaso", "median_dose_vaso"]  # fmt: skip
    assert (f[nonneg] >= 0).all().all()
    assert 0.2 <= f["mechvent"].mean() <= 0.6
    assert f.notna().all().all()
    # within-state noise brings the spread back to the reference SD (16 y for age, 18/min for HR)
    assert 14 <= f["HR"].std() <= 22


def test_marginals_match_the_reference_scales(cohort):
    """Centres + within-state noise give z-scores with mean ~0 and SD ~1 against the reference."""
    f = cohort.frame
    for name in PER_BLOC_FEATURES:
        ref = REF[name]
        x = f[name].to_numpy(dtype=float)
        if ref.encoding == "log":
            x = np.log(x + 0.1)
        z = (x - ref.mean) / ref.sd
        assert abs(z.mean()) < 0.15, name
        assert 0.8 <= z.std() <= 1.2, name  # clipping (GCS, SpO2) trims a little


def test_derived_columns_consistent(cohort):
    f = cohort.frame
    assert np.allclose(f["Shock_Index"], f["HR"] / f["SysBP"], atol=1e-3)
    assert np.allclose(f["PaO2_FiO2"], f["paO2"] / f["FiO2_1"], atol=0.1)
    assert (f["DiaBP"] <= f["MeanBP"]).all() and (f["MeanBP"] <= f["SysBP"]).all()
    assert (f["median_dose_vaso"] <= f["max_dose_vaso"]).all()
    assert np.allclose(f["cumulated_balance"], f["input_total"] - f["output_total"])
    g = f.groupby("icustayid")
    assert (g["input_total"].diff().dropna() >= 0).all()
    assert (g["output_total"].diff().dropna() >= 0).all()
    assert 1.0 <= (f["Ionised_Ca"]).median() <= 1.3
    assert (f["CO2_mEqL"] - f["HCO3"]).abs().median() < 3


def test_series_are_autocorrelated(cohort):
    f = cohort.frame
    nxt = f.groupby("icustayid")["HR"].shift(-1)
    ok = nxt.notna()
    assert np.corrcoef(f.loc[ok, "HR"], nxt[ok])[0, 1] > 0.4


def test_statics_constant_per_stay(cohort):
    static = ["gender", "age", "Weight_kg", "re_admission", "elixhauser", "mortality_90d",
              *IDENTITY_NAMES]  # fmt: skip
    assert cohort.frame.groupby("icustayid")[static].nunique().max().max() == 1


def test_identifiers_unique_and_well_formed(stays):
    assert stays["ssn"].is_unique and stays["mrn"].is_unique
    assert stays["ssn"].str.fullmatch(r"\d{3}-\d{2}-\d{4}").all()
    assert not stays["ssn"].str.startswith(("000", "666", "9")).any()
    assert stays["mrn"].str.fullmatch(r"\d{8}").all()
    assert stays["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d*@[a-z]+\.[a-z]+").all()
    assert stays["phone"].str.fullmatch(r"\d{3}-\d{3}-\d{4}").all()
    assert stays["state"].isin(["MA", "RI"]).all()
    adm = stays["admission_date"].dt.year
    assert adm.between(2001, 2012).all()


def test_date_of_birth_consistent_with_age(cohort, stays):
    years = (stays["admission_date"] - stays["date_of_birth"]).dt.days / 365.25
    young = stays["age"] < 90
    assert np.allclose(years[young], stays.loc[young, "age"], atol=1 / 365)
    assert (years[~young] >= 90 - 1 / 365).all()  # "90 or older": true age kept in the DOB
    assert (~young).sum() == cohort.metadata["age_topcoded_stays"] > 0
    assert cohort.metadata["age_shifted_stays"] == cohort.metadata["age_topcoded_stays"]
    assert stays["age"].max() == 90


def test_zip_is_a_skewed_quasi_identifier(stays):
    z = stays["zip"]
    assert z.str.fullmatch(r"0[12]\d{3}").all()
    prefix_share = z.str[:3].value_counts(normalize=True)
    assert prefix_share.iloc[0] >= 0.3  # the hospital's own 021xx area dominates
    zip_share = z.value_counts(normalize=True)
    assert zip_share.iloc[0] > 5 / z.nunique()  # far from uniform


def test_ages_unshifted_option_still_top_coded():
    a = simulate_cohort(300, seed=2, identifiers=False)
    b = simulate_cohort(300, seed=2, identifiers=False, shift_ages_over_89=False)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert b.metadata["age_shifted_stays"] == 0
    assert b.metadata["age_topcoded_stays"] == a.metadata["age_topcoded_stays"]


def test_max_blocs_is_configurable():
    d = simulate_cohort(200, seed=1, max_blocs=6, identifiers=False)
    assert d.frame["bloc"].max() <= 6
    assert d.metadata["stays_truncated_at_max_blocs"] > 0


@pytest.mark.parametrize("kwargs", [{"n_patients": 0}, {"n_patients": 10, "max_blocs": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        simulate_cohort(seed=0, **kwargs)


def test_attach_identifiers_on_a_plain_table():
    frame = pd.DataFrame({"stay": [7, 7, 8, 9, 9, 9], "age": [40.0, 40.0, 90.0, 70.0, 70.0, 70.0],
                          "gender": [1, 1, 0, 0, 0, 0]})  # fmt: skip
    out = attach_identifiers(frame, "stay", seed=3)
    assert list(out.columns) == ["stay", "age", "gender", *IDENTITY_NAMES]
    assert out.groupby("stay")["ssn"].nunique().eq(1).all() and out["ssn"].nunique() == 3
    pd.testing.assert_frame_equal(out, attach_identifiers(frame, "stay", seed=3))
    age = (out["admission_date"] - out["date_of_birth"]).dt.days / 365.25
    assert abs(age.iloc[0] - 40) < 1 / 365 and age.iloc[2] >= 90 - 1 / 365
    with pytest.raises(SchemaError, match="'nope'"):
        attach_identifiers(frame, "nope", seed=0)
