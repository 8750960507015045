"""The linkage attack's label reading, rendering, age-through-birth-date matching and scoring
details, on cases small enough to work out by hand (issue 17, mutation testing).

Each test names the mutants of ``tools/mutants.py`` (``module:line kind``, lines of main 6d856a7)
it kills; the counts are worked out in the docstrings, not taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_linkage_exact import LEAK, _case

from privhealth.anon.attacks.linkage import (
    FieldPlan,
    _field_plan,
    has_zero_zip3,
    plan_attack,
    render,
    score_linkage,
)
from privhealth.anon.attacks.matching import match


def test_age_band_is_matched_through_the_birth_date_at_365_25_days_a_year():
    """Release: P0 (gender 1, age [60, 70)), P1 (1, [70, 80)), P2 (0, age suppressed), all admitted
    on 2010-01-01 (admission period [14610, 14611] days since 1970). Register:

    - R0 (1, born 1950-01-02): 14611 − (−7304) = 21915 days = 60.00 years at the end of the
      period (≥ 60 − 0.01) → {P0}; at 366.25 days a year it would be 59.84 → no candidate;
    - R1 (1, born 1940-06-01): 69.58 years → {P0} (below P1's 70 − 0.01);
    - R2 (1, born 1935-01-01): 75.0 years → {P1};
    - R3 (0, born 1990-01-01): gender 0 → {P2} (its age constrains nothing).

    So candidates per row [1, 1, 1, 1] with patients P0, P0, P1, P2; per patient [2, 1, 1].
    Kills linkage.py:78 365.25->366.25 and :255 In->NotIn (age left out: R0-R2 each match P0 and
    P1), and checks ``used`` names the age."""
    patients = pd.DataFrame(
        {"gender": [1, 1, 0], "age": ["[60, 70)", "[70, 80)", "*"], "admission_date": ["2010-01-01"] * 3},
        index=pd.Index([1, 2, 3], name="icustayid"),
    )
    register = pd.DataFrame({
        "gender": [1, 1, 1, 0],
        "date_of_birth": pd.to_datetime(["1950-01-02", "1940-06-01", "1935-01-01", "1990-01-01"]),
    })
    plan = plan_attack(patients, register, fields=["gender", "date_of_birth"])
    assert plan.used == ["gender", "age (through date_of_birth)"] and plan.dropped == {}
    assert list(plan.age_lo[:2]) == [60, 70] and list(plan.age_hi[:2]) == [70, 80]
    assert list(plan.adm_lo) == [14610] * 3 and list(plan.adm_hi) == [14611] * 3
    cand = match(plan, register)
    assert list(cand.v_count) == [1, 1, 1, 1]
    assert list(cand.v_last) == [0, 0, 1, 2]
    assert list(cand.p_count) == [2, 1, 1]


def test_released_date_labels_are_read_at_their_unit():
    """Labels 1950-01-02, 1950-01, 1950-q1, 1950, 1950s, * → units day, month, quarter, year,
    decade (pattern ids 0-4 in that order) and a wildcard (-1, key None); each key is the label.
    Kills linkage.py:141 Eq->NotEq (the first unit that matches wins) and the factorize/wildcard
    lines 164-170."""
    p = _field_plan("date_of_birth", "date", pd.Series(["1950-01-02", "1950-01", "1950-q1", "1950", "1950s", "*"]))
    assert list(p.pattern) == [0, 1, 2, 3, 4, -1]
    assert p.specs == [("date", "day"), ("date", "month"), ("date", "quarter"), ("date", "year"), ("date", "decade")]
    assert list(p.key) == ["1950-01-02", "1950-01", "1950-q1", "1950", "1950s", None]


def test_released_zip_labels_keep_digits_and_stars():
    """021** → (zip, 3 digits, 2 stars); 02139 → (zip, 5, 0); * → wildcard; abc → compared exactly.
    Kills linkage.py:132-136 (digit and star counts)."""
    p = _field_plan("zip", "zip", pd.Series(["021**", "02139", "*", "abc"]))
    assert list(p.pattern) == [0, 1, -1, 2]
    assert p.specs == [("zip", 3, 2), ("zip", 5, 0), ("exact",)]


def test_register_rendered_at_every_date_unit_and_as_codes():
    """1938-05-21 → 1938-05-21, 1938-05, 1938-q2, 1938, 1930s; a missing date stays None.
    Codes "1", "2.0" → "1", "2". A 4-digit ZIP cannot show 5 digits → None. Kills linkage.py:188-197
    (unit switches, decade arithmetic), :180 0->1 (ZIP head), :184 GtE->Gt, :199 Eq->NotEq."""
    d = pd.Series(pd.to_datetime(["1938-05-21", None]))
    want = {"day": "1938-05-21", "month": "1938-05", "quarter": "1938-q2", "year": "1938", "decade": "1930s"}
    for unit, label in want.items():
        assert list(render("date", ("date", unit), d)) == [label, None], unit
    assert list(render("code", ("exact",), pd.Series(["1", "2.0", None]))) == ["1", "2", None]
    assert list(render("zip", ("zip", 5, 0), pd.Series(["02139", "0213", None]))) == ["02139", None, None]
    assert list(render("zip", ("zip", 3, 2), pd.Series(["03601"]))) == ["036**"]  # not zeroed by default


def test_zero_zip3_is_read_only_from_active_labels():
    """A ZIP plan whose labels are 000** (pattern 0) and 021** (pattern 1) uses 000 for restricted
    prefixes; the same with 000** a wildcard (-1) does not; a non-ZIP field never does.
    Kills linkage.py:270 NotEq->Eq and :272 0->1 (pattern >= 1 skips pattern 0)."""
    keys = np.array(["000**", "021**"], dtype=object)
    specs = [("zip", 3, 2)]
    assert has_zero_zip3(FieldPlan("zip", "zip", np.array([0, 1]), keys, specs))
    assert not has_zero_zip3(FieldPlan("zip", "zip", np.array([-1, 0]), keys, specs))
    assert not has_zero_zip3(FieldPlan("city", "text", np.array([0, 1]), keys, specs))


def test_field_overlap_at_the_threshold_is_kept():
    """Released cities boston, salem; the register renders boston and lowell: 1 of 2 released
    labels occurs → overlap 0.5. With min_field_overlap 0.5 the field is used (0.5 < 0.5 is false);
    with 0.51 it is dropped with its reason. Kills linkage.py:249 Lt->LtE and :248 (the share)."""
    patients = pd.DataFrame({"city": ["boston", "salem"]}, index=[1, 2])
    register = pd.DataFrame({"city": ["Boston", "Lowell"]})
    kw = {"fields": ["city"], "age_column": None, "admission_column": None}
    kept = plan_attack(patients, register, min_field_overlap=0.5, **kw)
    assert [f.field for f in kept.fields] == ["city"] and kept.fields[0].overlap == 0.5
    dropped = plan_attack(patients, register, min_field_overlap=0.51, **kw)
    assert dropped.fields == [] and "do not occur in the rendered register" in dropped.dropped["city"]
    default = plan_attack(patients, register, **kw)  # default 0.05
    assert [f.field for f in default.fields] == ["city"]


def test_score_skips_leak_fields_the_register_lacks_and_reports_by_hand():
    """The 5-person case of ``test_linkage_exact`` (claims 2, correct 1, expected 2.5) with a
    ``phone`` leak field the source holds but the register does not: phone is left out of the
    leaked counts. ``passes`` defaults to []; ``to_dict`` gives precision 0.5, rates 1/5, 1/3 and
    2.5/5 = 0.5. Kills linkage.py:387 Or->And / NotIn->In and :411 Or->And."""
    plan, view, truth, al, source, cand = _case()
    source = source.assign(phone=["1", "2", "3", "4", "5"])
    res = score_linkage(plan, cand, view, truth, al, source, {**LEAK, "phone": "digits"})
    assert res.leaked_per_field == {"name": 1, "ssn": 0}
    assert res.passes == []
    d = res.to_dict()
    assert d["claims"] == 2 and d["correct_claims"] == 1 and d["precision"] == pytest.approx(0.5)
    assert d["reid_rate"] == pytest.approx(0.2) and d["reid_rate_covered"] == pytest.approx(1 / 3)
    assert d["expected_random_pick_rate"] == pytest.approx(0.5)
    assert d["attempts"] == 5 and d["matched"] == 5
