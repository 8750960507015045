"""HIPAA Safe Harbor checker: raw and the paper's rules fail where expected; the preset passes."""

from __future__ import annotations

import pandas as pd
import pytest
from attack_cases import cohort, release

from privhealth.anon.release import make_release
from privhealth.anon.safe_harbor import FAIL, NOT_APPLICABLE, PASS, check_safe_harbor
from privhealth.anon.transforms import RandomCode, SafeHarborZip
from privhealth.data.schema import Column, Dataset, Kind, Role, TableSchema


def _check(kind: str):
    return check_safe_harbor(release(kind), cohort().schema)


def test_raw_data_fails_every_identifier_it_holds():
    rep = _check("raw")
    assert set(rep.failed) == {"A", "B", "C", "D", "F", "G", "H", "R"}
    c = next(i for i in rep.items if i.code == "C")
    assert {"date_of_birth", "admission_date", "charttime"} <= set(c.columns)
    assert rep.status("E") == NOT_APPLICABLE and not rep.passed


def test_paper_rules_fail_on_city_dates_fragments_and_derived_codes():
    rep = _check("paper")
    assert set(rep.failed) == {"B", "C", "D", "F", "G", "H", "R"}
    assert rep.status("A") == PASS  # names fully masked
    items = {i.code: i for i in rep.items}
    assert items["B"].columns == ["city"]  # ZIP3 of the catchment is not restricted; state is allowed
    assert {"date_of_birth", "admission_date", "charttime"} <= set(items["C"].columns)
    assert any("over 89" in r for r in items["C"].reasons)  # years of birth of the over-89s
    assert items["G"].columns == ["ssn"] and any("parts" in r for r in items["G"].reasons)
    assert items["H"].columns == ["mrn"] and any("164.514(c)" in r for r in items["H"].reasons)
    assert items["R"].columns == ["icustayid"]


def test_safe_harbor_preset_passes():
    rep = _check("safe_harbor")
    assert rep.passed, rep.to_dict()
    assert rep.status("R") == PASS and rep.status("B") == PASS and rep.status("C") == PASS
    assert any("random codes" in n for n in rep.notes)
    frame = release("safe_harbor").frame
    assert set(frame["zip"].str.len()) == {3}
    assert "90+" in set(frame["age"])


def _release(columns: dict[str, tuple[list, Column]]):
    frame = pd.DataFrame({c: v for c, (v, _) in columns.items()})
    schema = TableSchema(tuple(col for _, col in columns.values()))
    ds = Dataset(frame, schema, "toy")
    return make_release(ds, frame, "toy", [])


def test_value_level_rules():
    txt = Column("note", Role.INSENSITIVE, Kind.STRING)
    rel = _release({
        "zip": (["036**", "021**", "*"], Column("zip", Role.QUASI, Kind.STRING, pii="zip")),
        "age": ([45.0, 95.0, 90.0], Column("age", Role.QUASI, Kind.NUMERIC)),
        "note": (["see http://x.org", "ip 10.0.0.1", "mail a.b@c.com, ssn 123-45-6789"], txt),
        "state": (["MA", "RI", "MA"], Column("state", Role.DIRECT, Kind.STRING, pii="address")),
    })
    rep = check_safe_harbor(rel)
    assert set(rep.failed) == {"B", "C", "F", "G", "N", "O"}
    items = {i.code: i for i in rep.items}
    assert items["B"].columns == ["zip"] and any("restricted" in r for r in items["B"].reasons)
    assert items["C"].columns == ["age"]


@pytest.mark.parametrize(("ages", "status"), [
    (["[80, 90)", "90+"], PASS), (["[80, 90)", "[90, 100)"], FAIL), ([89.0, 90.0], PASS), ([89.0, 91.0], FAIL),
])
def test_ages_over_89_must_be_one_category(ages, status):
    kind = Kind.NUMERIC if isinstance(ages[0], float) else Kind.STRING
    rel = _release({"age": (ages, Column("age", Role.QUASI, kind))})
    assert check_safe_harbor(rel).status("C") == status


def test_safe_harbor_zip_and_random_codes():
    f = pd.DataFrame({"zip": ["03601", "02215", None, "8931"], "id": [5, 7, 5, 9]})
    out = SafeHarborZip(["zip"]).transform(f)
    assert out["zip"].tolist()[:2] == ["000", "022"] and pd.isna(out["zip"].iloc[2])
    assert out["zip"].iloc[3] == "000"  # 893 is restricted
    coded = RandomCode(["id"], seed=1).transform(f)["id"]
    assert coded.iloc[0] == coded.iloc[2] != coded.iloc[1] and coded.str.fullmatch(r"R[0-9a-f]{16}").all()
    again = RandomCode(["id"], seed=2).transform(f)["id"]
    assert (again != coded).all()  # nothing derived from the id: another draw, other codes
