"""No raw identifier or secret anywhere the framework writes (docs/security.md).

Runs the default experiment and a small sweep through the command line, then scans every
file they left — the MLflow store and artifacts, Hydra's output folders, the caches
(releases, risk assessments, raw-data model results) and reports — for every raw
direct-identifier value of the input cohort and for the key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import write_key

from privhealth.data.simulator import simulate_cohort

REPO = Path(__file__).resolve().parents[1]
N, SEED = 150, 42
COMMON = [f"data.n_patients={N}", f"seed={SEED}", "evaluation.n_bootstrap=30", "evaluation.folds=2"]
FIELDS = ["name", "ssn", "mrn", "address", "city", "phone", "email"]


def cli(root: Path, *args: str) -> None:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root)}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "privhealth.experiments.run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # what the console showed is output too
    (root / "outputs").mkdir(exist_ok=True)
    (root / "outputs" / f"console-{len(list((root / 'outputs').glob('console-*')))}.txt").write_text(
        proc.stdout + proc.stderr)


def file_text(p: Path) -> str:
    if p.suffix == ".parquet":
        df = pd.read_parquet(p)
        return df.astype(str).to_csv(index=False) + " ".join(map(str, df.columns))
    return p.read_bytes().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    key_file = write_key(root)
    cli(root, *COMMON, "model=[logreg,rf]")
    cli(root, "-m", *COMMON, "anon=paper_rules,optimal", "model=logreg")
    files = [p for p in root.rglob("*") if p.is_file() and p != key_file and p.suffix != ".lock"]
    return root, key_file.read_text().strip(), files


def raw_values() -> dict[str, set[str]]:
    frame = simulate_cohort(N, seed=SEED).frame
    values = {f: set(frame[f].dropna().astype(str)) for f in FIELDS}
    values["date_of_birth"] = set(frame["date_of_birth"].dt.strftime("%Y-%m-%d"))
    values["ssn_digits"] = {v.replace("-", "") for v in values["ssn"]}
    values["phone_digits"] = {"".join(ch for ch in v if ch.isdigit()) for v in values["phone"]}
    return values


def test_the_runs_wrote_the_expected_places(written):
    root, _, files = written
    names = {p.name for p in files}
    assert "mlflow.db" in names
    assert any(p.suffix == ".parquet" for p in files)  # the release cache
    cache = [p for p in files if ".cache" in p.parts]
    assert any("risk" in p.parts and p.suffix == ".json" for p in cache)  # the risk cache is scanned
    assert any("raw_results" in p.parts and p.suffix == ".json" for p in cache)
    assert any("multirun" in p.parts for p in files) and any(".hydra" in p.parts for p in files)
    assert any(p.name == "report.json" and "risk" in p.parts for p in files)
    # the exported release (release.export=true): Hydra's folders and the MLflow artefacts, all scanned
    exported = [p for p in files if p.parent.name == "release" and p.name.startswith("release.")]
    for where in ("outputs", "multirun", "mlartifacts"):
        assert {"release.csv", "release.parquet", "release.json"} <= {p.name for p in exported if where in p.parts}, where
    # the MLflow models (tracking.log_models): the pickled model and its input example are scanned too
    models = {p.name for p in files if "models" in p.parts and "mlartifacts" in p.parts}
    assert {"MLmodel", "python_model.pkl", "input_example.json", "serving_input_example.json"} <= models


def test_no_raw_identifier_and_no_key_in_any_written_file(written):
    root, key, files = written
    values = raw_values()
    hits: dict[str, list[str]] = {}
    for p in files:
        text = file_text(p)
        if key in text:
            hits.setdefault("key", []).append(str(p.relative_to(root)))
        digit_runs = set(re.findall(r"\d+", text))
        for field, vals in values.items():
            # all-digit identifiers count as whole numbers, not as digits inside a longer number
            if any((v in digit_runs) if v.isdigit() else (v in text) for v in vals if len(v) >= 6):
                hits.setdefault(field, []).append(str(p.relative_to(root)))
    assert hits == {}, f"raw values found: { {k: v[:3] for k, v in hits.items()} }"


def test_cached_and_exported_releases_hold_pseudonyms_not_stay_ids(written):
    root, _, files = written
    raw_ids = set(simulate_cohort(N, seed=SEED).frame["icustayid"].astype(str))
    releases = [f for f in files if f.suffix == ".parquet" or f.name == "release.csv"]
    assert any(f.suffix == ".csv" for f in releases)
    for p in releases:
        ids = set((pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p))["icustayid"].astype(str))
        assert not ids & raw_ids
