"""Direct scan and Eq. 15: raw identifiers are found wherever they survive, and nothing else is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from attack_cases import FAST, cohort, release, report

from privhealth.anon.attacks import assess_release
from privhealth.anon.attacks.common import align, pii_fields
from privhealth.anon.attacks.direct import scan_release, source_keys
from privhealth.anon.release import NoAnonymization, make_release
from privhealth.data.schema import Dataset
from privhealth.errors import SchemaError


def _scan(ds: Dataset, rel, **kw):
    fields = pii_fields(ds)
    return scan_release(ds, rel, align(ds, rel), source_keys(ds, fields), **kw)


def test_pii_fields_are_the_pii_columns_and_the_stay_id_but_not_state():
    fields = pii_fields(cohort())
    assert fields[0] == "icustayid"
    assert set(fields) == {"icustayid", "name", "ssn", "mrn", "address", "city", "zip", "phone", "email",
                           "date_of_birth", "admission_date"}


def test_raw_release_leaks_everything():
    rep = report("raw")
    n = cohort().n_entities
    assert rep.leakage.pii_total == n * 11
    assert rep.leakage.fraction == pytest.approx(1.0)
    assert all(v == n for v in rep.direct.per_field.values())
    assert rep.metrics()["risk/pii_leakage"] == pytest.approx(1.0)


def test_paper_rules_leak_city_and_fragments_but_no_masked_or_coded_value():
    scan = report("paper").direct
    n = cohort().n_entities
    assert scan.per_field["city"] == n  # left in clear by the rule set
    for f in ("icustayid", "mrn", "name", "ssn", "phone", "email", "address", "zip", "date_of_birth",
              "admission_date"):
        assert scan.per_field[f] == 0, f  # no false positive from hex pseudonyms, labels, charttime
    # the SSN mask keeps the last four digits, the phone mask too: partial exposure, not counted
    assert scan.partial_per_field["ssn"] == n and scan.partial_per_field["phone"] == n
    assert scan.partial_per_field["mrn"] == 0 and scan.partial_per_field["icustayid"] == 0
    assert report("paper").leakage.per_attack["direct"] == n


def _toy_release(ds: Dataset, extra: dict[str, list], rename: dict[str, str] | None = None):
    """A release of the first three patients' first rows, identity columns removed, plus ``extra``."""
    first = ds.frame.drop_duplicates("icustayid").head(3)
    keep = ["icustayid", "bloc", "age", "gender", "charttime"]
    frame = first[keep].assign(**extra)
    if rename:
        frame = frame.rename(columns=rename)
    return make_release(ds, frame, "toy", [])


def test_embedded_unique_elsewhere_and_column_name_channels():
    ds = cohort()
    people = ds.frame.drop_duplicates("icustayid").head(3)
    ssn_b = people["ssn"].iloc[1]
    name_a = people["name"].iloc[0]
    mrn_c = people["mrn"].iloc[2]
    notes = [f"called {name_a.upper()} today", f"ref ssn: {ssn_b}", "nothing"]
    rel = _toy_release(ds, {"note": [notes[0], notes[2], notes[1]], "x": [1, 2, 3]}, {"x": f"mrn {mrn_c}"})
    scan = _scan(ds, rel)
    got = set(map(tuple, scan.recovered[["entity", "field"]].to_numpy()))
    ent = people["icustayid"].to_numpy()
    assert (ent[0], "name") in got  # embedded, case-folded, in the patient's own row
    assert (ent[1], "ssn") in got  # a unique SSN in another patient's row still names its owner
    assert (ent[2], "mrn") in got  # an MRN as a column name
    assert (ent[0], "icustayid") in got  # the stay ids are released as is
    assert scan.n_identifier_column_names == 1
    assert set(scan.channels) >= {"own_embedded", "unique_elsewhere", "column_name", "own_exact"}


def test_no_false_positives_from_numbers_dates_and_short_fragments():
    ds = cohort()
    people = ds.frame.drop_duplicates("icustayid").head(3)
    last = ds.frame.iloc[-1]  # a patient not in this release
    other_stay, other_mrn = int(last["icustayid"]), str(last["mrn"])
    rel = _toy_release(ds, {
        "lab": [float(other_stay), 1.0, 2.0],  # equals another patient's stay id, by chance
        # a date-shaped label whose digits spell that patient's (unique, 8-digit) MRN
        "label": [f"{other_mrn[:4]}-{other_mrn[4:6]}-{other_mrn[6:]}", "x", "y"],
        "code": ["P3fa91234567abcd", "Pab12cd34ef56ab78", "P0000000000000000"],
    })
    scan = _scan(ds, rel)
    fields = scan.recovered.merge(pd.DataFrame({"entity": [other_stay]}), on="entity")
    assert fields.empty
    own = set(people["icustayid"])
    assert set(scan.recovered["entity"]) <= own


def test_count_partial_adds_fragments_to_eq15():
    ds, rel = cohort(), release("paper")
    base = report("paper").leakage
    with_partial = assess_release(ds, rel, config={**FAST, "count_partial": True}).leakage
    assert with_partial.recovered > base.recovered
    assert with_partial.per_attack["direct_partial"] == 2 * ds.n_entities


def test_union_counts_each_pair_once():
    leak = report("paper").leakage
    parts = leak.per_attack
    assert max(parts.values()) <= leak.recovered <= sum(parts.values())
    assert sum(f["recovered"] for f in leak.per_field.values()) == leak.recovered
    assert leak.fraction == pytest.approx(leak.recovered / leak.pii_total)


def test_misaligned_release_is_refused_without_echoing_values():
    ds = cohort()
    frame = ds.frame.head(5).copy()
    frame.index = frame.index + 10**9
    rel = make_release(ds, frame, "broken", [])
    with pytest.raises(SchemaError, match="5 released row") as err:
        assess_release(ds, rel, config=FAST)
    assert str(frame["ssn"].iloc[0]) not in str(err.value)


def test_source_without_identities_still_scans_and_reverses():
    ds = cohort()
    ident = ["name", "ssn", "mrn", "address", "city", "state", "zip", "phone", "email", "date_of_birth",
             "admission_date"]
    bare = Dataset(ds.frame.drop(columns=ident).head(400), ds.schema.subset(
        [c for c in ds.schema.column_names if c not in ident]), "bare")
    rep = assess_release(bare, NoAnonymization().anonymize(bare), config=FAST)
    m = rep.metrics()
    assert m["risk/pii_leakage"] == pytest.approx(1.0)  # the stay id, released as is
    assert np.isnan(m["risk/linkage_reid_rate"]) and np.isnan(m["risk/inference_rate"])
    assert rep.linkage is None
