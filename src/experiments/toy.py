"""The paper's toy example (Figs. 4-6) reproduced with the library, beside the paper's printout.

Fig. 4 anonymizes the four-patient table with the paper's rules; Fig. 5 one-hot encodes a
table for the models; Fig. 6 measures k, l and t. The paper's printouts are kept here as
data (``PAPER_FIG5_MATRIX``, ``PAPER_FIG6``) so reports and tests compare with them.

Two discrepancies in the paper, stated wherever these figures are reported:

* Fig. 5 prints a 6 × 6 matrix (train (4, 6), test (2, 6)) although Fig. 4 has four
  patients. Its columns are one-hot Age band × 3 followed by Diagnosis × 3 (categories in
  sorted order, as ``pandas.get_dummies`` and scikit-learn's ``OneHotEncoder`` order them;
  ZIP, constant ``123XX`` after generalization, is not among them). Each row then decodes
  to exactly one (Age band, Diagnosis): the implied table is determinate. Rows 2-4 are P2-P4
  of Fig. 4, row 1 is (0-30, Diabetes) where P1 is (0-30, Flu), and rows 5-6 repeat rows 1
  and 3: Fig. 5 was not computed from the Fig. 4 table.
* Fig. 6 groups by (Age, ZIP) for k, but by ZIP alone for l (one class holding the whole
  table) and computes KL over the whole table (0 by construction). Per (Age, ZIP) class,
  as the definitions (Eq. 12-14) ask, l = 1 and KL reaches log 4 > 0.2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from privhealth.anon.criteria import DistinctL, KAnonymity, TCloseness
from privhealth.anon.privacy import PrivacyReport, measure
from privhealth.anon.transforms import Generalizer, Masker, Pseudonymizer, RuleSet
from privhealth.data.loaders import toy_table
from privhealth.errors import SchemaError

QUASI = ("Age", "ZIP")
SENSITIVE = "Diagnosis"
# The paper prints no k threshold; its classes (1, 2, 1) fail every k >= 2, so k=2 is used.
THRESHOLDS = {"k": 2, "l": 2, "t": 0.2}

PAPER_FIG4_ANONYMIZED = pd.DataFrame(
    {
        "PatientID": ["P1", "P2", "P3", "P4"],
        "Name": ["XXXX"] * 4,
        "Age": ["0-30", "31-50", "31-50", "51-100"],
        "ZIP": ["123XX"] * 4,
        "Diagnosis": ["Flu", "Diabetes", "Flu", "Hypertension"],
    }
)
PAPER_FIG5_MATRIX = np.array(
    [
        [1, 0, 0, 1, 0, 0],
        [0, 1, 0, 1, 0, 0],
        [0, 1, 0, 0, 1, 0],
        [0, 0, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0],
        [0, 1, 0, 0, 1, 0],
    ],
    dtype=float,
)
PAPER_FIG5_SHAPES = {"train": (4, 6), "test": (2, 6)}
PAPER_FIG6 = {
    "group_counts": {("0-30", "123XX"): 1, ("31-50", "123XX"): 2, ("51-100", "123XX"): 1},
    "k_satisfied": False,
    "l_per_zip": {"123XX": 3},
    "l_satisfied": True,
    "kl": 0.0,
    "t_satisfied": True,
}


def paper_rules() -> RuleSet:
    """The Fig. 4 rules: sequential pseudonyms P1..P4 (unkeyed: printout only), names masked
    XXXX, age bands 0-30/31-50/51-100, ZIP to 3 digits (123XX)."""
    return RuleSet(
        [
            Pseudonymizer(["PatientID"], scheme="sequential", allow_unkeyed=True),
            Masker({"Name": {"rule": "full", "char": "X", "width": 4}}),
            Generalizer(
                {
                    "Age": {"type": "intervals", "levels": [[0, 31, 51, 101]]},
                    "ZIP": {"type": "prefix", "keep": [3], "mask_char": "X"},
                }
            ),
        ]
    )


def fig4_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 4: the original toy table and its anonymized release (as strings, as printed)."""
    original = toy_table().frame
    anonymized = paper_rules().fit_transform(original)
    return original.reset_index(drop=True), anonymized.astype(str).reset_index(drop=True)


def fig4_printout() -> str:
    """Fig. 4 as pandas prints it (the paper's format)."""
    original, anonymized = fig4_tables()
    return f"Original Dataset:\n{original.to_string()}\n\nAnonymized Dataset:\n{anonymized.to_string()}\n"


# ---------------------------------------------------------------------- Fig. 5
def one_hot(table: pd.DataFrame, columns: tuple[str, ...] = ("Age", "ZIP", "Diagnosis")) -> pd.DataFrame:
    """One-hot columns of ``columns`` (categories sorted, as ``pandas.get_dummies``), constant
    columns dropped: a column equal on every row (ZIP 123XX) carries no information."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SchemaError(f"one-hot encoding: column(s) {missing} not in the table")
    dummies = pd.get_dummies(table[list(columns)].astype(str), dtype=float)
    constant = dummies.columns[dummies.nunique(dropna=False) <= 1]
    return dummies.drop(columns=constant)


def implied_fig5_table(
    matrix: np.ndarray = PAPER_FIG5_MATRIX,
    ages: tuple[str, ...] = ("0-30", "31-50", "51-100"),
    diagnoses: tuple[str, ...] = ("Diabetes", "Flu", "Hypertension"),
    zip_code: str = "123XX",
) -> pd.DataFrame:
    """The (Age, ZIP, Diagnosis) table the Fig. 5 matrix encodes: each row must hold exactly
    one 1 among the age columns and one among the diagnosis columns."""
    m = np.asarray(matrix)
    na = len(ages)
    if m.ndim != 2 or m.shape[1] != na + len(diagnoses):
        raise SchemaError(f"Fig. 5 matrix of shape {m.shape}: expected {na + len(diagnoses)} columns")
    blocks = (m[:, :na], m[:, na:])
    bad = [i for i in range(len(m)) if any(b[i].sum() != 1 for b in blocks)]
    if bad:
        raise SchemaError(f"Fig. 5 rows {bad} are not one-hot in each block: the table is not determinate")
    return pd.DataFrame(
        {
            "Age": np.asarray(ages)[blocks[0].argmax(axis=1)],
            "ZIP": zip_code,
            "Diagnosis": np.asarray(diagnoses)[blocks[1].argmax(axis=1)],
        }
    )


@dataclass(frozen=True)
class Fig5:
    """A one-hot feature matrix with its train/test split (shapes as Fig. 5 prints them)."""

    table: pd.DataFrame
    features: pd.DataFrame
    train_shape: tuple[int, int]
    test_shape: tuple[int, int]

    def printout(self) -> str:
        return (
            f"Preprocessed Feature Matrix (One-Hot Encoded):\n{self.features.to_numpy()}\n\n"
            f"Training Features Shape: {self.train_shape}\nTesting Features Shape: {self.test_shape}\n"
        )


def fig5(table: pd.DataFrame | None = None, test_size: float = 1 / 3, seed: int = 42) -> Fig5:
    """Fig. 5 on ``table`` (default: the table the paper's matrix implies), split train/test."""
    table = implied_fig5_table() if table is None else table.reset_index(drop=True)
    x = one_hot(table)
    train, test = train_test_split(x, test_size=test_size, random_state=seed)
    return Fig5(table, x, train.shape, test.shape)


def fig5_row_comparison() -> pd.DataFrame:
    """Each row of the paper's Fig. 5 beside the Fig. 4 patient at the same position."""
    implied = implied_fig5_table()
    _, anon = fig4_tables()
    rows = []
    for i, r in implied.iterrows():
        p = anon.iloc[i] if i < len(anon) else None
        same = p is not None and (p["Age"], p["Diagnosis"]) == (r["Age"], r["Diagnosis"])
        rows.append(
            {
                "row": i + 1,
                "Fig. 5 (Age, Diagnosis)": f"{r['Age']}, {r['Diagnosis']}",
                "Fig. 4 patient": "—" if p is None else f"{p['PatientID']}: {p['Age']}, {p['Diagnosis']}",
                "agrees": "yes" if same else ("no patient" if p is None else "no"),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- Fig. 6
@dataclass(frozen=True)
class ToyPrivacy:
    """Fig. 6 two ways: as the paper computes it, and per (Age, ZIP) class."""

    by_class: PrivacyReport  # classes = (Age, ZIP): what k, l and t are defined on
    by_zip: PrivacyReport  # classes = ZIP alone: how the paper's printout gets l and KL
    thresholds: dict[str, float]

    @property
    def group_counts(self) -> pd.Series:
        c = self.by_class.classes
        return c.set_index(list(QUASI))["size"].sort_index()

    def paper_verdicts(self) -> dict[str, object]:
        """k per (Age, ZIP); l per ZIP; KL over the whole table (= per ZIP: one class)."""
        z = self.by_zip
        return {
            "group_counts": {k: int(v) for k, v in self.group_counts.items()},
            "k_satisfied": self.by_class.k >= self.thresholds["k"],
            "l_per_zip": dict(zip(z.classes["ZIP"], z.classes[f"{SENSITIVE}.l_distinct"].astype(int), strict=True)),
            "l_satisfied": z.l_distinct >= self.thresholds["l"],
            "kl": float(z.t_kl),
            "t_satisfied": z.t_kl <= self.thresholds["t"] + 1e-12,
        }

    def class_table(self) -> pd.DataFrame:
        """Per (Age, ZIP) class: size, distinct l, KL (nats) and equal-distance EMD, with verdicts."""
        c = self.by_class.classes
        s = SENSITIVE
        out = c[[*QUASI, "size"]].copy()
        out["l_distinct"] = c[f"{s}.l_distinct"].astype(int)
        out["t_kl"] = c[f"{s}.t_kl"]
        out["t_emd"] = c[f"{s}.t_emd"]
        th = self.thresholds
        out[f"k>={th['k']}"] = out["size"] >= th["k"]
        out[f"l>={th['l']}"] = out["l_distinct"] >= th["l"]
        out[f"KL<={th['t']}"] = out["t_kl"] <= th["t"] + 1e-12
        return out

    def printout(self) -> str:
        """The paper's Fig. 6 printout, recomputed (same grouping as the paper)."""
        v = self.paper_verdicts()
        counts = self.group_counts.rename(None)
        l_zip = self.by_zip.classes.set_index("ZIP")[f"{SENSITIVE}.l_distinct"].astype("int64")
        l_zip.name = SENSITIVE
        return (
            f"Group Counts:\n{counts.to_string()}\ndtype: int64\n"
            f"k-Anonymity satisfied: {v['k_satisfied']}\n\n"
            f"l-Diversity per group:\n{l_zip.to_string()}\nName: {SENSITIVE}, dtype: int64\n"
            f"l-Diversity satisfied: {v['l_satisfied']}\n\n"
            f"KL Divergence (t-Closeness): {v['kl']}\n"
            f"t-Closeness satisfied (threshold={self.thresholds['t']}): {v['t_satisfied']}\n"
        )

    def honest_printout(self) -> str:
        """The same checks with l and KL per (Age, ZIP) class, as Eq. 12-14 define them."""
        th = self.thresholds
        r = self.by_class
        checks = r.check([KAnonymity(int(th["k"])), DistinctL(th["l"]), TCloseness(th["t"], "kl")])
        lines = [f"{label}: {'satisfied' if ok else 'NOT satisfied'}" for label, ok in checks.items()]
        return (
            f"Per (Age, ZIP) class:\n{self.class_table().to_string(index=False)}\n\n"
            f"k = {r.k}, l = {r.l_distinct}, max KL = {r.t_kl:.4f} nats (log 4 = {math.log(4):.4f})\n"
            + "\n".join(lines)
            + "\n"
        )


def fig6(anonymized: pd.DataFrame | None = None, thresholds: dict[str, float] | None = None) -> ToyPrivacy:
    """Fig. 6 on the Fig. 4 release: measured per (Age, ZIP) class and per ZIP alone."""
    anon = fig4_tables()[1] if anonymized is None else anonymized
    th = {**THRESHOLDS, **(thresholds or {})}
    return ToyPrivacy(
        by_class=measure(anon, list(QUASI), [SENSITIVE], distance="equal"),
        by_zip=measure(anon, ["ZIP"], [SENSITIVE], distance="equal"),
        thresholds=th,
    )
