"""Small random tables with hierarchies for the anonymization-engine tests (seeded, fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from privhealth.anon.criteria import (
    Criterion,
    DistinctL,
    EntropyL,
    KAnonymity,
    RecursiveCL,
    TCloseness,
)
from privhealth.anon.hierarchy import Hierarchy

ZIPS = np.array(["12345", "12346", "12355", "12399", "13000", "13001"], dtype=object)
DISEASES = ["flu", "bronchitis", "gastritis", "ulcer", "cancer"]
DISEASE_TREE = pd.DataFrame(
    [
        ["flu", "respiratory", "*"],
        ["bronchitis", "respiratory", "*"],
        ["gastritis", "stomach", "*"],
        ["ulcer", "stomach", "*"],
        ["cancer", "stomach", "*"],
    ]
)
QIS = ["age", "zip", "sex"]
ADULT_QI = ["age", "education", "marital-status", "native-country", "occupation", "race", "sex", "workclass"]
N_CRITERIA = 8


def disease_hierarchy() -> Hierarchy:
    return Hierarchy.from_frame("disease", DISEASE_TREE)


def random_table(seed: int, n: int | None = None) -> pd.DataFrame:
    """Rows with QIs age (0-19), zip (6 codes), sex and sensitive salary (1-6), disease."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40)) if n is None else n
    skew = rng.dirichlet(np.ones(len(DISEASES)) * 0.7)
    return pd.DataFrame(
        {
            "age": rng.integers(0, 20, n),
            "zip": rng.choice(ZIPS, n),
            "sex": rng.choice(np.array(["F", "M"], dtype=object), n),
            "salary": rng.integers(1, 7, n),
            "disease": rng.choice(np.array(DISEASES, dtype=object), n, p=skew),
        }
    )


def qi_hierarchies(df: pd.DataFrame) -> dict[str, Hierarchy]:
    """age: 5-wide, 10-wide, *; zip: 123**/1****; sex: flat."""
    return {
        "age": Hierarchy.intervals("age", df["age"], [5, 10]),
        "zip": Hierarchy.prefix("zip", df["zip"], keep=[3, 1]),
        "sex": Hierarchy.flat("sex", df["sex"]),
    }


def criteria_set(i: int, k: int, t: float) -> list[Criterion]:
    """A spread of models: monotone with suppression (k, distinct-l) and not (entropy, recursive, t)."""
    hd = disease_hierarchy()
    return [
        [KAnonymity(k)],
        [KAnonymity(k), DistinctL(2, "disease")],
        [KAnonymity(k), EntropyL(1.5, "disease")],
        [KAnonymity(k), RecursiveCL(3, 2, "disease")],
        [KAnonymity(k), TCloseness(t, "ordered", "salary")],
        [TCloseness(t, "hierarchical", "disease", hierarchy=hd), KAnonymity(2)],
        [TCloseness(t, "equal", "disease"), DistinctL(2, "salary")],
        [KAnonymity(k), TCloseness(2 * t, "kl", "disease")],
    ][i]


def adult(shared_data: Path) -> tuple[pd.DataFrame, dict[str, Hierarchy]]:
    """UCI Adult and ARX's hierarchies for its eight quasi-identifiers."""
    d = shared_data / "adult"
    df = pd.read_csv(d / "adult.csv", sep=";")
    hs = {q: Hierarchy.from_csv(d / f"adult_hierarchy_{q}.csv", q, numeric=q == "age") for q in ADULT_QI}
    return df, hs
