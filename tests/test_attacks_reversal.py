"""Pseudonym reversal: an unkeyed hash falls to a dictionary of the ID space; HMAC does not."""

from __future__ import annotations

import pytest
from attack_cases import KEY, cohort, pseudonym_key, report

from privhealth.anon.attacks.common import align, pseudonym_shape
from privhealth.anon.attacks.reversal import reversal_attack
from privhealth.anon.release import RuleBasedAnonymizer
from privhealth.anon.transforms import Pseudonymizer
from privhealth.data.schema import Dataset

FIELDS = ["icustayid", "mrn"]


def _sequential_mrns(ds: Dataset) -> Dataset:
    """The cohort with MRNs issued sequentially (as many hospitals do): a small, dense ID space."""
    frame = ds.frame.copy()
    rank = frame["icustayid"].rank(method="dense").astype(int)
    frame["mrn"] = (30_000_000 + 7 * rank).astype(str)
    return Dataset(frame, ds.schema, ds.name, metadata=ds.metadata)


def _attack(ds, scheme, **kw):
    with pseudonym_key():
        step = Pseudonymizer(FIELDS, scheme=scheme, allow_unkeyed=scheme != "hmac-sha256")
        rel = RuleBasedAnonymizer([step]).anonymize(ds)
    return reversal_attack(ds, rel, align(ds, rel), FIELDS, **kw)


@pytest.fixture(scope="module")
def seq_cohort():
    return _sequential_mrns(cohort())


def test_unkeyed_sha256_is_reversed_completely(seq_cohort):
    res = _attack(seq_cohort, "sha256")
    n = seq_cohort.n_entities
    by = {c.column: c for c in res.columns}
    for col in FIELDS:
        assert by[col].complete
        assert by[col].n_correct == by[col].n_pseudonyms == n, col
        assert by[col].matched_scheme == "sha256"
    assert len(res.recovered) == 2 * n


def test_hmac_is_not_reversed_without_the_key(seq_cohort):
    res = _attack(seq_cohort, "hmac-sha256")
    assert {c.column for c in res.columns} == set(FIELDS)
    assert all(c.n_reversed == 0 and c.n_correct == 0 for c in res.columns)
    assert res.recovered.empty


def test_a_weak_key_in_the_guess_list_falls(seq_cohort):
    res = _attack(seq_cohort, "hmac-sha256", guessed_keys=["secret", KEY])
    assert all(c.n_correct == c.n_pseudonyms for c in res.columns)
    assert res.columns[0].matched_scheme == "hmac-sha256 with guessed key #2"


def test_budget_below_the_space_samples_and_extrapolates(seq_cohort):
    res = _attack(seq_cohort, "sha256", max_candidates=3_000)
    col = next(c for c in res.columns if c.column == "mrn")
    assert not col.complete and col.enumerated == 3_000
    assert 0 < col.n_correct < col.n_pseudonyms
    assert col.estimated_full_rate == pytest.approx(1.0, abs=0.35)


def test_random_eight_digit_mrns_exceed_the_default_budget_and_are_reported_as_such():
    col = next(c for c in report("paper").reversal.columns if c.column == "mrn")
    assert not col.complete and col.space_size > 10**7 and col.n_correct == 0


def test_decimal_ids_are_not_mistaken_for_digests():
    ds = cohort()
    assert pseudonym_shape(ds.frame["mrn"]) == []
    with pseudonym_key():
        rel = RuleBasedAnonymizer([Pseudonymizer(["mrn"])]).anonymize(ds)
    assert pseudonym_shape(rel.frame["mrn"]) == [("P", 16)]
