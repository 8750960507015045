"""Input limits and artefact hygiene: size guard, truncated files, long cells, NFKC, CSV formulas, read-only cache."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import compose_cfg, write_key
from test_loaders import GOOD, SCHEMA

from privhealth.anon.privacy import measure
from privhealth.data.loaders import load_table
from privhealth.errors import SchemaError
from privhealth.experiments.csvsafe import safe_csv
from privhealth.experiments.pipeline import run_pipeline

REPO = Path(__file__).resolve().parents[1]


def test_a_sparse_2gb_file_is_refused_before_reading(tmp_path):
    p = tmp_path / "huge.csv"
    p.write_text(GOOD)
    os.truncate(p, 2 * 1024**3)  # 12 bytes of data, 2 GB apparent: a read would need GBs of memory
    with pytest.raises(SchemaError, match=r"huge\.csv: 2\.15 GB exceeds the input limit data\.max_bytes=1000000000"):
        load_table(p, SCHEMA)
    small = tmp_path / "small.csv"
    small.write_text(GOOD)
    with pytest.raises(SchemaError, match=r"data\.max_bytes=10 "):
        load_table(small, SCHEMA, max_bytes=10)
    assert len(load_table(small, SCHEMA, max_bytes=None).frame) == 2


def test_the_cli_refuses_an_oversized_input_before_any_run(tmp_path):
    p = tmp_path / "huge.csv"
    p.write_text(GOOD)
    os.truncate(p, 2 * 1024**3)
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "privhealth.experiments.run", "data=csv", f"data.path={p}",
                           "+data.schema={pid:{role:entity,kind:integer}}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "huge.csv" in proc.stderr and "data.max_bytes" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("cut, message", [
    ("3,52,021", "truncated: its last row (data row 3, line 4) has 3 of 5 fields"),
    ('3,52,"021', "truncated: it ends inside a quoted value"),
])
def test_a_file_cut_mid_row_is_reported_truncated(tmp_path, cut, message):
    p = tmp_path / "cut.csv"
    p.write_text(GOOD + cut)
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_table(p, SCHEMA)
    p.write_text(GOOD.rstrip("\n"))  # a complete last row without a final newline is fine
    assert len(load_table(p, SCHEMA).frame) == 2


def test_a_value_over_the_column_limit_is_refused_naming_the_column(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text(GOOD + "3,52," + "9" * 10_000 + ",flu,0\n")
    with pytest.raises(SchemaError, match=r"column 'zip' has a value of 10000 characters \(first at data row 3\); "
                                          r"the limit is 256"):
        load_table(p, SCHEMA)
    assert len(load_table(p, SCHEMA, max_value_chars={"zip": 10_000}).frame) == 3
    with pytest.raises(SchemaError, match="column 'dx'"):
        load_table(p, SCHEMA, max_value_chars={"zip": 10_000, "default": 3})


def test_full_width_quasi_identifiers_are_nfkc_normalised(tmp_path):
    p = tmp_path / "fw.csv"
    p.write_text("pid,age,zip,dx,died\n1,30,02139,flu,0\n2,41,０２１３９,copd,1\n", encoding="utf-8")
    ds = load_table(p, SCHEMA)
    assert ds.frame["zip"].tolist() == ["02139", "02139"]
    assert measure(ds.frame, ["zip"], entity="pid").n_classes == 1  # one class, not two


def test_formula_cells_are_defused_in_the_classes_csv():
    frame = pd.DataFrame({"pid": [1, 2, 3, 4], "zip": ["=HYPERLINK(\"x\")", "=HYPERLINK(\"x\")", "-2+3", "@SUM(A1)"],
                          "age": [-5, -5, 7, 7], "dx": ["flu", "+cmd", "flu", "flu"]})
    classes = measure(frame, ["zip", "age"], ["dx"], entity="pid").classes
    text = safe_csv(classes, index=False)
    back = pd.read_csv(io.StringIO(text), dtype=str)
    zips = back["zip"].dropna().tolist()
    assert zips and all(z.startswith("'") for z in zips), zips
    assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())
    assert "-5" in back["age"].tolist()  # numbers stay numbers


def test_a_read_only_cache_runs_uncached_with_a_warning(tmp_path, caplog):
    write_key(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # a cache root that cannot be created or written, whoever runs the test
    cfg = compose_cfg(tmp_path, fast=False, overrides=["model=logreg", "data.n_patients=150", "evaluation.n_bootstrap=20",
                                 f"paths.cache={blocker}/cache"])
    with caplog.at_level(logging.WARNING):
        result = run_pipeline(cfg)
    assert result.metrics["cache/release_hit"] == 0.0 and result.models
    assert any("is not writable" in r.getMessage() and "uncached" in r.getMessage() for r in caplog.records)
