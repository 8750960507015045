"""data=csv with data.long: a static table joined to a long (or wide) one, windowed into blocs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.data.loaders import load_table
from privhealth.data.schema import Kind, Role
from privhealth.errors import ConfigError, SchemaError
from privhealth.experiments.settings import check_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "your-data" / "long"
SCHEMA = {
    "pid": {"role": "entity", "kind": "integer"},
    "age": {"role": "quasi", "kind": "integer"},
    "t0": {"role": "insensitive", "kind": "numeric"},
    "dead": {"role": "target", "kind": "binary"},
}
# entity 1: the module doc's worked example; entity 2: one row; entity 3: no row at all
LONG = """pid,t,var,val
1,0,hr,80
1,2,hr,90
1,5,hr,100
1,9,hr,70
1,5,lac,2.5
2,3,hr,60
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "static.csv").write_text("pid,age,t0,dead\n1,70,2,1\n2,40,0,0\n3,55,1,0\n")
    (tmp_path / "long.csv").write_text(LONG)
    return tmp_path


def load(root: Path, **long) -> pd.DataFrame:
    spec = {"path": str(root / "long.csv"), "time": "t", "variable": "var", "value": "val", "window": 8,
            "step": 4, **long}
    return load_table(root / "static.csv", SCHEMA, long=spec)


def values(ds, col: str) -> list[float | None]:
    return [None if math.isnan(v) else v for v in ds.frame[col]]


def test_first_row_as_index_gives_the_worked_example(files):
    ds = load(files)
    f = ds.frame
    assert f.columns.tolist() == ["pid", "bloc", "age", "t0", "dead", "hr", "lac"]
    assert f["pid"].tolist() == [1, 1, 2, 2, 3, 3] and f["bloc"].tolist() == [0, 1] * 3
    assert values(ds, "hr") == [85.0, 100.0, 60.0, None, None, None]  # t=9 lies outside [0, 8)
    assert values(ds, "lac") == [None, 2.5, None, None, None, None]
    assert f["age"].tolist() == [70, 70, 40, 40, 55, 55] and f["dead"].tolist() == [1, 1, 0, 0, 0, 0]
    s = ds.schema
    assert s.time == ["bloc"] and s["bloc"].kind is Kind.INTEGER
    assert s["hr"].role is Role.INSENSITIVE and s["hr"].kind is Kind.NUMERIC
    assert "sha256" not in ds.metadata and ds.metadata["long_rows_in_window"] == 5


def test_last_row_and_a_declared_column_as_index(files):
    last = load(files, index="last")  # entity 1: last row t=9; blocs counted back: (5, 2] → 0, (9, 5] → 1
    assert values(last, "hr") == [95.0, 70.0, None, 60.0, None, None]
    assert values(last, "lac") == [2.5, None, None, None, None, None]
    col = load(files, index="t0")  # entity 1 from t=2: t=0 is before the index, t=2 and 5 → 0, t=9 → 1
    assert values(col, "hr") == [95.0, 70.0, 60.0, None, None, None]
    one = load(files, agg="last", window=4)  # one bloc; the last value in it
    assert values(one, "hr") == [90.0, 60.0, None]


def test_wide_format_equals_long_format(files):
    long = load(files)
    raw = pd.read_csv(files / "long.csv").pivot_table(index=["pid", "t"], columns="var", values="val").reset_index()
    raw.to_csv(files / "wide.csv", index=False)
    wide = load_table(files / "static.csv", SCHEMA, long={"path": str(files / "wide.csv"), "time": "t",
                                                           "columns": ["hr", "lac"], "window": 8, "step": 4})
    pd.testing.assert_frame_equal(wide.frame, long.frame)
    assert wide.schema == long.schema


def test_dates_are_windowed_in_hours(tmp_path):
    (tmp_path / "static.csv").write_text("pid,age,t0,dead\n1,70,0,1\n")
    (tmp_path / "long.csv").write_text("pid,t,var,val\n1,2021-01-01 00:00,hr,80\n1,2021-01-01 03:59,hr,90\n"
                                       "1,2021-01-01 04:00,hr,100\n1,2021-01-01 08:00,hr,1\n")
    assert values(load(tmp_path), "hr") == [85.0, 100.0]
    bad = {**SCHEMA, "t0": {"role": "insensitive", "kind": "numeric"}}
    with pytest.raises(SchemaError, match="index column 't0' is numeric, but the long table's times are dates"):
        load_table(tmp_path / "static.csv", bad, long={"path": str(tmp_path / "long.csv"), "time": "t",
                                                      "variable": "var", "value": "val", "index": "t0",
                                                      "window": 8, "step": 4})


def oracle(static: pd.DataFrame, long: pd.DataFrame, index: str, window: float, step: float) -> dict:
    """(patient, bloc, variable) → mean value, by a plain loop over rows (an independent reading)."""
    t = pd.to_datetime(long["charttime"])
    hours = (t - pd.Timestamp(0)).dt.total_seconds().to_numpy() / 3600
    if index == "admit_date":
        start = {p: (pd.Timestamp(d) - pd.Timestamp(0)).total_seconds() / 3600
                 for p, d in zip(static["patient"], static["admit_date"], strict=True)}
    else:
        by = defaultdict(list)
        for p, h in zip(long["patient"], hours, strict=True):
            by[p].append(h)
        start = {p: (min(v) if index == "first" else max(v)) for p, v in by.items()}
    n = round(window / step)
    cells = defaultdict(list)
    for p, h, var, val in zip(long["patient"], hours, long["label"], long["valuenum"], strict=True):
        ahead = h - start[p] if index != "last" else start[p] - h
        if 0 <= ahead < window:
            b = int(ahead // step)
            cells[(p, b if index != "last" else n - 1 - b, var)].append(val)
    return {k: sum(v) / len(v) for k, v in cells.items()}


@pytest.mark.parametrize("index", ["first", "last", "admit_date"])
def test_the_shipped_example_matches_a_row_by_row_oracle(index):
    static, long = pd.read_csv(EXAMPLE / "static.csv"), pd.read_csv(EXAMPLE / "labs.csv")
    schema = {"patient": {"role": "entity", "kind": "integer"}, "age": {"role": "quasi", "kind": "integer"},
              "sex": {"role": "quasi", "kind": "categorical"}, "admit_date": {"role": "quasi", "kind": "datetime"},
              "died": {"role": "target", "kind": "binary"}}
    ds = load_table(EXAMPLE / "static.csv", schema, long={
        "path": str(EXAMPLE / "labs.csv"), "id": "patient", "time": "charttime", "variable": "label",
        "value": "valuenum", "index": index, "window": 24, "step": 4})
    want = oracle(static, long, index, 24, 4)
    f = ds.frame
    assert len(f) == 6 * len(static) and len(want) > 100
    got = {}
    for var in ("heart_rate", "lactate", "sbp"):
        present = f[var].notna().to_numpy()
        got.update({(p, b, var): v for p, b, v in zip(f["patient"][present], f["bloc"][present], f[var][present],
                                                      strict=True)})
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-12)


@pytest.mark.parametrize(("static", "long", "spec", "message"), [
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,0,hr,1\n7,1,hr,2\n", {},
     r"long.csv: column 'pid' has 1 row\(s\) whose entity id is not in the static table .*static.csv "
     r"\(first at data row 2\)"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,0,hr,1\n1,noon,hr,2\n1,4,hr,3\n", {},
     r"long.csv: column 't' \(numeric\) has 1 non-numeric value\(s\) at data row\(s\) 2"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,2021-01-01,hr,1\n1,yesterday,hr,2\n", {},
     r"long.csv: column 't' \(datetime\) has 1 unparseable or out-of-range date\(s\) at data row\(s\) 2"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,0,hr,1\n1,1,hr,high\n", {},
     r"long.csv: column 'val' \(numeric\) has 1 non-numeric value\(s\) at data row\(s\) 2"),
    ("pid,age,t0,dead\n1,70,0,1\n1,71,0,1\n", "pid,t,var,val\n1,0,hr,1\n", {},
     r"static.csv: entity column 'pid' repeats an id \(data row 2\)"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,0,age,1\n", {},
     r"variable/bloc column name\(s\) \['age'\] are already columns of the static table"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,t,var,val\n1,0,hr,1\n", {"variables": ["hr", "sbp"]},
     r"data.long.variables names \['sbp'\], not found in column 'var'"),
    ("pid,age,t0,dead\n1,70,0,1\n", "pid,time,var,val\n1,0,hr,1\n", {},
     r"long.csv: missing column\(s\) 't' named in data.long"),
])
def test_bad_long_tables_are_refused_naming_file_column_and_row(tmp_path, static, long, spec, message):
    (tmp_path / "static.csv").write_text(static)
    (tmp_path / "long.csv").write_text(long)
    with pytest.raises(SchemaError, match=message):
        load(tmp_path, **spec)


@pytest.mark.parametrize(("spec", "message"), [
    ({"window": 10}, r"data.long.window \(10\) must be a whole number of steps \(4\)"),
    ({"step": -4}, r"data.long.step must be a positive number, got -4"),
    ({"index": "admission"}, r"data.long.index must be first, last or a column of the static table; 'admission'"),
    ({"value": None}, r"give either 'variable' and 'value' \(long format\) or 'columns'"),
    ({"windw": 8}, r"data.long: unknown key\(s\) \['windw'\]"),
])
def test_bad_long_settings_are_config_errors(files, spec, message):
    with pytest.raises(ConfigError, match=message):
        load(files, **spec)


def test_long_settings_and_file_are_checked_before_any_run(files):
    """The pre-run settings check (exit 2, no run) reads data.long: its keys and its file's size."""
    base = [f"paths.root={files}", "data=csv", f"data.path={files}/static.csv",
            "+data.schema={pid:{role:entity,kind:integer},age:{role:quasi,kind:integer},"
            "t0:{role:insensitive,kind:numeric},dead:{role:target,kind:binary}}"]
    long = f"data.long={{path:{files}/long.csv,time:t,variable:var,value:val,window:8,step:4}}"
    check_settings(compose_cfg(files, [*base, long], fast=False))
    with pytest.raises(ConfigError, match=r"data.long.step must be a positive number, got 0"):
        check_settings(compose_cfg(files, [*base, long.replace("step:4", "step:0")], fast=False))
    with pytest.raises(SchemaError, match=r"nothere.csv: no such file"):
        check_settings(compose_cfg(files, [*base, long.replace("long.csv", "nothere.csv")], fast=False))


@pytest.mark.slow
def test_the_example_trains_the_lstm_end_to_end(tmp_path):
    """`privhealth-run --config-dir docs/examples/your-data data=long_csv model=lstm`: the release and both
    models see 80 patients × 6 blocs; k counts patients, not rows."""
    write_key(tmp_path)
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "privhealth.experiments.run", "--config-dir", "docs/examples/your-data",
         "data=long_csv", "model=lstm", "anon=optimal", "anon.k=5", "model.lstm.max_epochs=2",
         "model.lstm.hidden_size=8", "model.lstm.num_layers=1", "evaluation.n_bootstrap=20",
         "evaluation.folds=2", "~attack"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("privhealth").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.tags["privhealth.dataset"] == "long_csv"
    m = run.data.metrics
    assert m["test/n_patients_test"] == m["raw/n_patients_test"] == 80  # 2 folds: every patient tested once
    assert m["privacy/n_entities"] == 80 and m["privacy/k"] >= 5
    assert {"test/auroc", "raw/auroc"} <= set(m)
    release = next((tmp_path / "outputs").glob("*/*/release/*.csv"))
    rel = pd.read_csv(release)
    assert len(rel) == 480 and sorted(rel["bloc"].unique()) == list(range(6))
    assert {"heart_rate", "lactate", "sbp"} <= set(rel.columns)
