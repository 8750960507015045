"""The exported release (release/ of a run, privhealth-release): files, sidecar, MLflow artefacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import compose_cfg, write_key

from privhealth.experiments.export import escape_formulas
from privhealth.experiments.pipeline import run_pipeline

REPO = Path(__file__).resolve().parents[1]
SMALL = ["model=logreg", "data.n_patients=120", "evaluation.n_bootstrap=20"]
QUASI = ["gender", "age", "zip", "date_of_birth", "admission_date"]


def test_formula_cells_are_prefixed_with_a_quote_and_numbers_are_left_alone():
    f = pd.DataFrame({"a": ["=1+1", "+x", "-y", "@z", "ok", None, "\tt"], "n": [-1.0, 2, 3, 4, 5, 6, 7]})
    out, n = escape_formulas(f)
    assert out["a"].tolist()[:5] == ["'=1+1", "'+x", "'-y", "'@z", "ok"]
    assert pd.isna(out["a"].iloc[5]) and out["a"].iloc[6] == "'\tt"
    assert n == 5 and out["n"].tolist() == f["n"].tolist()
    assert f["a"].iloc[0] == "=1+1"  # the release itself is not changed


def _entities_per_class(frame: pd.DataFrame) -> pd.Series:
    """k by an independent count: distinct patients per combination of released QI labels."""
    return frame.astype({q: str for q in QUASI}).groupby(QUASI, dropna=False)["icustayid"].nunique()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    write_key(root)
    cfg = compose_cfg(root, fast=False, overrides=[*SMALL, "anon=optimal", f"release.dir={root}/out"])
    return root, cfg, run_pipeline(cfg)


def test_a_run_writes_csv_parquet_and_sidecar_that_match_the_release(exported):
    root, cfg, result = exported
    folder = root / "out" / "release"
    csv, parquet = pd.read_csv(folder / "release.csv"), pd.read_parquet(folder / "release.parquet")
    rel = result.release.frame.reset_index(drop=True)
    assert list(csv.columns) == list(parquet.columns) == list(rel.columns)
    assert len(csv) == len(parquet) == len(rel)
    assert (parquet["age"].astype(str) == rel["age"].astype(str)).all()
    meta = json.loads((folder / "release.json").read_text())
    assert meta["method"] == "optimal" and meta["roles"]["quasi"] == QUASI
    assert meta["hierarchy_levels"] == result.release.details["search"]["levels"]
    assert meta["suppression"]["n_entities_out"] == csv["icustayid"].nunique()
    sizes = _entities_per_class(csv)
    assert meta["privacy"]["k"] == meta["metrics"]["privacy/k"] == sizes.min() >= 5
    assert meta["suppression"]["suppressed_fraction"] <= meta["suppression"]["limit"] == 0.02


def test_the_release_is_an_mlflow_artefact_of_the_run(exported):
    _, cfg, result = exported
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    names = {a.path for a in client.list_artifacts(result.run_ids[0], "release")}
    assert names == {"release/release.csv", "release/release.parquet", "release/release.json"}


@pytest.mark.parametrize("override", ["anon=none", "release.export=false"])
def test_no_export_for_the_raw_table_or_when_switched_off(tmp_path, override):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, fast=False, overrides=[*SMALL, override, "~attack", f"release.dir={tmp_path}/out"])
    run_pipeline(cfg)
    assert not (tmp_path / "out").exists()


def _release_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root)}
    return subprocess.run([sys.executable, "-m", "privhealth.experiments.release_cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_privhealth_release_writes_files_without_training_or_mlflow(tmp_path):
    write_key(tmp_path)
    proc = _release_cli(tmp_path, "data.n_patients=100", "anon=safe_harbor", "~attack", f"release.dir={tmp_path}/o")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p.name for p in (tmp_path / "o" / "release").iterdir()} == {"release.csv", "release.parquet",
                                                                          "release.json"}
    assert "release written to" in proc.stdout
    assert not (tmp_path / "mlflow.db").exists()
    bad = _release_cli(tmp_path, "data.n_patients=100", "anon=none", "~attack", f"release.dir={tmp_path}/p")
    assert bad.returncode == 2 and "source table itself" in bad.stderr + bad.stdout
