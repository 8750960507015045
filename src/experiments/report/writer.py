"""The report's output: table cells, the writer of CSV/Markdown/LaTeX tables and figures, sections."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from privhealth.experiments.csvsafe import safe_csv

NOT_MEASURED = "not measured"


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, booleans yes/no, missing values 'not measured'."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and math.isnan(v)):
        return NOT_MEASURED
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return f"{v:.{digits}f}"
    return str(v)


def counts(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Count columns (k, classes, patients: floats in MLflow) as nullable integers."""
    return df.astype({c: "Int64" for c in columns if c in df.columns})


def thr(v: float | None) -> str:
    return "?" if v is None else f"{v:g}"


def ci_text(lo: float, hi: float) -> str:
    return NOT_MEASURED if math.isnan(lo) or math.isnan(hi) else f"[{lo:.3f}, {hi:.3f}]"


# Unicode the tables use, as LaTeX commands: the .tex files then compile with any engine
# (pdflatex without inputenc/fontenc set-up included). Other characters are left as they are.
LATEX_UNICODE = {
    "—": "---", "–": "--", "−": "-", "─": "-", "…": r"\ldots{}", "’": "'", "“": "``", "”": "''",
    "≥": r"$\geq$", "≤": r"$\leq$", "≠": r"$\neq$", "≈": r"$\approx$", "±": r"$\pm$",
    "×": r"$\times$", "→": r"$\rightarrow$", "λ": r"$\lambda$", "τ": r"$\tau$",
    "ε": r"$\varepsilon$", "δ": r"$\delta$", "Δ": r"$\Delta$", "·": r"$\cdot$", "°": r"$^{\circ}$", "µ": r"$\mu$",
}
_LATEX_TABLE = str.maketrans(LATEX_UNICODE)


def latex_ascii(tex: str) -> str:
    """``tex`` with the tables' common Unicode characters written as LaTeX commands."""
    return tex.translate(_LATEX_TABLE)


class Writer:
    """Writes tables (CSV, Markdown, LaTeX), texts and figures under ``out`` and remembers them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[Path] = []
        self.tables: dict[str, pd.DataFrame] = {}

    def table(self, df: pd.DataFrame, name: str, caption: str) -> str:
        """Write ``name``.csv/.md/.tex; return the Markdown (missing cells read 'not measured')."""
        shown = df.map(fmt)
        self.tables[name] = df
        safe_csv(df, self._path(f"{name}.csv"), index=False, na_rep=NOT_MEASURED)
        md = shown.to_markdown(index=False, disable_numparse=True) if len(shown) else f"({NOT_MEASURED}: empty table)"
        self._path(f"{name}.md").write_text(f"{caption}\n\n{md}\n")
        tex = shown.to_latex(index=False, escape=True, caption=caption, label=f"tab:{name}")
        self._path(f"{name}.tex").write_text(latex_ascii(tex))
        return md

    def text(self, name: str, text: str) -> Path:
        p = self._path(name)
        p.write_text(text)
        return p

    def figure(self, fig: Figure, name: str) -> str:
        fig.savefig(self._path(f"{name}.png"), dpi=120)
        return f"![{name}]({name}.png)"

    def _path(self, name: str) -> Path:
        p = self.out / name
        self.files.append(p)
        return p


@dataclass
class Section:
    """One part of the report: its Markdown and what it could not measure."""

    title: str
    body: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> None:
        self.body.extend(parts)

    def not_measured(self, what: str) -> None:
        self.missing.append(what)
        self.body.append(f"*{NOT_MEASURED}: {what}*")

    def markdown(self) -> str:
        return f"## {self.title}\n\n" + "\n\n".join(self.body) + "\n"

