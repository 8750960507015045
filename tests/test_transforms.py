"""Transforms of Eq. 2-4 and masking: keyed pseudonyms, format-aware masks, generalization, suppression."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privhealth.anon.transforms import (
    CellSuppressor,
    DropColumns,
    Generalizer,
    Masker,
    OutlierSuppressor,
    Pseudonymizer,
    RuleSet,
    SmallClassSuppressor,
    load_key,
    mask_series,
)
from privhealth.data.loaders import toy_table
from privhealth.errors import ConfigError, HierarchyError, SchemaError, SecretError

KEY = "k" * 32


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PRIVHEALTH_PSEUDONYM_KEY", KEY)
    return KEY


def test_pseudonyms_are_keyed_deterministic_and_consistent(key, monkeypatch):
    p = Pseudonymizer(["id"]).fit(pd.DataFrame())
    a = p.pseudonyms(pd.Series([101, 102, 101]))
    b = p.pseudonyms(pd.Series(["101", "103"]))  # another table: same ID, same pseudonym
    assert a[0] == a[2] == b[0] and a[0] != a[1]
    assert a[0].startswith("P") and len(a[0]) == 17
    monkeypatch.setenv("PRIVHEALTH_PSEUDONYM_KEY", "another key of enough length")
    c = Pseudonymizer(["id"]).fit(pd.DataFrame()).pseudonyms(pd.Series([101]))
    assert c[0] != a[0]
    # not the unkeyed hash of the ID
    assert a[0][1:] != hashlib.sha256(b"101").hexdigest()[:16]


def test_pseudonymizer_without_key_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.delenv("PRIVHEALTH_PSEUDONYM_KEY", raising=False)
    with pytest.raises(SecretError, match="no pseudonymization key found.*never made without a key"):
        Pseudonymizer(["id"], key_file=str(tmp_path / "absent.key")).fit(pd.DataFrame())
    short = tmp_path / "short.key"
    short.write_text("abc")
    with pytest.raises(SecretError, match="shorter than 16 bytes"):
        load_key(None, short)


def test_key_file_is_used_and_never_in_description(monkeypatch, tmp_path):
    monkeypatch.delenv("PRIVHEALTH_PSEUDONYM_KEY", raising=False)
    kf = tmp_path / "p.key"
    kf.write_text("s3cr3t-key-material-0123456789\n")
    p = Pseudonymizer(["id"], key_file=str(kf))
    out = p.fit_transform(pd.DataFrame({"id": [1, 2]}))
    assert out["id"].str.startswith("P").all()
    assert "s3cr3t" not in str(p.describe())


def test_unkeyed_schemes_need_explicit_opt_in():
    with pytest.raises(ConfigError, match="not keyed"):
        Pseudonymizer(["id"], scheme="sha256")
    seq = Pseudonymizer(["PatientID"], scheme="sequential", allow_unkeyed=True)
    out = seq.fit_transform(toy_table().frame)
    assert out["PatientID"].tolist() == ["P1", "P2", "P3", "P4"]


def test_masking_rules():
    s = pd.Series(["123-45-6789", "(617) 555-0199", None])
    assert mask_series(s, "ssn").tolist()[:2] == ["*-6789", "*-0199"]  # the paper's example
    assert mask_series(s, "phone").tolist()[:2] == ["***-**-6789", "(***) ***-0199"]
    assert mask_series(s, "keep_last", n=4).tolist()[0] == "*******6789"
    assert mask_series(pd.Series(["ann.lee@x.org"]), "email").tolist() == ["****@x.org"]
    assert mask_series(pd.Series(["Alice"]), "full", char="X").tolist() == ["XXXX"]
    assert mask_series(pd.Series(["MRN-0042"]), "regex", pattern=r"\d", repl="#").tolist() == ["MRN-####"]
    assert pd.isna(mask_series(s, "ssn").iloc[2])
    with pytest.raises(ConfigError, match="unknown rule 'blur'"):
        Masker({"x": "blur"})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789-() ", min_size=1, max_size=20), min_size=1, max_size=20))
def test_phone_mask_keeps_at_most_four_digits(values):
    out = mask_series(pd.Series(values), "phone")
    for before, after in zip(values, out, strict=True):
        assert len(after) == len(before)
        assert sum(ch.isdigit() for ch in after) == min(4, sum(ch.isdigit() for ch in before))


def test_paper_fig4_transformation_reproduced():
    ds = toy_table()
    rules = RuleSet(
        [
            Pseudonymizer(["PatientID"], scheme="sequential", allow_unkeyed=True),
            Masker({"Name": {"rule": "full", "char": "X", "width": 4}}),
            Generalizer(
                {
                    "Age": {"type": "intervals", "levels": [[0, 31, 51, 101]]},
                    "ZIP": {"type": "prefix", "keep": [3], "mask_char": "X"},
                }
            ),
        ]
    )
    out = rules.fit_transform(ds.frame)
    expected = pd.DataFrame(
        {
            "PatientID": ["P1", "P2", "P3", "P4"],
            "Name": ["XXXX"] * 4,
            "Age": ["0-30", "31-50", "31-50", "51-100"],
            "ZIP": ["123XX"] * 4,
            "Diagnosis": ["Flu", "Diabetes", "Flu", "Hypertension"],
        }
    )
    pd.testing.assert_frame_equal(
        out.astype(str).reset_index(drop=True), expected.astype(str), check_dtype=False
    )
    # the input is never modified
    assert ds.frame["Age"].tolist() == [25, 40, 35, 60]


def test_generalizer_errors_name_column_and_value():
    with pytest.raises(SchemaError, match="'Height'"):
        Generalizer({"Height": {"type": "flat"}}).fit(toy_table().frame)
    g = Generalizer({"ZIP": {"type": "flat"}}).fit(toy_table().frame)
    with pytest.raises(HierarchyError, match="value '99999' of column 'ZIP'"):
        g.transform(pd.DataFrame({"ZIP": ["12345", "99999"]}))
    with pytest.raises(ConfigError, match="level 5 for column 'Age'"):
        Generalizer({"Age": {"type": "intervals", "levels": [10]}}, {"Age": 5}).fit(toy_table().frame)


def test_suppression_steps():
    df = pd.DataFrame({"pid": [1, 1, 2, 3, 4], "w": [70.0, 70.0, 300.0, 65.0, 80.0], "z": list("aabbc")})
    cell = OutlierSuppressor(["w"], quantiles=(0.0, 0.8)).fit_transform(df)
    assert cell["w"].isna().tolist() == [False, False, True, False, False]
    rec = OutlierSuppressor(["w"], quantiles=(0.0, 0.8), action="record", entity="pid").fit_transform(df)
    assert 2 not in rec["pid"].tolist() and len(rec) == 4
    small = SmallClassSuppressor(["z"], k=2, entity="pid").transform(df)
    assert sorted(small["pid"].unique()) == [2, 3]  # class 'a' has one patient, 'c' one
    assert CellSuppressor(["z", "w"]).transform(df)["z"].eq("*").all()
    assert "w" not in DropColumns(["w"]).transform(df).columns
    with pytest.raises(ConfigError, match="quantiles"):
        OutlierSuppressor(["w"], quantiles=(0.9, 0.1))
    with pytest.raises(ConfigError, match="k must be >= 1"):
        SmallClassSuppressor(["z"], k=0)


def test_transforms_keep_index_alignment(key):
    df = pd.DataFrame({"pid": [5, 6, 7]}, index=[10, 20, 30])
    out = Pseudonymizer(["pid"]).fit_transform(df)
    assert list(out.index) == [10, 20, 30]
    assert np.all(out["pid"].str.len() == 17)
