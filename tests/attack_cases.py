"""Shared, cached cohort and releases for the attack tests (built once per test session).

Releases: raw (NoAnonymization); the paper's rule set as in conf/anon/paper_rules.yaml (HMAC
pseudonyms for icustayid and mrn, masks, age bands with 90+, ZIP3, year of birth, admission
month; city and state left in); the same without city and state; a k=10 release (generalize
hard, suppress classes of fewer than 10 patients); the Safe Harbor preset.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from privhealth.anon.release import NoAnonymization, Release, RuleBasedAnonymizer
from privhealth.anon.transforms import (
    DropColumns,
    Generalizer,
    Masker,
    OutlierSuppressor,
    Pseudonymizer,
    SmallClassSuppressor,
)
from privhealth.data.schema import Dataset
from privhealth.data.simulator import simulate_cohort

KEY = "attack-tests-key-0123456789abcdef"
N_PATIENTS = 1000
REPO = Path(__file__).resolve().parents[1]
QUASI = ["gender", "age", "zip", "date_of_birth", "admission_date"]
# fast defaults for tests: the MRN space (9e7) is sampled, not enumerated
FAST = {"reversal_max_candidates": 100_000, "seed": 3}


@contextmanager
def pseudonym_key(value: str = KEY) -> Iterator[None]:
    """The pseudonymization key in the environment for the duration (restored afterwards)."""
    old = os.environ.get("PRIVHEALTH_PSEUDONYM_KEY")
    os.environ["PRIVHEALTH_PSEUDONYM_KEY"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
        else:
            os.environ["PRIVHEALTH_PSEUDONYM_KEY"] = old


@functools.lru_cache(maxsize=1)
def cohort() -> Dataset:
    return simulate_cohort(N_PATIENTS, seed=11)


def paper_rules(drop_city_state: bool = False) -> RuleBasedAnonymizer:
    steps = [
        Pseudonymizer(["icustayid", "mrn"]),
        Masker({
            "name": {"rule": "full", "char": "X", "width": 4},
            "ssn": {"rule": "ssn"},
            "phone": {"rule": "phone"},
            "email": {"rule": "email"},
            "address": {"rule": "full", "char": "X", "width": 4},
        }),
        Generalizer(
            {
                "age": {"type": "intervals", "levels": [10], "top_code": 90},
                "zip": {"type": "prefix", "keep": [3], "mask_char": "*"},
                "date_of_birth": {"type": "dates", "levels": ["year"]},
                "admission_date": {"type": "dates", "levels": ["month", "year"]},
            },
            {"age": 1, "zip": 1, "date_of_birth": 1, "admission_date": 1},
        ),
        OutlierSuppressor(["Weight_kg"], quantiles=(0.005, 0.995), action="cell"),
    ]
    if drop_city_state:
        steps.insert(2, DropColumns(["city", "state"]))
    return RuleBasedAnonymizer(steps, name="paper_rules" + ("_no_city" if drop_city_state else ""))


def k10_rules() -> RuleBasedAnonymizer:
    return RuleBasedAnonymizer(
        [
            Pseudonymizer(["icustayid"]),
            DropColumns(["name", "ssn", "mrn", "address", "city", "state", "phone", "email", "charttime"]),
            Generalizer(
                {
                    "age": {"type": "intervals", "levels": [[0, 50, 70, 90]], "top_code": 90},
                    "zip": {"type": "prefix", "keep": [3, 1]},
                    "date_of_birth": {"type": "dates", "levels": ["decade"]},
                    "admission_date": {"type": "dates", "levels": ["year"]},
                },
                {"age": 1, "zip": 2, "date_of_birth": 1, "admission_date": 1},
            ),
            SmallClassSuppressor(QUASI, 10, entity="icustayid"),
        ],
        name="k10",
    )


@functools.lru_cache(maxsize=8)
def release(kind: str) -> Release:
    """raw | paper | paper_no_city | k10 | safe_harbor, on the shared cohort."""
    ds = cohort()
    with pseudonym_key():
        if kind == "raw":
            return NoAnonymization().anonymize(ds)
        if kind == "paper":
            return paper_rules().anonymize(ds)
        if kind == "paper_no_city":
            return paper_rules(drop_city_state=True).anonymize(ds)
        if kind == "k10":
            return k10_rules().anonymize(ds)
        if kind == "safe_harbor":
            with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
                cfg = compose("config", overrides=["anon=safe_harbor"])
            return instantiate(cfg.anon, _convert_="all").anonymize(ds)
    raise ValueError(kind)


@functools.lru_cache(maxsize=8)
def report(kind: str):
    """The risk report of a release with the fast test settings."""
    from privhealth.anon.attacks import assess_release

    return assess_release(cohort(), release(kind), config=FAST)
