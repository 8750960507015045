"""Hostile input: fuzzed files and bad settings give clear errors, exit non-zero, and touch nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.privacy import measure
from privhealth.data.loaders import load_table
from privhealth.data.mimic import load_mimictable
from privhealth.errors import ConfigError, HierarchyError, PrivHealthError, SchemaError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {
    "pid": {"role": "entity", "kind": "integer", "nullable": False},
    "age": {"role": "quasi", "kind": "numeric", "nullable": False},
    "zip": {"role": "quasi", "kind": "string"},
    "admit": {"role": "quasi", "kind": "datetime"},
    "dx": {"role": "sensitive", "kind": "categorical"},
}
CELL = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e309", "9" * 40, "2020-13-45", "0", "-1", "3.5",
                     "\"", "'", ";", ",", "\t", "\x00", "é", "null"]),
)


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from(["pid", "age", "zip", "admit", "dx", "extra", "pid", ""]), min_size=0, max_size=7),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=7), max_size=6),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
)
def test_fuzzed_csv_loads_or_fails_with_a_schema_error(tmp_path, header, rows, sep, encoding):
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    p = tmp_path / "fuzz.csv"
    try:
        p.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        return
    before = digest(p)
    try:
        ds = load_table(p, SCHEMA)
    except SchemaError as exc:
        assert str(p) in str(exc)  # names the input
    else:
        assert list(ds.frame.columns) == list(SCHEMA)
        assert len(ds.frame) > 0
        assert np.isfinite(ds.frame["age"].to_numpy(dtype=float)).all()
    assert digest(p) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_bytes_as_mimictable(tmp_path, blob):
    p = tmp_path / "MIMICtable.csv"
    p.write_bytes(blob)
    with pytest.raises(SchemaError):
        load_mimictable(p)
    assert p.read_bytes() == blob


@pytest.mark.parametrize(
    "content, message",
    [
        ("pid,age,zip,admit,dx\n1,1e400,02139,2020-01-01,flu\n", "infinite"),
        ("pid,age,zip,admit,dx\n1,30,02139,2020-13-45,flu\n", "unparseable or out-of-range date"),
        ("pid,age,zip,admit,dx\n1,30,02139,9999-99-99,flu\n", "unparseable or out-of-range date"),
        ("pid,age,zip,admit,dx\n1,thirty,02139,2020-01-01,flu\n", "non-numeric"),
        ("pid,age,zip,admit,dx\n1,,02139,2020-01-01,flu\n", "must not be empty"),
        ("pid,age,age,admit,dx\n1,3,3,2020-01-01,flu\n", "duplicate column"),
    ],
)
def test_bad_values_in_quasi_identifiers(tmp_path, content, message):
    p = tmp_path / "t.csv"
    p.write_text(content)
    with pytest.raises(SchemaError, match=message):
        load_table(p, SCHEMA)


def test_infinite_quasi_identifier_is_named_and_missing_is_a_class():
    df = pd.DataFrame({"age": [1.0, np.inf], "dx": ["a", "b"]})
    with pytest.raises(PrivHealthError, match="column 'age' holds 1 infinite"):
        measure(df, ["age"], ["dx"])
    # missing values form their own class (as in ARX), they are not silently merged with others
    rep = measure(pd.DataFrame({"age": [1.0, np.nan, np.nan], "dx": ["a", "b", "a"]}), ["age"], ["dx"])
    assert rep.n_classes == 2 and rep.k == 1


def test_unknown_category_and_bad_hierarchies():
    h = Hierarchy.from_frame("dx", pd.DataFrame([["flu", "resp", "*"], ["copd", "resp", "*"]]))
    with pytest.raises(HierarchyError, match="value 'gout' of column 'dx'"):
        h.encode(["flu", "gout"])
    with pytest.raises(HierarchyError, match="gap"):
        Hierarchy.from_frame("dx", pd.DataFrame([["flu", "", "*"]]))
    # a 'cycle': a value generalizing to two different parents is not a tree
    with pytest.raises(HierarchyError, match="not a tree"):
        Hierarchy.from_frame("dx", pd.DataFrame([["flu", "resp", "A"], ["copd", "resp", "B"]]))
    with pytest.raises(HierarchyError, match="more than once"):
        Hierarchy.from_frame("dx", pd.DataFrame([["flu", "resp"], ["flu", "resp"]]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must"),
        ({"k": -3}, "k must"),
        ({"t": 1.5}, "t must be in"),
        ({"t": -0.1}, "t must be in"),
        ({"l": 0.5}, "l"),
        ({"method": "magic"}, "unknown anonymization method 'magic'"),
        ({"t": 0.2, "t_distance": "cosine"}, "unknown distance 'cosine'"),
    ],
)
def test_bad_privacy_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EnforcedAnonymizer(**kwargs)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "privhealth.experiments.run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["anon=optimal", "anon.k=0"], "anon.k must be an integer ≥ 1, got 0"),
        (["anon=paper_rules", "anon.k=-3"], "anon.k must be an integer ≥ 1, got -3"),
        (["anon.k=abc"], "anon.k must be an integer ≥ 1, got 'abc'"),
        (["seed=foo"], "seed must be an integer ≥ 0, got 'foo'"),
        (["evaluation.n_bootstrap=-1"], "evaluation.n_bootstrap must be an integer ≥ 0, got -1"),
        (["split.fractions=[0.5,0.5,0.5]"], "split.fractions must be three positive fractions summing to 1"),
        (["anon=optimal", "anon.t=2"], "anon.t must be a number in [0, 1]"),
        (["model=unknown"], "Could not find 'model/unknown'"),
        (["anon=unknown"], "Could not find 'anon/unknown'"),
        (["anon=optimal", "anon.method=magic"], "unknown anonymization method 'magic'"),
        (["data=mimic", "data.path=/nonexistent/MIMICtable.csv"], "no such file"),
    ],
)
def test_cli_rejects_bad_settings_before_writing_anything(tmp_path, args, message):
    proc = cli(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists() or "data=mimic" in args[0]
    assert not (tmp_path / ".cache").exists()
