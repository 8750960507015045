"""Missing values in quasi-identifiers: own value (→ *) or suppression, for the search and Mondrian."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.anon.hierarchy import Hierarchy
from privhealth.anon.missing import MISSING_LABEL, missing_leaf
from privhealth.data.schema import Column, Dataset, Kind, Role, TableSchema
from privhealth.errors import PrivacyModelError

QIS = ["age", "sex", "zip"]
HIER = {"age": {"type": "intervals", "levels": [10, 20]}, "zip": {"type": "prefix", "keep": [3, 1]}}


def gappy(n: int = 240, seed: int = 5) -> Dataset:
    """Patients with two rows each; 8% miss age, 5% sex, 3% zip (the same on both rows)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n).astype(float)
    sex = rng.choice(np.array(["F", "M"], dtype=object), n)
    zips = rng.choice(np.array(["12345", "12388", "13001", "13002"], dtype=object), n)
    age[rng.random(n) < 0.08] = np.nan
    sex[rng.random(n) < 0.05] = None
    zips[rng.random(n) < 0.03] = None
    p = pd.DataFrame({"pid": np.arange(n), "age": age, "sex": sex, "zip": zips, "y": rng.integers(0, 2, n)})
    frame = pd.concat([p, p], ignore_index=True).assign(hr=rng.normal(80, 10, 2 * n))
    schema = TableSchema((
        Column("pid", Role.ENTITY, Kind.INTEGER), Column("age", Role.QUASI, Kind.NUMERIC),
        Column("sex", Role.QUASI, Kind.CATEGORICAL), Column("zip", Role.QUASI, Kind.STRING),
        Column("y", Role.TARGET, Kind.BINARY), Column("hr", Role.INSENSITIVE, Kind.NUMERIC),
    ))
    return Dataset(frame, schema, "gappy")


def k_by_count(frame: pd.DataFrame) -> int:
    """Smallest number of distinct patients sharing one combination of released QI labels."""
    return int(frame.groupby(QIS, dropna=False)["pid"].nunique().min())


def missing_patients(ds: Dataset, cols) -> set:
    f = ds.frame
    return set(f.loc[f[list(cols)].isna().any(axis=1), "pid"])


@pytest.mark.parametrize("method", ["optimal", "mondrian"])
def test_missing_as_its_own_value_keeps_every_patient_and_k_holds(method):
    ds = gappy()
    rel = EnforcedAnonymizer(method, hierarchies=HIER, k=5, suppression=0.0, missing="value",
                             target_is_sensitive=False).anonymize(ds)
    f = rel.frame
    assert rel.suppressed_fraction == 0.0 and f["pid"].nunique() == 240
    assert not f[QIS].isna().any().any()  # missing is released as a label, never as a silent gap
    assert k_by_count(f) >= 5
    had_gap = f["pid"].isin(missing_patients(ds, ["age"]))
    assert f.loc[had_gap, "age"].isin([MISSING_LABEL, "*"]).all()  # its own leaf, or the root
    assert not f.loc[~had_gap, "age"].eq(MISSING_LABEL).any()
    assert rel.details["missing"]["age"] == {"policy": "value", "n_missing": len(missing_patients(ds, ["age"]))}


@pytest.mark.parametrize("method", ["optimal", "mondrian"])
def test_suppressing_missing_removes_those_patients_within_the_limit(method):
    ds = gappy()
    gone = missing_patients(ds, QIS)
    rel = EnforcedAnonymizer(method, hierarchies=HIER, k=5, suppression=0.25, missing="suppress",
                             target_is_sensitive=False).anonymize(ds)
    f = rel.frame
    assert not set(f["pid"]) & gone
    assert rel.suppressed_fraction >= len(gone) / 240 and rel.suppressed_fraction <= 0.25
    assert k_by_count(f) >= 5 and not f[QIS].isna().any().any()


def test_policies_per_column_and_the_budget():
    ds = gappy()
    gone = missing_patients(ds, ["sex"])
    rel = EnforcedAnonymizer("optimal", hierarchies=HIER, k=5, suppression=0.1,
                             missing={"sex": "suppress"}, target_is_sensitive=False).anonymize(ds)
    assert not set(rel.frame["pid"]) & gone
    assert rel.frame["pid"].isin(missing_patients(ds, ["age"]) - gone).any()  # age: own value, kept
    with pytest.raises(PrivacyModelError, match="exceeds the suppression limit"):
        EnforcedAnonymizer("mondrian", k=5, suppression=0.01, missing="suppress",
                           target_is_sensitive=False).anonymize(ds)
    with pytest.raises(PrivacyModelError, match="'age' has missing values.*anon.missing.age=suppress"):
        EnforcedAnonymizer("mondrian", k=5, missing="error", target_is_sensitive=False).anonymize(ds)


def test_missing_leaf_generalizes_to_the_root_only():
    s = pd.Series([23.0, None, 41.0, 23.0])
    tree, col = missing_leaf(Hierarchy.intervals("age", s, [10, 20]), s)
    assert col.tolist() == ["23", MISSING_LABEL, "41", "23"]
    assert [tree.generalize(col, lev).tolist()[1] for lev in range(tree.height)] == [MISSING_LABEL, "*", "*", "*"]
    assert tree.generalize(col, 1).tolist() == ["20-29", "*", "40-49", "20-29"]
