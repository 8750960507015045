"""Small random tables with hierarchies for the anonymization-engine tests (seeded, fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
