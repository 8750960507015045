"""An auxiliary "voter list" for linkage attacks: names and quasi-identifiers of a population.

Sweeney's classic attack joins a released health table to a public register on ZIP, date of
birth and sex. ``simulate_population`` builds such a register around a simulated (or
identity-attached) cohort: a ``coverage`` share of the patients, plus ``extra_people``
non-patients from the same identity generator, with each field corrupted with probability
``noise`` (name typos, people who moved, missing or mistyped dates of birth, missing sex).
The hidden column ``true_entity_id`` links each row to its patient (missing for non-patients)
so an attack can be scored; drop it before handing the table to the attacker.
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
    return first[[entity_col, *_NEEDED]].reset_index(drop=True)


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
) -> pd.DataFrame:
    """A register of ``coverage`` of the patients plus ``extra_people`` others, fields noisy.

    ``identities`` is a cohort with identity columns (bloc-level or one row per entity).
    Returns ``person_id``, name, gender (0 = male, 1 = female), date_of_birth, zip, city,
    address and the hidden ground truth ``true_entity_id`` (nullable integer), rows shuffled.
    """
    if not 0.0 <= coverage <= 1.0:
        raise ConfigError(f"simulate_population: coverage must be in [0, 1], got {coverage}")
    if not 0.0 <= noise <= 1.0:
        raise ConfigError(f"simulate_population: noise must be in [0, 1], got {noise}")
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
    table = pd.concat([members[cols], others.reindex(columns=cols)], ignore_index=True)
    table["gender"] = table["gender"].astype("Int64")
    table[GROUND_TRUTH] = table[GROUND_TRUTH].astype("Int64")
    return _corrupt(table, noise, rng)


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
