"""Eq. 15's leakage union, the attack settings' bounds and the flat risk metrics, by hand
(issue 17, mutation testing). Each test names the mutants of ``tools/mutants.py``
(``module:line kind``, lines of main 6d856a7) it kills.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from privhealth.anon.attacks.leakage import AttackConfig, Leakage, RiskReport, _union
from privhealth.anon.attacks.risk import risk_models
from privhealth.errors import ConfigError

PAIRS = ["entity", "field"]


def _pairs(rows: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=PAIRS)


def _leak() -> Leakage:
    """PII present in the source: (1, name), (1, ssn), (2, name), (3, name) → PII_total 4; patients 1
    and 2 are released (3 of the pairs). Recovered: direct {(1, name)}; reversal {(1, name),
    (2, name)} plus (9, name), which is no source pair and is dropped; linkage {(2, name), (3, name)}
    with (3, name) twice. Per attack 1, 2, 2; the union {(1, name), (2, name), (3, name)} = 3, of
    which 2 are released patients'. Per field: name 3 present / 3 recovered, ssn 1 / 0, phone 0 / 0.
    """
    keys = _pairs([(1, "name"), (1, "ssn"), (2, "name"), (3, "name")])
    parts = {
        "direct": _pairs([(1, "name")]),
        "reversal": _pairs([(1, "name"), (2, "name"), (9, "name")]),
        "linkage": _pairs([(2, "name"), (3, "name"), (3, "name")]),
    }
    return _union(parts, keys, pd.Index([1, 2]), ["name", "ssn", "phone"], partial=5)


def test_union_of_recovered_pairs_by_hand():
    """The case of ``_leak``: leakage 3/4, among released patients 2/3. Kills leakage.py:326-350
    (dedup, the isin filter, released counts, per-field totals; :341 0->1 defaults)."""
    leak = _leak()
    assert (leak.pii_total, leak.pii_total_released, leak.recovered, leak.recovered_released) == (4, 3, 3, 2)
    assert leak.per_attack == {"direct": 1, "reversal": 2, "linkage": 2}
    assert leak.per_field == {"name": {"present": 3, "recovered": 3}, "ssn": {"present": 1, "recovered": 0},
                              "phone": {"present": 0, "recovered": 0}}
    assert leak.fraction == pytest.approx(0.75) and leak.fraction_released == pytest.approx(2 / 3)
    d = leak.to_dict()
    assert d["leakage"] == pytest.approx(0.75) and d["partial_pairs_not_counted"] == 5
    assert d["pii_recovered_released_patients"] == 2 and d["leakage_released_patients"] == pytest.approx(2 / 3)
    none = _union({}, _pairs([(1, "name")]), pd.Index([1]), ["name"], 0)
    assert (none.recovered, none.pii_total, none.fraction) == (0, 1, 0.0)


def test_flat_metrics_by_hand():
    """With the union above (per attack 1, 2, 2 of 4 pairs): risk/leakage_direct 1/4, _reversal 2/4,
    _linkage 2/4; no linkage or inference → NaN figures; no Safe Harbor check → no such key. Risk
    sizes [1, 2, 2] at 0.5: records at risk 1/3, smallest class 1. With no PII at all the shares
    divide by 1, not 0. Kills leakage.py:210-240 (:222 Div->Mult, :213 `or 1`, the None branches)."""
    risk = risk_models(np.array([1, 2, 2]), ["a"], 0.5, None)
    rep = RiskReport("t", _leak(), SimpleNamespace(), SimpleNamespace(columns=[]), None, None, risk, risk, None,
                     {}, [], AttackConfig())
    m = rep.metrics()
    assert m["risk/leakage_direct"] == 0.25 and m["risk/leakage_reversal"] == 0.5 and m["risk/leakage_linkage"] == 0.5
    assert m["risk/pii_leakage"] == 0.75 and m["risk/records_at_risk"] == pytest.approx(1 / 3)
    assert m["risk/smallest_class"] == 1.0 and m["risk/records_at_risk_declared"] == pytest.approx(1 / 3)
    for k in ("risk/linkage_reid_rate", "risk/inference_rate", "risk/linkage_precision", "risk/population_uniqueness"):
        assert math.isnan(m[k]), k
    assert "risk/safe_harbor_pass" not in m
    empty = Leakage(0, 0, 0, 0, {}, {"direct": 0}, 0, [])
    rep0 = RiskReport("t", empty, None, None, None, None, risk, risk, None, {}, [], AttackConfig())
    m0 = rep0.metrics()
    assert m0["risk/leakage_direct"] == 0.0 and m0["risk/pii_leakage"] == 0.0
    assert m0["risk/leakage_reversal"] == 0.0 and m0["risk/leakage_linkage"] == 0.0  # absent attacks: 0, not 1


class _Schema(list):
    """The two things risk_quasi reads of a release schema: its columns and its quasi-identifiers."""

    def __init__(self, cols, quasi, sensitive=(), target=None):
        super().__init__(SimpleNamespace(name=n, role=r) for n, r in cols)
        self.quasi, self.sensitive, self.target = list(quasi), list(sensitive), target


def test_risk_quasi_identifiers_by_hand():
    """Declared quasi-identifiers zip and age (age not released → left out); direct identifiers:
    city (varied → added), name (all masked "***" → not informative), pid (16-digit hex pseudonyms
    → left out), mrn (a Pseudonymizer step's column) and rc (a RandomCode step's column) → left out,
    phone (not released). Result [zip, city]; an explicit list is returned as is, a column not in
    the release is a SchemaError. Kills leakage.py:279 In->NotIn, :282 IsNot->Is / NotIn->In / the
    Or chain, :285 drop Not. Sensitive columns: the configured ones, plus the target once.
    Kills :293 IsNot->Is and the target rule."""
    from privhealth.anon.attacks.leakage import _sensitive_columns, risk_quasi
    from privhealth.data.schema import Role
    from privhealth.errors import SchemaError

    D, Q = Role.DIRECT, Role.QUASI
    schema = _Schema([("zip", Q), ("age", Q), ("city", D), ("name", D), ("pid", D), ("mrn", D), ("rc", D),
                      ("phone", D), ("hr", Role.INSENSITIVE)], quasi=["zip", "age"], sensitive=["dx"], target="died")
    release = SimpleNamespace(schema=schema, steps=[{"step": "Pseudonymizer", "columns": ["mrn"]},
                                                    {"step": "RandomCode", "columns": ["rc"]}])
    patients = pd.DataFrame({
        "zip": ["021**", "021**", "030**"], "city": ["boston", "salem", "boston"], "name": ["***"] * 3,
        "pid": ["a3f9c2e1b7d04e55", "0b1c2d3e4f5a6b7c", "9e8d7c6b5a4f3e2d"], "mrn": ["x1", "x2", "x3"], "rc": ["r1", "r2", "r3"],
        "hr": [80, 90, 100],
    })
    assert risk_quasi(release, patients, None) == ["zip", "city"]
    assert risk_quasi(release, patients, ["hr"]) == ["hr"]
    with pytest.raises(SchemaError, match="'quasi'.*'age'"):
        risk_quasi(release, patients, ["age"])
    assert _sensitive_columns(release, AttackConfig()) == ["dx", "died"]
    assert _sensitive_columns(release, AttackConfig(sensitive=["died"])) == ["died"]
    assert _sensitive_columns(release, AttackConfig(target_is_sensitive=False)) == ["dx"]


def test_attack_settings_at_their_bounds():
    """Shares in [0, 1] (0 and 1 accepted, 1.01 refused); extra_people ≥ 0 (0 accepted, −1 refused);
    population_size ≥ 1 (1 accepted, 0 refused); admission_years [first, last] with first ≤ last
    ([2005, 2005] accepted, [2006, 2005] and three years refused); linkage_passes one of the modes.
    Kills leakage.py:108-121 (Lt/LtE/Gt swaps, 0->1, 1->2, 2->3, And->Or, Or->And)."""
    assert AttackConfig(coverage=0.0, noise=1.0).noise == 1.0
    with pytest.raises(ConfigError, match="'risk_threshold' must be in"):
        AttackConfig(risk_threshold=1.01)
    assert AttackConfig(extra_people=0).extra_people == 0
    with pytest.raises(ConfigError, match="'extra_people' must be >= 0"):
        AttackConfig(extra_people=-1)
    assert AttackConfig(population_size=1).population_size == 1
    with pytest.raises(ConfigError, match="'population_size' must be >= 1"):
        AttackConfig(population_size=0)
    assert AttackConfig(admission_years=[2005, 2005]).admission_years == (2005, 2005)
    for bad in ([2006, 2005], [2001, 2003, 2005]):
        with pytest.raises(ConfigError, match="admission_years"):
            AttackConfig(admission_years=bad)
    assert AttackConfig(linkage_passes="single").linkage_passes == "single"
    with pytest.raises(ConfigError, match="linkage_passes"):
        AttackConfig(linkage_passes="double")


def test_settings_from_a_mapping_and_back():
    """from_mapping drops _target_, turns list entries into strings, bounds into ints, years into a
    tuple; to_dict counts guessed keys instead of echoing them and gives the years as a list.
    Kills leakage.py:125-146."""
    cfg = AttackConfig.from_mapping({"_target_": "x", "quasi": [1, "zip"], "reversal_bounds": {"mrn": ["1", 9.0]},
                                     "admission_years": [2003, 2004], "reversal_guessed_keys": ["k1", "k2"]})
    assert cfg.quasi == ["1", "zip"] and cfg.reversal_bounds == {"mrn": [1, 9]}
    assert cfg.admission_years == (2003, 2004)
    d = cfg.to_dict()
    assert d["reversal_guessed_keys"] == 2 and d["admission_years"] == [2003, 2004]
    assert AttackConfig.from_mapping(None) == AttackConfig()
    with pytest.raises(ConfigError, match=r"unknown attack setting\(s\) \['zz'\]"):
        AttackConfig.from_mapping({"zz": 1, "seed": 1})


def test_gdpr_status_by_hand():
    """A release with a keyed pseudonym column (mrn) and a random code (rc) and nothing recovered is
    "pseudonymised personal data", its note naming "mrn, rc"; without code columns it is "not shown
    to be anonymous" ("none here"); any recovered pair or correct linkage claim makes it identifiable.
    Kills leakage.py:357 BitOr->BitAnd, :359 (Or chain), :370 Or->And."""
    from privhealth.anon.attacks.leakage import _gdpr

    coded = SimpleNamespace(steps=[{"step": "Pseudonymizer", "columns": ["mrn"]}, {"step": "RandomCode", "columns": ["rc"]}])
    plain = SimpleNamespace(steps=[])
    rev = SimpleNamespace(columns=[])
    nothing = Leakage(4, 4, 0, 0, {}, {}, 0, [])
    g = _gdpr(coded, rev, None, nothing)
    assert g["status"] == "pseudonymised personal data" and "(mrn, rc)" in g["note"]
    g = _gdpr(plain, rev, None, nothing)
    assert g["status"] == "not shown to be anonymous" and "(none here)" in g["note"]
    assert _gdpr(plain, rev, None, _leak())["status"].startswith("personal data: identifiable")
    assert _gdpr(plain, rev, SimpleNamespace(correct=1), nothing)["status"].startswith("personal data: identifiable")
    assert _gdpr(plain, SimpleNamespace(columns=[SimpleNamespace(n_correct=2)]), None, nothing)["status"].startswith(
        "personal data: identifiable")
