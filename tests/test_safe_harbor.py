"""HIPAA Safe Harbor checker: raw and the paper's rules fail where expected; the preset passes."""

from __future__ import annotations

import pandas as pd
import pytest
from attack_cases import cohort, release

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.anon.release import make_release
from privhealth.anon.safe_harbor import FAIL, NOT_APPLICABLE, PASS, check_safe_harbor, label_bounds
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


@pytest.mark.parametrize(("ages", "status"), [
    (["[88-98]", "[20-87]"], FAIL), (["[80-89]", "90+"], PASS), (["85-94", "90+"], FAIL),
    (["[89-90]"], FAIL), (["[80, 95)"], FAIL), (["95+"], FAIL), (["80+", "*"], PASS), (["40-59", "[60, 80)"], PASS),
])
def test_age_intervals_judged_by_their_bounds(ages, status):
    rel = _release({"age": (ages, Column("age", Role.QUASI, Kind.STRING))})
    assert check_safe_harbor(rel).status("C") == status


def _aged_dataset(ages) -> Dataset:
    n = len(ages)
    frame = pd.DataFrame({"pid": range(n), "age": ages, "sex": (["F", "M"] * n)[:n],
                          "y": ([0, 1, 1, 0] * n)[:n]})
    kind = Kind.NUMERIC if isinstance(ages[0], int) else Kind.CATEGORICAL  # banded labels are categories
    schema = TableSchema((Column("pid", Role.ENTITY, Kind.INTEGER), Column("age", Role.QUASI, kind),
                          Column("sex", Role.QUASI, Kind.CATEGORICAL), Column("y", Role.TARGET, Kind.BINARY)))
    return Dataset(frame, schema, "aged")


AGES = [*range(20, 90), *range(20, 90), 91, 93, 95, 98]  # 144 people, 4 of them over 89
MORE_OLD = [*AGES, *range(90, 100)]  # ten more over-89s, so a "90+" class is not suppressed


def _harbor_c(anonymizer, ds: Dataset) -> tuple[str, set]:
    rel = anonymizer.anonymize(ds)
    return check_safe_harbor(rel, ds.schema).status("C"), set(rel.frame["age"].astype(str))


def test_mondrian_age_ranges_past_89_fail_and_a_top_coded_release_passes():
    ds = _aged_dataset(AGES)
    status, labels = _harbor_c(EnforcedAnonymizer("mondrian", k=5, target_is_sensitive=False), ds)
    assert status == FAIL
    b = label_bounds(pd.Series(sorted(labels)))
    assert ((b["lo"] < 90) & (b["hi"] >= 90)).any()  # a range straddling 89|90, e.g. [88-91]
    # the ages banded before partitioning, the over-89s as "90+"
    top = ["90+" if a >= 90 else f"{a // 10 * 10}-{a // 10 * 10 + 9}" for a in MORE_OLD]
    status, labels = _harbor_c(EnforcedAnonymizer("mondrian", k=5, target_is_sensitive=False),
                               _aged_dataset(top))
    assert status == PASS and "90+" in labels


@pytest.mark.parametrize(("top_code", "status"), [(None, FAIL), (90, PASS)])
def test_optimal_release_passes_only_with_the_90_plus_top_code(top_code, status):
    spec = {"age": {"type": "intervals", "levels": [10, 20], "top_code": top_code}}
    anon = EnforcedAnonymizer("optimal", hierarchies=spec, k=5, target_is_sensitive=False)
    got, labels = _harbor_c(anon, _aged_dataset(MORE_OLD))
    assert got == status
    assert ("90+" in labels) == (top_code is not None)


@pytest.mark.parametrize(("zips", "status"), [
    (["[2100-2199]", "[2200-2499]"], PASS), (["[2134-2150]"], FAIL), (["[3600-3699]"], FAIL), (["[2100, 2200)"], PASS),
])
def test_zip_intervals_must_be_whole_unrestricted_three_digit_areas(zips, status):
    rel = _release({"zip": (zips, Column("zip", Role.QUASI, Kind.STRING, pii="zip"))})
    assert check_safe_harbor(rel).status("B") == status


@pytest.mark.parametrize(("dob", "status"), [
    (["[1950-1960]", "1970s"], PASS), (["[1930-1948]", "1970s"], FAIL), (["1930s"], FAIL),
    (["[19500101-19501231]"], FAIL),
])
def test_birth_year_intervals_judged_by_their_earliest_year(dob, status):
    rel = _release({"dob": (dob, Column("dob", Role.QUASI, Kind.STRING, pii="date"))})
    assert check_safe_harbor(rel, reference_year=2026).status("C") == status
