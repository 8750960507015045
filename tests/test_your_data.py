"""docs/your-data.md, followed: the shipped Adult CSV through data=csv to an exported release.

Also the defaults that make this work on any table (hierarchies and identifier steps derived
from the schema) and the error of a rule set written for other columns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from pipeline_helpers import compose_cfg

from privhealth.anon.derive import RoleIdentifiers, default_hierarchies, quantile_cuts
from privhealth.anon.hierarchy import build_hierarchy
from privhealth.data.schema import Column, Dataset, Kind, Role, TableSchema
from privhealth.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "your-data"
SHARED = REPO.parent / "shared" / "data"
QI = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]


def _release(tmp: Path, method: str) -> tuple[pd.DataFrame, dict]:
    """The command of docs/your-data.md step 3, then its release/ files."""
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp)}
    args = ["--config-dir", str(EXAMPLE), "data=adult_csv", f"anon={method}", "anon.k=5", "anon.l=2",
            f"paths.shared_data={SHARED}", f"release.dir={tmp}/{method}"]
    proc = subprocess.run([sys.executable, "-m", "privhealth.experiments.release_cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = tmp / method / "release"
    # labels as written (an age "90" stays text, "" would be a missing label): no type guessing
    frame = pd.read_csv(folder / "release.csv", dtype=str, keep_default_na=False)
    return frame, json.loads((folder / "release.json").read_text())


@pytest.mark.parametrize("method", ["optimal", "mondrian"])
def test_adult_csv_release_has_k5_and_l2_by_an_independent_count(tmp_path, method):
    frame, meta = _release(tmp_path, method)
    classes = frame.groupby(QI)
    k, l_div = int(classes.size().min()), int(classes["salary-class"].nunique().min())
    assert k >= 5 and l_div >= 2
    assert meta["privacy"]["k"] == k and meta["privacy"]["l_distinct"] == l_div
    n_in = len(pd.read_csv(SHARED / "adult" / "adult.csv", sep=";"))
    assert meta["suppression"]["n_rows_in"] == n_in and len(frame) >= 0.98 * n_in  # suppression limit 2%
    assert meta["roles"] == {"quasi": QI, "sensitive": ["salary-class"]}
    if method == "optimal":  # one level per QI; the schema's integer age got derived 5/10/20-year bands
        assert set(meta["hierarchy_levels"]) == set(QI)
        assert frame["age"].str.fullmatch(r"\d+-\d+|90\+|\*").all()


def test_derived_hierarchies_follow_the_schema():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "age": rng.integers(18, 95, 300), "bmi": rng.normal(27, 4, 300),
        "zip": rng.choice(["12345", "12399", "13001"], 300), "sex": rng.choice(["F", "M"], 300),
        "admitted": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, 300), unit="D"),
    })
    schema = TableSchema((Column("age", Role.QUASI, Kind.INTEGER), Column("bmi", Role.QUASI, Kind.NUMERIC),
                          Column("zip", Role.QUASI, Kind.STRING, pii="zip"),
                          Column("sex", Role.QUASI, Kind.CATEGORICAL), Column("admitted", Role.QUASI, Kind.DATETIME)))
    specs = default_hierarchies(schema, frame, list(frame.columns))
    assert specs["age"] == {"type": "intervals", "levels": [5, 10, 20], "top_code": 90}
    assert specs["zip"] == {"type": "prefix"} and specs["sex"] == {"type": "flat"}
    assert specs["admitted"] == {"type": "dates", "levels": ["month", "year"]}
    hs = {c: build_hierarchy(c, s, frame[c]) for c, s in specs.items()}  # all valid trees over the data
    assert hs["admitted"].generalize(frame["admitted"].head(1), 2).tolist() == [str(frame["admitted"][0].year)]
    cuts = quantile_cuts(frame["bmi"])
    assert all(set(coarse) <= set(fine) for fine, coarse in zip(cuts, cuts[1:], strict=False))
    assert cuts[0][0] == frame["bmi"].min() and cuts[0][-1] > frame["bmi"].max() and len(cuts[-1]) == 3
    assert hs["bmi"].height == len(cuts) + 2  # values, the levels, then *


def test_role_identifiers_drop_direct_ones_and_pseudonymize_the_entity():
    schema = TableSchema((Column("pid", Role.ENTITY, Kind.INTEGER), Column("who", Role.DIRECT, Kind.STRING, pii="name"),
                          Column("age", Role.QUASI, Kind.INTEGER)))
    frame = pd.DataFrame({"pid": [7, 7, 9], "who": ["Ann", "Ann", "Bo"], "age": [30, 30, 41]})
    os.environ.setdefault("PRIVHEALTH_PSEUDONYM_KEY", "test-key-0123456789abcdef0123456789")
    out = RoleIdentifiers().for_schema(schema).fit_transform(frame)
    assert list(out.columns) == ["pid", "age"]
    assert out["pid"].iloc[0] == out["pid"].iloc[1] != out["pid"].iloc[2] and "7" not in set(out["pid"])


def test_paper_rules_say_which_columns_and_roles_they_need(tmp_path):
    anon = instantiate(compose_cfg(tmp_path, fast=False, overrides=["anon=paper_rules"]).anon, _convert_="all")
    ds = Dataset(pd.DataFrame({"age": [30]}), TableSchema((Column("age", Role.QUASI, Kind.INTEGER),)), "mine")
    with pytest.raises(ConfigError, match=r"lacks 'icustayid' \(role entity.*'zip' \(role quasi, pii zip.*anon=optimal"):
        anon.anonymize(ds)
