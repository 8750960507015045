"""The MIMICtable.csv loader: round trip with the simulator, age handling, and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privhealth.data.identifiers import IDENTITY_NAMES
from privhealth.data.mimic import (
    MIMICTABLE_COLUMNS,
    load_mimictable,
    mimictable_schema,
    to_mimictable_csv,
)
from privhealth.data.simulator import simulate_cohort
from privhealth.errors import SchemaError

SECRET = "zz_cell_secret"  # a cell value that must never appear in an error message


@pytest.fixture(scope="module")
def simulated():
    return simulate_cohort(150, seed=21)


@pytest.fixture(scope="module")
def raw_frame(simulated, tmp_path_factory) -> pd.DataFrame:
    """The simulated cohort in the raw file layout (age in days, shifted), as text cells."""
    path = to_mimictable_csv(simulated, tmp_path_factory.mktemp("raw") / "MIMICtable.csv")
    return pd.read_csv(path, dtype=str)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_bad(path: Path) -> str:
    """Load a file expected to fail; check the file is untouched and return the message."""
    before = _digest(path)
    with pytest.raises(SchemaError) as err:
        load_mimictable(path)
    assert _digest(path) == before
    msg = str(err.value)
    assert str(path) in msg
    assert SECRET not in msg
    return msg


def test_round_trip_through_csv(simulated, tmp_path):
    path = to_mimictable_csv(simulated, tmp_path / "MIMICtable.csv")
    assert pd.read_csv(path, nrows=0).columns.tolist() == list(MIMICTABLE_COLUMNS)
    before = _digest(path)
    loaded = load_mimictable(path)
    assert _digest(path) == before
    expected = simulated.frame[list(MIMICTABLE_COLUMNS)]
    pd.testing.assert_frame_equal(loaded.frame, expected, check_exact=False, rtol=1e-12)
    assert loaded.schema == mimictable_schema()
    assert loaded.metadata["n_stays"] == 150
    assert loaded.metadata["age_topcoded_stays"] == simulated.metadata["age_topcoded_stays"]
    assert loaded.metadata["age_shifted_stays"] == simulated.metadata["age_shifted_stays"]


def test_age_days_to_years_and_top_coding(raw_frame, tmp_path):
    raw = raw_frame.copy()
    days = raw["age"].astype(float)
    shifted_rows = days > 120 * 365.25
    assert shifted_rows.any()  # the simulator writes MIMIC's ~300-year ages
    first = raw["icustayid"].drop_duplicates().index
    raw.loc[raw["icustayid"] == raw.loc[first[0], "icustayid"], "age"] = str(91.4 * 365.25)
    raw.loc[raw["icustayid"] == raw.loc[first[1], "icustayid"], "age"] = str(25154.47)
    path = tmp_path / "MIMICtable.csv"
    raw.to_csv(path, index=False)
    data = load_mimictable(path)
    age = data.frame["age"]
    assert age.max() == 90.0 and age.min() >= 18
    assert age.iloc[first[1]] == pytest.approx(25154.47 / 365.25)
    assert age.iloc[first[0]] == 90.0  # AI Clinician's own rewrite (91.4 y) is top-coded too
    assert data.metadata["age_shifted_rows"] == int((shifted_rows & (raw["age"].astype(float) > 120 * 365.25)).sum())
    assert data.metadata["age_topcoded_stays"] >= data.metadata["age_shifted_stays"] + 1


def test_attach_identifiers_on_load(simulated, tmp_path):
    path = to_mimictable_csv(simulated, tmp_path / "MIMICtable.csv")
    a = load_mimictable(path, attach_identifiers=True, seed=4)
    b = load_mimictable(path, attach_identifiers=True, seed=4)
    assert list(a.frame.columns) == list(MIMICTABLE_COLUMNS) + list(IDENTITY_NAMES)
    assert a.schema == mimictable_schema(identifiers=True)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    stays = a.frame.drop_duplicates("icustayid")
    assert stays["ssn"].is_unique and stays["mrn"].is_unique
    years = (stays["admission_date"] - stays["date_of_birth"]).dt.days / 365.25
    young = stays["age"] < 90
    assert np.allclose(years[young], stays.loc[young, "age"], atol=1 / 365)


@pytest.mark.parametrize("column", ["HR", "icustayid", "SIRS"])
def test_missing_column(raw_frame, tmp_path, column):
    path = tmp_path / "MIMICtable.csv"
    raw_frame.drop(columns=column).to_csv(path, index=False)
    assert f"'{column}'" in _load_bad(path)


def test_extra_column(raw_frame, tmp_path):
    path = tmp_path / "MIMICtable.csv"
    raw_frame.assign(patient_name=SECRET).to_csv(path, index=False)
    assert "'patient_name'" in _load_bad(path)


def test_index_column_written_by_mistake(raw_frame, tmp_path):
    path = tmp_path / "MIMICtable.csv"
    raw_frame.to_csv(path, index=True)
    assert "Unnamed: 0" in _load_bad(path)


@pytest.mark.parametrize("column", ["SysBP", "bloc", "mortality_90d"])
def test_non_numeric_value(raw_frame, tmp_path, column):
    raw = raw_frame.copy()
    raw.loc[3, column] = SECRET
    path = tmp_path / "MIMICtable.csv"
    raw.to_csv(path, index=False)
    msg = _load_bad(path)
    assert f"'{column}'" in msg and "row(s) 4" in msg


def test_non_binary_and_non_integer_values(raw_frame, tmp_path):
    raw = raw_frame.copy()
    raw.loc[0, "mechvent"] = "2"
    path = tmp_path / "MIMICtable.csv"
    raw.to_csv(path, index=False)
    assert "'mechvent'" in _load_bad(path)
    raw = raw_frame.copy()
    raw.loc[0, "SOFA"] = "3.5"
    raw.to_csv(path, index=False)
    assert "'SOFA'" in _load_bad(path)


def test_empty_file(tmp_path):
    path = tmp_path / "MIMICtable.csv"
    path.write_bytes(b"")
    assert "empty" in _load_bad(path)


def test_header_only_file(tmp_path):
    path = tmp_path / "MIMICtable.csv"
    path.write_text(",".join(MIMICTABLE_COLUMNS) + "\n")
    assert "no data rows" in _load_bad(path)


def test_semicolon_separated_file(raw_frame, tmp_path):
    path = tmp_path / "MIMICtable.csv"
    raw_frame.to_csv(path, index=False, sep=";")
    assert "comma-separated" in _load_bad(path)


def test_age_in_years_is_refused(raw_frame, tmp_path):
    raw = raw_frame.copy()
    raw["age"] = (raw["age"].astype(float) / 365.25).round(2).astype(str)
    path = tmp_path / "MIMICtable.csv"
    raw.to_csv(path, index=False)
    assert "'age'" in _load_bad(path)


def test_repeated_stay_and_bloc(raw_frame, tmp_path):
    path = tmp_path / "MIMICtable.csv"
    pd.concat([raw_frame, raw_frame.head(1)]).to_csv(path, index=False)
    assert "'bloc'" in _load_bad(path)


def test_ragged_row(raw_frame, tmp_path):
    path = tmp_path / "MIMICtable.csv"
    raw_frame.head(5).to_csv(path, index=False)
    with path.open("a") as fh:
        fh.write("1,2,3," + SECRET + ",5,6,7,8,9,10," * 9 + "\n")
    assert "line" in _load_bad(path)


def test_missing_file(tmp_path):
    with pytest.raises(SchemaError, match="no such file"):
        load_mimictable(tmp_path / "absent.csv")
