"""The attacker's auxiliary data for linkage attacks: a voter list and a data-broker file.

Sweeney's classic attack joins a released health table to a public register on ZIP, date of
birth and sex. ``simulate_population`` builds such a register around a simulated (or
identity-attached) cohort from two sources, merged per person as people-search brokers do:

- a **voter list** (name, sex, date of birth, ZIP, city, street address): a ``coverage``
  share of the patients plus ``extra_people`` non-patients, each field corrupted with
  probability ``noise`` (name typos, people who moved, missing or mistyped dates of birth,
  missing sex);
- a **data-broker / credit-header file** (name, SSN, phone, e-mail, date of birth, ZIP,
  city, address; no sex): a ``broker_coverage`` share of the same people (patients and
  non-patients alike; ``0`` leaves it out), its own fields corrupted with probability
  ``broker_noise`` (a mistyped SSN digit, a changed phone number, another e-mail domain).

A person in both sources is one row; fields both hold come from the voter list. The hidden
column ``true_entity_id`` links each row to its patient (missing for non-patients) so an
attack can be scored; drop it before handing the table to the attacker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privhealth.data import identifiers as ids
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError, SchemaError

GROUND_TRUTH = "true_entity_id"
POPULATION_COLUMNS = ("person_id", "name", "gender", "date_of_birth", "zip", "city", "address")
_NEEDED = ("name", "gender", "date_of_birth", "zip", "city", "address")
# Fields only the data-broker file holds, and the voter-list fields it lacks.
BROKER_COLUMNS = ("ssn", "phone", "email")
VOTER_ONLY = ("gender",)


def identity_table(data: Dataset | pd.DataFrame, entity_col: str | None = None) -> pd.DataFrame:
    """One row per entity with its identity columns (first row of each entity)."""
    frame = data.frame if isinstance(data, Dataset) else data
    if entity_col is None:
        entity_col = data.schema.entity if isinstance(data, Dataset) else None
    if entity_col is None or entity_col not in frame.columns:
        raise SchemaError(f"identity_table: entity column '{entity_col}' is not in the table")
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"identity_table: missing identity column(s) {', '.join(missing)} "
            "(simulate with identifiers=True or use attach_identifiers)"
        )
    first = frame.drop_duplicates(entity_col, keep="first")
    extra = [c for c in BROKER_COLUMNS if c in frame.columns]
    return first[[entity_col, *_NEEDED, *extra]].reset_index(drop=True)


def _typos(names: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random edit per name (delete, duplicate, swap or replace a letter), vectorised."""
    n = len(names)
    if n == 0:
        return names
    length = np.strings.str_len(names)
    p = rng.integers(1, np.maximum(length - 1, 2))  # keep the first letter, as typists do
    p = np.minimum(p, np.maximum(length - 2, 0))
    head, tail = np.strings.slice(names, 0, p), np.strings.slice(names, p + 1, length)
    here = np.strings.slice(names, p, p + 1)
    nxt = np.strings.slice(names, p + 1, p + 2)
    after = np.strings.slice(names, p + 2, length)
    letter = np.array(list("abcdefghijklmnopqrstuvwxyz"))[rng.integers(0, 26, n)]
    op = rng.integers(0, 4, n)
    out = np.where(op == 0, np.strings.add(head, tail), names)
    out = np.where(op == 1, np.strings.add(np.strings.add(head, here), np.strings.add(here, tail)), out)
    out = np.where(op == 2, np.strings.add(np.strings.add(head, nxt), np.strings.add(here, after)), out)
    return np.where(op == 3, np.strings.add(np.strings.add(head, letter), tail), out)


def simulate_population(
    identities: pd.DataFrame | Dataset,
    coverage: float,
    noise: float,
    extra_people: int,
    seed: int,
    entity_col: str | None = None,
    broker_coverage: float = 0.0,
    broker_noise: float | None = None,
) -> pd.DataFrame:
    """A register of ``coverage`` of the patients plus ``extra_people`` others, fields noisy.

    ``identities`` is a cohort with identity columns (bloc-level or one row per entity).
    Returns ``person_id``, name, gender (0 = male, 1 = female), date_of_birth, zip, city,
    address and the hidden ground truth ``true_entity_id`` (nullable integer), rows shuffled;
    with ``broker_coverage`` > 0 also ssn, phone and email (the broker file's people, see the
    module docstring). ``broker_coverage=0`` gives the voter list alone, draw for draw.
    """
    broker_noise = noise if broker_noise is None else broker_noise
    for name, v in (("coverage", coverage), ("noise", noise), ("broker_coverage", broker_coverage),
                    ("broker_noise", broker_noise)):
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"simulate_population: {name} must be in [0, 1], got {v}")
    if extra_people < 0:
        raise ConfigError(f"simulate_population: extra_people must be >= 0, got {extra_people}")
    if entity_col is None:
        entity_col = identities.schema.entity if isinstance(identities, Dataset) else "icustayid"
    people = identity_table(identities, entity_col)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(people), size=round(coverage * len(people)), replace=False)
    members = people.iloc[np.sort(picked)]
    gender = (rng.random(extra_people) >= 0.56).astype(np.int64)  # 56% male, as the cohort
    others = ids.generate_identities(np.full(extra_people, np.nan), gender, rng).assign(gender=gender)
    members = members.assign(**{GROUND_TRUTH: members[entity_col]})
    cols = [*_NEEDED, GROUND_TRUTH]
    if broker_coverage > 0:
        missing = [c for c in BROKER_COLUMNS if c not in people.columns]
        if missing:
            raise SchemaError(f"simulate_population: the broker file needs identity column(s) {missing}")
        cols += list(BROKER_COLUMNS)
    table = pd.concat([members[cols], others.reindex(columns=cols)], ignore_index=True)
    table["gender"] = table["gender"].astype("Int64")
    table[GROUND_TRUTH] = table[GROUND_TRUTH].astype("Int64")
    if broker_coverage <= 0:
        return _corrupt(table, noise, rng)
    brng = np.random.default_rng([int(seed), 0xB40CE4])  # its own stream: the voter draws stay as they are
    on_voters = np.zeros(len(people), bool)
    on_voters[picked] = True
    in_broker = brng.random(len(people)) < broker_coverage
    only = people[in_broker & ~on_voters].assign(**{GROUND_TRUTH: lambda d: d[entity_col]})
    only = only.assign(**{c: pd.NA for c in VOTER_ONLY})  # a credit header holds no sex
    listed = np.concatenate([in_broker[np.sort(picked)], brng.random(extra_people) < broker_coverage])
    table.loc[~listed, list(BROKER_COLUMNS)] = None  # voters the broker file does not hold
    table = pd.concat([table, only[cols]], ignore_index=True)
    table["gender"] = table["gender"].astype("Int64")
    table[GROUND_TRUTH] = table[GROUND_TRUTH].astype("Int64")
    table = _corrupt_broker(table, broker_noise, brng)
    return _corrupt(table, noise, rng)


def _corrupt_broker(table: pd.DataFrame, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    """Broker-file errors with probability ``noise`` per field: an SSN digit, a new phone, another domain."""
    n = len(table)
    ssn = table["ssn"].to_numpy(dtype=object)
    hit = (rng.random(n) < noise) & pd.notna(ssn)
    if hit.any():
        text = ssn[hit].astype(str)
        pos = rng.integers(0, 9, hit.sum())
        pos = pos + (pos >= 3) + (pos >= 5)  # skip the dashes of ddd-dd-dddd
        digit = rng.integers(0, 10, hit.sum()).astype(str)
        ssn[hit] = np.strings.add(np.strings.add(np.strings.slice(text, 0, pos), digit),
                                  np.strings.slice(text, pos + 1, 11))
    phone = table["phone"].to_numpy(dtype=object)
    hit = (rng.random(n) < noise) & pd.notna(phone)
    if hit.any():  # a new line, in the area of the person's ZIP
        phone[hit] = ids._phones(table["zip"].to_numpy(dtype=str)[hit], rng)  # the generator's own drawers
    email = table["email"].to_numpy(dtype=object)
    hit = (rng.random(n) < noise) & pd.notna(email)
    if hit.any():
        local = np.strings.partition(email[hit].astype(str), "@")[0]
        email[hit] = np.strings.add(np.strings.add(local, "@"), ids._pick("domain", int(hit.sum()), rng))
    return table.assign(ssn=ssn, phone=phone, email=email)


def _corrupt(table: pd.DataFrame, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    """Corrupt each field independently with probability ``noise``; shuffle; number the rows."""
    n = len(table)
    hit = {f: rng.random(n) < noise for f in ("name", "date_of_birth", "gender", "zip")}
    names = table["name"].to_numpy(dtype=str)
    table["name"] = np.where(hit["name"], _typos(names, rng), names)
    dob = table["date_of_birth"].to_numpy(dtype="datetime64[s]").copy()
    wrong = hit["date_of_birth"] & (rng.random(n) < 0.5)  # half mistyped, half missing
    offset_days = np.where(rng.random(n) < 0.5, rng.integers(1, 31, n), 365)
    sign = np.where(rng.random(n) < 0.5, -1, 1)
    dob[wrong] += (sign * offset_days)[wrong].astype("timedelta64[D]")
    dob[hit["date_of_birth"] & ~wrong] = np.datetime64("NaT")
    table["date_of_birth"] = pd.to_datetime(dob)
    table.loc[hit["gender"], "gender"] = pd.NA
    moved = hit["zip"]  # moved house: new address, city and ZIP together
    if moved.any():
        new = ids.draw_residences(int(moved.sum()), rng)
        for c in ("address", "city", "zip"):
            table.loc[moved, c] = new[c].to_numpy()
    table = table.iloc[rng.permutation(n)].reset_index(drop=True)
    table.insert(0, "person_id", np.arange(1, n + 1))
    return table
