"""Generic CSV/Parquet, Adult and toy loaders: good input loads, bad input is named, files stay untouched."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from privhealth.data.loaders import ADULT_QUASI, load_adult, load_table, toy_table
from privhealth.errors import SchemaError

SCHEMA = {
    "pid": {"role": "entity", "kind": "integer", "nullable": False},
    "age": {"role": "quasi", "kind": "numeric", "nullable": False},
    "zip": {"role": "quasi", "kind": "string", "pii": "zip"},
    "dx": {"role": "sensitive", "kind": "categorical"},
    "died": {"role": "target", "kind": "binary"},
}
GOOD = "pid,age,zip,dx,died\n1,30,02139,flu,0\n2,41,02139,copd,1\n"


def write(tmp_path, text, name="t.csv", mode="w", encoding="utf-8"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding=encoding)
    return p


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_csv_loads_with_roles_and_fingerprint(tmp_path):
    p = write(tmp_path, GOOD)
    ds = load_table(p, SCHEMA)
    assert ds.schema.entity == "pid" and ds.schema.quasi == ["age", "zip"]
    assert ds.frame["zip"].tolist() == ["02139", "02139"]  # leading zero kept
    assert ds.metadata["sha256"] == digest(p)


def test_semicolon_and_parquet(tmp_path):
    p = write(tmp_path, GOOD.replace(",", ";"))
    assert len(load_table(p, SCHEMA).frame) == 2
    pq = tmp_path / "t.parquet"
    pd.read_csv(tmp_path / "t.csv", sep=";", dtype=str).to_parquet(pq)
    assert len(load_table(pq, SCHEMA).frame) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("pid,age,zip,dx,died\n", "no data rows"),
        ("pid,age,zip,dx\n1,30,02139,flu\n", "missing column(s) 'died'"),
        (GOOD.replace("dx,died", "dx,died,x").replace("0\n", "0,1\n").replace(",1\n", ",1,1\n"), "unexpected column(s) 'x'"),
        (GOOD.replace("41", "forty-one"), "column 'age' (numeric) has 1 non-numeric value(s) at data row(s) 2"),
        (GOOD.replace("\n1,30", "\n1,inf"), "column 'age' has 1 infinite"),
        (GOOD.replace(",0\n", ",7\n"), "column 'died' is binary"),
        ("pid,pid,zip,dx,died\n1,2,3,4,0\n", "duplicate column name(s): pid"),
        ("pid\tage\tzip\tdx\tdied\n1\t3\t0\tflu\t0\n", None),  # tab is sniffed
    ],
)
def test_bad_csv_is_named_and_file_untouched(tmp_path, content, message):
    p = write(tmp_path, content)
    before = digest(p)
    if message is None:
        assert len(load_table(p, SCHEMA).frame) == 1
    else:
        with pytest.raises(SchemaError) as err:
            load_table(p, SCHEMA)
        assert message in str(err.value), str(err.value)
        assert str(p) in str(err.value)
    assert digest(p) == before


def test_wrong_delimiter_and_encoding(tmp_path):
    p = write(tmp_path, GOOD.replace(",", ";"))
    with pytest.raises(SchemaError, match="single column with delimiter ','; the header seems to use ';'"):
        load_table(p, SCHEMA, sep=",")
    latin = write(tmp_path, GOOD.replace("flu", "grippé").encode("latin-1"), name="l.csv")
    with pytest.raises(SchemaError, match="not valid utf-8 text"):
        load_table(latin, SCHEMA)
    assert len(load_table(latin, SCHEMA, encoding="latin-1").frame) == 2


def test_missing_file(tmp_path):
    with pytest.raises(SchemaError, match="no such file"):
        load_table(tmp_path / "nope.csv", SCHEMA)


def test_adult(shared_data):
    ds = load_adult(shared_data / "adult")
    assert len(ds.frame) == 30162
    assert sorted(ds.schema.quasi) == sorted(ADULT_QUASI)
    assert ds.schema.sensitive == ["salary-class"]
    assert set(ds.hierarchies) >= set(ADULT_QUASI)


def test_toy_table_is_the_papers_fig4():
    f = toy_table().frame
    assert f["Name"].tolist() == ["Alice", "Bob", "Charlie", "David"]
    assert f["Age"].tolist() == [25, 40, 35, 60]
    assert f["ZIP"].tolist() == ["12345", "12346", "12345", "12347"]
