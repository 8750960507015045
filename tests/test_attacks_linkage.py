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
    # voter list (60% of patients) merged with the broker file (90% of everyone)
    assert 0.93 * cohort().n_entities <= lk.covered_patients <= 0.99 * cohort().n_entities
    assert lk.reid_rate_covered > 0.95  # the leave-out passes recover most noisy register rows
    assert lk.precision > 0.95
    assert lk.leaked_per_field["name"] > 0.8 * lk.covered_patients
    assert lk.leaked_per_field["ssn"] > 0.8 * lk.covered_patients  # the broker file's full SSN


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


# ---------------------------------------------------------------------- counting vs. pairs
def _attack_inputs(patients: pd.DataFrame, kind: str = "raw", tolerance: float = 0.01):
    """Plan, register, truth and sensitive codes for a patient table aligned with the shared cohort."""
    from attack_cases import FAST

    from privhealth.anon.attacks.inference import encode_sensitive
    from privhealth.anon.attacks.leakage import AttackConfig, _register
    from privhealth.anon.attacks.linkage import plan_attack, truth_positions
    from privhealth.data.population import GROUND_TRUTH

    ds = cohort()
    al = align(ds, release(kind))
    reg = _register(ds, None, AttackConfig.from_mapping(FAST))
    view = reg.drop(columns=[GROUND_TRUTH])
    plan = plan_attack(patients, view, age_tolerance=tolerance)
    codes, sizes, _ = encode_sensitive(patients, ["elixhauser", "mortality_90d"], 100)
    return plan, view, truth_positions(reg, al), codes, sizes


def _mixed_release(seed: int) -> pd.DataFrame:
    """The raw patients with per-row random generalization and suppression of every linkable field."""
    rng = np.random.default_rng(seed)
    ds, raw = cohort(), release("raw")
    p = patient_view(raw.frame, align(ds, raw).row_entity).copy()
    n = len(p)
    pick = lambda k: rng.integers(0, k, n)  # noqa: E731
    dob = pd.to_datetime(p["date_of_birth"])
    d_lab = [dob.dt.strftime("%Y-%m-%d"), dob.dt.strftime("%Y-%m"),
             dob.dt.year.astype(str) + "-q" + dob.dt.quarter.astype(str), dob.dt.year.astype(str),
             (dob.dt.year // 10 * 10).astype(str) + "s", pd.Series("*", index=p.index)]
    p["date_of_birth"] = np.choose(pick(len(d_lab)), [s.to_numpy(dtype=object) for s in d_lab])
    adm = pd.to_datetime(p["admission_date"])
    a_lab = [adm.dt.strftime("%Y-%m-%d"), adm.dt.strftime("%Y-%m"), adm.dt.year.astype(str),
             pd.Series("*", index=p.index)]
    p["admission_date"] = np.choose(pick(len(a_lab)), [s.to_numpy(dtype=object) for s in a_lab])
    age = p["age"]
    lo10, lo5 = (age // 10 * 10).astype(int).astype(str), (age // 5 * 5).astype(int)
    f = (age - rng.uniform(0, 4, n)).round(1)
    g_lab = ["[" + lo10 + ", " + (lo10.astype(int) + 10).astype(str) + ")",
             lo5.astype(str) + "-" + (lo5 + 4).astype(str),
             "[" + f.astype(str) + "-" + (f + rng.uniform(0, 6, n)).round(1).astype(str) + "]",
             age.astype(int).astype(str).where(age < 90, "90+"),
             age.astype(int).clip(upper=90).astype(str),
             pd.Series("*", index=p.index)]
    g_lab = [s.to_numpy(dtype=object) for s in g_lab]
    p["age"] = np.choose(pick(len(g_lab)), g_lab)
    z = p["zip"].astype(str)
    z_lab = [z, z.str.slice(0, 3) + "**", z.str.slice(0, 1) + "****", pd.Series("*", index=p.index)]
    p["zip"] = np.choose(pick(len(z_lab)), [s.to_numpy(dtype=object) for s in z_lab])
    p["gender"] = np.where(rng.random(n) < 0.2, "*", p["gender"].astype(str)).astype(object)
    p["city"] = np.where(rng.random(n) < 0.5, "*", p["city"].astype(str)).astype(object)
    return p


def _same_candidates(a, b) -> None:
    for f in ("v_count", "p_count", "v_true", "attempted"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.hists.keys() == b.hists.keys()
    for k in a.hists:
        np.testing.assert_array_equal(a.hists[k], b.hists[k], err_msg=k)
    one = a.v_count <= 1  # where the candidate is unique (or absent) it is the same one
    np.testing.assert_array_equal(a.v_last[one], b.v_last[one])
    many = b.v_count > 1  # elsewhere it is still a candidate of the row: its patient has rows
    assert (b.v_last[many] >= 0).all()


def _both(patients: pd.DataFrame, kind: str = "raw", tolerance: float = 0.01):
    from privhealth.anon.attacks.matching import match

    plan, view, truth, codes, sizes = _attack_inputs(patients, kind, tolerance)
    kw = {"truth": truth, "values": codes, "n_values": sizes}
    return plan, match(plan, view, pairwise=True, **kw), match(plan, view, **kw)


@pytest.mark.parametrize("kind", ["raw", "paper", "paper_no_city", "k10", "safe_harbor"])
def test_block_counting_equals_pairwise_on_the_test_releases(kind):
    ds, rel = cohort(), release(kind)
    patients = patient_view(rel.frame, align(ds, rel).row_entity)
    for tol in (0.01, 0.0):
        _, a, b = _both(patients, kind, tol)
        _same_candidates(a, b)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_block_counting_equals_pairwise_on_mixed_generalized_and_suppressed_releases(seed):
    plan, a, b = _both(_mixed_release(seed), tolerance=0.0 if seed % 2 else 0.01)
    assert plan.age_used and {"gender", "zip", "date_of_birth"} <= set(plan.used)
    assert a.v_count.sum() > 0 and (a.v_count == 1).any()
    _same_candidates(a, b)


def test_coarse_release_is_counted_where_pairs_would_exceed_the_limit():
    from privhealth.anon.attacks.matching import match
    from privhealth.errors import ConfigError

    ds, rel = cohort(), release("safe_harbor")
    patients = patient_view(rel.frame, align(ds, rel).row_entity)
    patients["zip"] = "*"  # gender and a year-level age only: every row has hundreds of candidates
    plan, view, truth, codes, sizes = _attack_inputs(patients, "safe_harbor")
    kw = {"truth": truth, "values": codes, "n_values": sizes}
    ref = match(plan, view, pairwise=True, **kw)
    assert ref.v_count.sum() > 10_000
    with pytest.raises(ConfigError, match="max_candidate_pairs"):
        match(plan, view, pairwise=True, max_pairs=10_000, **kw)
    _same_candidates(ref, match(plan, view, max_pairs=10_000, **kw))
