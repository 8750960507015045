"""The linkage attack on a register and release small enough to score by hand.

Release (one row per patient; position: entity, gender code, ZIP label)::

    P0: 101, 1, 021**      P1: 102, 0, 021**      P2: 103, 0, 021**
    P3: 104, 1, 030**      P4: 105, 0, 030**

Register (row: hidden true entity, name, gender, ZIP, SSN)::

    R0: 101   Ann Lee   1  02115  111-11-1111   -> candidates {P0}
    R1: None  Eve Roe   1  02139  999-99-9999   -> candidates {P0}        (not a patient)
    R2: 102   Bob Ray   0  02116  222-22-2222   -> candidates {P1, P2}
    R3: 104   Dora Diaz 1  03060  444-44-4444   -> candidates {P3}
    R4: None  Max Moe   0  03070  555-55-5555   -> candidates {P4}        (not a patient)

Candidates per patient: P0 {R0, R1}, P1 {R2}, P2 {R2}, P3 {R3}, P4 {R4}.

A claim needs the row and the patient to be each other's *only* candidate:
R3 <-> P3 (correct: R3 is entity 104) and R4 <-> P4 (wrong: R4 is nobody in the release).
R0 and R1 each have P0 as their only candidate but P0 has two rows, so neither is claimed;
R2 has two patients. So claims = 2, correct = 1, precision = 1/2, matched rows = 5,
covered patients = |{P0, P1, P3}| = 3, re-identification rate = 1/5 = 0.2.
Expected correct of a random pick = R0: 1/1 + R2: 1/2 + R3: 1/1 = 2.5 (R1, R4 have no true patient).
Leaked PII of the one correct claim (R3 = entity 104, source name "Dora Diaz", SSN 444-44-4445):
name 1 (equal), ssn 0 (the register's SSN has a recording error).

Without the patient's-only-candidate condition R0 -> P0 (correct) and R1 -> P0 (wrong) would be
claimed too: 4 claims, 2 correct, leaked name 2 and ssn 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.attacks.common import Alignment
from privhealth.anon.attacks.linkage import plan_attack, score_linkage, truth_positions
from privhealth.anon.attacks.matching import match
from privhealth.anon.attacks.passes import claim
from privhealth.data.population import GROUND_TRUTH

ENTITIES = [101, 102, 103, 104, 105]
LEAK = {"name": "text", "ssn": "digits"}


def _case():
    patients = pd.DataFrame(
        {"gender": [1, 0, 0, 1, 0], "zip": ["021**", "021**", "021**", "030**", "030**"]},
        index=pd.Index(ENTITIES, name="icustayid"),
    )
    register = pd.DataFrame({
        "name": ["Ann Lee", "Eve Roe", "Bob Ray", "Dora Diaz", "Max Moe"],
        "gender": [1, 1, 0, 1, 0],
        "zip": ["02115", "02139", "02116", "03060", "03070"],
        "ssn": ["111-11-1111", "999-99-9999", "222-22-2222", "444-44-4444", "555-55-5555"],
        GROUND_TRUTH: pd.array([101, pd.NA, 102, 104, pd.NA], dtype="Int64"),
    })
    source = pd.DataFrame(
        {"name": ["Ann Lee", "Bob Ray", "Cy Cole", "Dora Diaz", "Ed Fox"],
         "ssn": ["111-11-1111", "222-22-2222", "333-33-3333", "444-44-4445", "555-55-0000"]},
        index=pd.Index(ENTITIES, name="icustayid"),
    )
    al = Alignment(pd.Series(ENTITIES, index=ENTITIES), pd.Index(ENTITIES), "icustayid")
    view = register.drop(columns=[GROUND_TRUTH])
    plan = plan_attack(patients, view, fields=["gender", "zip"], age_column=None, admission_column=None)
    truth = truth_positions(register, al)
    cand = match(plan, view, truth=truth)
    return plan, view, truth, al, source, cand


def test_candidates_are_the_hand_counted_ones():
    plan, _, truth, _, _, cand = _case()
    assert [f.field for f in plan.fields] == ["gender", "zip"] and plan.dropped == {}
    assert list(truth) == [0, -1, 1, 3, -1]
    assert list(cand.v_count) == [1, 1, 2, 1, 1]
    assert list(cand.p_count) == [2, 1, 1, 1, 1]
    assert list(cand.v_true) == [True, False, True, True, False]
    one = cand.v_count == 1
    assert list(cand.v_last[one]) == [0, 0, 3, 4]


def _check(res) -> None:
    assert res.claims == 2
    assert res.correct == 1
    assert res.precision == pytest.approx(0.5)
    assert res.matched == 5 and res.register_rows == 5
    assert res.released_patients == 5 and res.covered_patients == 3
    assert res.reid_rate == pytest.approx(0.2)
    assert res.reid_rate_covered == pytest.approx(1 / 3)
    assert res.expected_correct == pytest.approx(2.5)
    assert list(res.patient_expected) == pytest.approx([1.0, 0.5, 0.0, 1.0, 0.0])
    assert list(res.patient_reidentified) == [False, False, False, True, False]
    assert res.leaked_per_field == {"name": 1, "ssn": 0}
    assert res.recovered.to_dict("records") == [{"entity": 104, "field": "name"}]


def test_exact_counts_with_the_default_unique_claims():
    """Kills the mutant "dropping the patient's only candidate condition" in linkage scoring
    (``src/anon/attacks/linkage.py``, ``score_linkage``'s ``sole``): without it R0 and R1 both
    claim P0, giving 4 claims, 2 correct and name 2 / ssn 1 leaked instead of 2, 1 and 1 / 0."""
    plan, view, truth, al, source, cand = _case()
    _check(score_linkage(plan, cand, view, truth, al, source, LEAK))


@pytest.mark.parametrize("mode", ["single", "leave_one_out"])
def test_exact_counts_through_the_claim_passes(mode):
    """The same counts through ``passes.claim`` (the path ``assess_release`` takes): kills the
    same "patient's only candidate" mutant in ``passes._unique``. Leaving gender out still
    leaves ZIP 021** shared by three patients and 030** by two, so no pass adds a claim:
    leaving ZIP out makes gender 0 and 1 shared by several patients and rows."""
    plan, view, truth, al, source, cand = _case()
    claims = claim(plan, view, cand, mode)
    assert list(claims.patient) == [-1, -1, -1, 3, 4]
    res = score_linkage(plan, cand, view, truth, al, source, LEAK, claimed=claims.patient,
                        passes=claims.per_pass(truth))
    _check(res)
    assert res.passes[0]["claims"] == 2 and res.passes[0]["correct_claims"] == 1
    assert np.all(claims.pass_of[[3, 4]] == 0)
