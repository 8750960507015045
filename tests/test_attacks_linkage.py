"""Linkage and inference attacks: strong on raw data, still working on the paper's rules, bounded by k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from attack_cases import QUASI, cohort, release, report

from privhealth.anon.attacks.common import align, patient_view
from privhealth.anon.attacks.linkage import age_intervals, render
from privhealth.anon.attacks.risk import class_ids, class_sizes


def test_raw_release_is_linked_for_most_covered_patients():
    lk = report("raw").linkage
    assert lk.covered_patients == round(0.6 * cohort().n_entities)
    assert lk.reid_rate_covered > 0.8  # only noisy register rows escape
    assert lk.precision > 0.95
    assert lk.leaked_per_field["name"] > 0.8 * lk.covered_patients


def test_paper_rules_are_not_k_anonymous_and_still_linkable():
    rep = report("paper")
    assert rep.risk_declared.smallest_class == 1  # k-anonymity fails on the declared QIs
    assert rep.risk_declared.sample_uniqueness > 0.5
    lk = rep.linkage
    assert "city" in lk.fields_used  # the rule set leaves city in; the register holds it
    assert {"name", "address"} <= set(lk.fields_dropped)  # masked: recognised and skipped
    assert lk.correct >= 20 and lk.reid_rate > 0.02
    assert lk.leaked_per_field["name"] > 0


def test_paper_rules_without_city_and_state_still_leak_some_patients():
    lk = report("paper_no_city").linkage
    assert "city" not in lk.fields_used
    assert lk.correct > 0


def _classes(kind: str) -> tuple[np.ndarray, np.ndarray]:
    ds, rel = cohort(), release(kind)
    patients = patient_view(rel.frame, align(ds, rel).row_entity)
    return class_ids(patients, QUASI), class_sizes(patients, QUASI)


def test_k10_release_bounds_linkage_by_one_over_class_size():
    ids, sizes = _classes("k10")
    assert sizes.min() >= 10
    rep = report("k10")
    lk = rep.linkage
    # every field the attacker matches on is a quasi-identifier the classes are formed on, so a
    # register row compatible with one patient is compatible with the whole class: no unique claim
    assert set(lk.fields_used) <= {"gender", "zip", "date_of_birth", "age (through date_of_birth)"}
    assert lk.correct == 0 and not lk.patient_reidentified.any()
    # random-pick attacker: expected correct re-identifications per class <= 1 <= |class| / 10
    per_class = pd.Series(lk.patient_expected).groupby(ids).sum()
    size = pd.Series(sizes).groupby(ids).first()
    assert (per_class <= 1 + 1e-9).all()
    assert (per_class / size <= 0.1 + 1e-9).all()
    assert rep.risk.prosecutor_max <= 0.1 and rep.risk.records_at_risk == 0
    assert rep.leakage.fraction == 0


def test_inference_reports_rate_beside_the_prior():
    raw, k10 = report("raw").inference, report("k10").inference
    for inf in (raw, k10):
        names = {a.attribute for a in inf.attributes}
        assert names == {"elixhauser", "mortality_90d"}
        for a in inf.attributes:
            assert 0 <= a.base_rate <= 1 and 0 <= a.rate <= 1
    # on raw data a unique link reveals the attribute of every re-identified patient
    assert raw.rate == pytest.approx(report("raw").linkage.reid_rate, abs=0.01)
    mort = next(a for a in k10.attributes if a.attribute == "mortality_90d")
    assert mort.accuracy >= mort.base_accuracy - 0.05  # classes never predict much worse than the prior


def test_age_labels_and_register_rendering():
    lo, hi = age_intervals(pd.Series(["[60, 70)", "60-69", "90+", "*", "72"]), 90)
    assert list(lo[:3]) == [60, 60, 90] and list(hi[:3]) == [70, 70, np.inf]
    assert np.isinf(lo[3]) and lo[4] == hi[4] == 72
    lo, hi = age_intervals(pd.Series([45.5, 90.0]), 90)
    assert hi[1] == np.inf and lo[0] == hi[0] == 45.5
    z = pd.Series(["02215", "03601", None])
    assert list(render("zip", ("zip", 3, 2), z)) == ["022**", "036**", None]
    assert list(render("zip", ("zip", 3, 0), z, zero_restricted=True)) == ["022", "000", None]
    d = pd.Series(pd.to_datetime(["1938-01-21", None]))
    assert list(render("date", ("date", "decade"), d)) == ["1930s", None]
    assert list(render("date", ("date", "quarter"), d)) == ["1938-q1", None]


def test_mondrian_style_labels():
    lo, hi = age_intervals(pd.Series(["[62.3-71.8]", "[40-44]"]), 90)
    assert list(lo) == [62.3, 40] and list(hi) == [71.8, 44]
    from privhealth.anon.attacks.linkage import _field_plan

    plan = _field_plan("gender", "code", pd.Series(["0", "[0-1]", "1"]))
    assert list(plan.pattern >= 0) == [True, False, True]  # a range of both codes hides the gender


def test_fully_suppressed_quasi_identifiers_leave_only_the_prior():
    from attack_cases import FAST, QUASI

    from privhealth.anon.attacks import assess_release
    from privhealth.anon.release import RuleBasedAnonymizer
    from privhealth.anon.transforms import CellSuppressor, DropColumns

    ds = cohort()
    direct = ["icustayid", "name", "ssn", "mrn", "address", "city", "state", "phone", "email", "charttime"]
    rel = RuleBasedAnonymizer([CellSuppressor(QUASI), DropColumns(direct[1:])]).anonymize(ds)
    rep = assess_release(ds, rel, config={**FAST, "quasi": QUASI})
    lk = rep.linkage
    n = lk.released_patients
    assert lk.fields_used == [] and lk.claims == 0
    assert lk.matched == lk.register_rows  # everyone is a candidate of everyone
    assert lk.expected_correct == pytest.approx(lk.covered_patients / n)
    for a in rep.inference.attributes:  # the class is the whole release: the guess is the prior's
        assert a.rate == pytest.approx(a.base_rate) and a.accuracy == pytest.approx(a.base_accuracy)
    assert rep.risk.prosecutor_max == pytest.approx(1 / n)
