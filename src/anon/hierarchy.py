"""Generalization hierarchies (Eq. 3, v' = G(v)): one attribute's values and their labels at each level.

A hierarchy is materialised as a table over the attribute's *domain* (its distinct
original values): column 0 holds the values, column i their label at generalization
level i, the last column the single root (usually ``*``). This is the layout of ARX's
hierarchy CSVs, so those load directly; interval, prefix (ZIP) and date hierarchies are
built for the values present in the data by ``build_hierarchy``.

Every level must coarsen the one below it (a tree): two values grouped at level i stay
together at level i+1. The engine works on integer group codes (``codes(level)``) so
that generalizing a million rows is one array lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privhealth.data.intervals import ROOT, format_ranges, format_top
from privhealth.errors import ConfigError, HierarchyError

__all__ = ["ROOT", "Hierarchy", "build_hierarchy"]


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A materialised generalization hierarchy for one attribute.

    ``domain`` holds the original values (numbers for numeric attributes, strings
    otherwise) in their natural order; ``labels[i][j]`` is the label of ``domain[j]``
    at level ``i`` (``labels[0]`` is the values rendered as text).
    """

    attribute: str
    domain: np.ndarray
    labels: tuple[np.ndarray, ...]
    numeric: bool = False

    def __post_init__(self) -> None:
        n = len(self.domain)
        if n == 0:
            raise HierarchyError(f"hierarchy for '{self.attribute}' has an empty domain")
        if len(self.labels) < 1:
            raise HierarchyError(f"hierarchy for '{self.attribute}' has no levels")
        for i, lab in enumerate(self.labels):
            if len(lab) != n:
                raise HierarchyError(
                    f"hierarchy for '{self.attribute}': level {i} has {len(lab)} labels "
                    f"for {n} values"
                )
        if self.numeric:
            dom = self.domain.astype("float64")
            if len(np.unique(dom)) != n:
                raise HierarchyError(f"hierarchy for '{self.attribute}' lists a value twice")
            if np.any(np.diff(dom) <= 0):
                raise HierarchyError(
                    f"hierarchy for '{self.attribute}': numeric domain must be sorted"
                )
        else:
            dup = pd.Index(self.domain).duplicated()
            if dup.any():
                raise HierarchyError(
                    f"hierarchy for '{self.attribute}' lists value "
                    f"'{self.domain[np.flatnonzero(dup)[0]]}' more than once"
                )
        codes = [pd.factorize(lab, sort=False)[0] for lab in self.labels]
        for i in range(1, len(codes)):
            # tree check: each group at level i-1 must map to exactly one group at level i
            pairs = pd.DataFrame({"lo": codes[i - 1], "hi": codes[i]}).drop_duplicates()
            split = pairs["lo"].duplicated(keep=False)
            if split.any():
                lo = int(pairs.loc[split, "lo"].iloc[0])
                label = self.labels[i - 1][np.flatnonzero(codes[i - 1] == lo)[0]]
                raise HierarchyError(
                    f"hierarchy for '{self.attribute}' is not a tree: level-{i - 1} group "
                    f"'{label}' generalizes to more than one level-{i} label"
                )
        object.__setattr__(self, "_codes", tuple(c.astype(np.int64) for c in codes))
        if self.numeric:
            object.__setattr__(self, "_sorted", self.domain.astype("float64"))
        else:
            object.__setattr__(self, "_index", pd.Index(self.domain.astype(str)))

    # ------------------------------------------------------------------ shape
    @property
    def height(self) -> int:
        """Number of levels, counting level 0 (the original values)."""
        return len(self.labels)

    @property
    def max_level(self) -> int:
        return len(self.labels) - 1

    @property
    def size(self) -> int:
        return len(self.domain)

    def codes(self, level: int) -> np.ndarray:
        """Group id (0..n_groups-1) of each domain value at ``level``."""
        self._check_level(level)
        return self._codes[level]  # type: ignore[attr-defined]

    def n_groups(self, level: int) -> int:
        return int(self.codes(level).max()) + 1

    def group_labels(self, level: int) -> np.ndarray:
        """Label of each group id at ``level`` (index = group id)."""
        codes = self.codes(level)
        first = np.unique(codes, return_index=True)[1]
        return self.labels[level][first]

    def group_sizes(self, level: int) -> np.ndarray:
        """Number of domain values (leaves) under each group id at ``level``."""
        return np.bincount(self.codes(level))

    def group_ranges(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) of the numeric domain values under each group at ``level``."""
        if not self.numeric:
            raise HierarchyError(f"hierarchy for '{self.attribute}' is not numeric")
        codes = self.codes(level)
        dom = self._sorted  # type: ignore[attr-defined]
        n = codes.max() + 1
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        np.minimum.at(lo, codes, dom)
        np.maximum.at(hi, codes, dom)
        return lo, hi

    def _check_level(self, level: int) -> None:
        if not 0 <= int(level) <= self.max_level:
            raise HierarchyError(
                f"hierarchy for '{self.attribute}' has levels 0..{self.max_level}; "
                f"level {level} requested"
            )

    # ------------------------------------------------------------------ mapping
    def encode(self, values: pd.Series | np.ndarray | Sequence[Any]) -> np.ndarray:
        """Index into ``domain`` of each value; HierarchyError names the first value not covered."""
        s = pd.Series(values) if not isinstance(values, pd.Series) else values
        if s.isna().any():
            raise HierarchyError(
                f"column '{self.attribute}' has {int(s.isna().sum())} missing value(s); "
                f"the hierarchy has no level-0 value for missing (anon=optimal/mondrian: set "
                f"anon.missing to value or suppress, docs/anonymization.md)"
            )
        if self.numeric:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
            dom = self._sorted  # type: ignore[attr-defined]
            pos = np.clip(np.searchsorted(dom, v), 0, len(dom) - 1)
            bad = np.isnan(v) | (dom[pos] != v)
        else:
            pos = self._index.get_indexer(s.astype(str))  # type: ignore[attr-defined]
            bad = pos < 0
            if bad.any() and pd.api.types.is_datetime64_any_dtype(s):
                # a subset of midnight timestamps renders without its time of day
                full = s.dt.strftime("%Y-%m-%d %H:%M:%S")
                pos = np.where(bad, self._index.get_indexer(full), pos)  # type: ignore[attr-defined]
                bad = np.asarray(pos) < 0
        if bad.any():
            first = s.iloc[int(np.flatnonzero(bad)[0])]
            raise HierarchyError(
                f"value '{first}' of column '{self.attribute}' is not in its hierarchy "
                f"({int(bad.sum())} value(s) not covered)"
            )
        return pos.astype(np.int64)

    def generalize(self, values: pd.Series | np.ndarray | Sequence[Any], level: int) -> np.ndarray:
        """Labels of ``values`` at ``level`` (Eq. 3)."""
        self._check_level(level)
        return self.labels[level][self.encode(values)]

    def to_spec(self) -> dict[str, Any]:
        """The materialised table as a JSON-ready spec (``type: table``) that ``build_hierarchy`` reads back."""
        dom = self.domain.astype(np.float64).tolist() if self.numeric else [str(x) for x in self.domain]
        return {"type": "table", "numeric": self.numeric, "domain": dom,
                "labels": [[str(x) for x in lab] for lab in self.labels]}

    def to_frame(self) -> pd.DataFrame:
        """The ARX-style table: one row per domain value, one column per level."""
        return pd.DataFrame({i: lab for i, lab in enumerate(self.labels)})

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(cls, attribute: str, table: pd.DataFrame, numeric: bool = False) -> Hierarchy:
        """From an ARX-style table (first column the values, each next one a level up)."""
        if table.shape[1] < 1 or len(table) == 0:
            raise HierarchyError(f"hierarchy for '{attribute}' is empty")
        raw = table.astype("object")
        gaps = raw.isna() | (raw.astype(str).apply(lambda c: c.str.strip()) == "")
        if gaps.to_numpy().any():
            r, c = np.argwhere(gaps.to_numpy())[0]
            raise HierarchyError(
                f"hierarchy for '{attribute}' has a gap (empty cell) at row {r + 1}, level {c}"
            )
        cols = [raw.iloc[:, i].astype(str).str.strip().to_numpy(dtype=object) for i in range(raw.shape[1])]
        if numeric:
            dom = pd.to_numeric(pd.Series(cols[0]), errors="coerce")
            if dom.isna().any():
                raise HierarchyError(
                    f"hierarchy for '{attribute}' is declared numeric but value "
                    f"'{cols[0][int(np.flatnonzero(dom.isna())[0])]}' is not a number"
                )
            order = np.argsort(dom.to_numpy(), kind="stable")
            domain = dom.to_numpy()[order]
            labels = tuple(c[order] for c in cols)
        else:
            domain = cols[0]
            labels = tuple(cols)
        if len(labels) == 1 or len(set(labels[-1])) != 1:
            # ensure a single root so every attribute can be fully suppressed
            labels = (*labels, np.full(len(domain), ROOT, dtype=object))
        return cls(attribute, np.asarray(domain), labels, numeric=numeric)

    @classmethod
    def from_csv(
        cls, path: str | Path, attribute: str | None = None, sep: str = ";", numeric: bool = False
    ) -> Hierarchy:
        """Read an ARX hierarchy CSV (no header, ``;``-separated)."""
        p = Path(path)
        if not p.is_file():
            raise HierarchyError(f"hierarchy file {p} does not exist")
        try:
            table = pd.read_csv(p, sep=sep, header=None, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise HierarchyError(f"hierarchy file {p} is empty") from None
        except pd.errors.ParserError as exc:
            raise HierarchyError(f"hierarchy file {p} is malformed: {exc}") from None
        return cls.from_frame(attribute or p.stem, table, numeric=numeric)

    @classmethod
    def flat(cls, attribute: str, values: pd.Series | np.ndarray) -> Hierarchy:
        """Two levels: the value itself, then ``*`` (attributes without a taxonomy, e.g. sex)."""
        s = pd.Series(values).dropna()
        numeric = pd.api.types.is_numeric_dtype(s)
        dom = np.sort(s.unique()) if numeric else pd.unique(s.astype(str))
        return cls(
            attribute,
            np.asarray(dom),
            (_render(np.asarray(dom), numeric), np.full(len(dom), ROOT, dtype=object)),
            numeric=numeric,
        )

    @classmethod
    def intervals(
        cls,
        attribute: str,
        values: pd.Series | np.ndarray,
        levels: Sequence[Sequence[float] | float],
        top_code: float | None = None,
        integer_labels: bool | None = None,
    ) -> Hierarchy:
        """Numeric intervals, one level per entry of ``levels``, then ``*``.

        Each entry is either a bin width (bins start at 0: width 10 gives 0-9, 10-19, …)
        or an explicit list of cut points (``[0, 31, 51, 101]`` gives 0-30, 31-50, 51-100).
        Cut points of a coarser level must be a subset of the finer one's (a tree).
        ``top_code`` groups every value ≥ it into one class (HIPAA's "90+") at every level ≥ 1.
        """
        v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype="float64")
        if len(v) == 0:
            raise HierarchyError(f"interval hierarchy for '{attribute}': no numeric values")
        dom = np.unique(v)
        if integer_labels is None:
            integer_labels = bool(np.all(dom == np.round(dom)))
        labels: list[np.ndarray] = [_render(dom, True)]
        prev_cuts: np.ndarray | None = None
        for i, spec in enumerate(levels, start=1):
            if np.isscalar(spec):
                width = float(spec)  # type: ignore[arg-type]
                if width <= 0:
                    raise ConfigError(
                        f"interval hierarchy for '{attribute}': level {i} width must be > 0"
                    )
                lo = np.floor(min(dom.min(), 0.0) / width) * width
                hi = dom.max() + width
                cuts = np.arange(lo, hi + width, width)
            else:
                cuts = np.asarray(sorted(float(c) for c in spec))  # type: ignore[union-attr]
                if len(cuts) < 2:
                    raise ConfigError(
                        f"interval hierarchy for '{attribute}': level {i} needs at least two cut points"
                    )
            if top_code is not None:
                cuts = np.append(cuts[cuts < top_code], float(top_code))
            if prev_cuts is not None and not np.isin(cuts, prev_cuts).all():
                # coarser bins must be unions of finer ones, except at the edges of the data
                inner = cuts[(cuts > dom.min()) & (cuts <= dom.max())]
                if not np.isin(inner, prev_cuts).all():
                    raise HierarchyError(
                        f"interval hierarchy for '{attribute}': level {i} cut points are not "
                        f"a subset of level {i - 1}'s, so it is not a tree"
                    )
            prev_cuts = cuts
            labels.append(_interval_labels(dom, cuts, top_code, integer_labels, attribute, i))
        labels.append(np.full(len(dom), ROOT, dtype=object))
        return cls(attribute, dom, tuple(labels), numeric=True)

    @classmethod
    def prefix(
        cls,
        attribute: str,
        values: pd.Series | np.ndarray,
        keep: Sequence[int] | None = None,
        mask_char: str = "*",
    ) -> Hierarchy:
        """Masking suffix characters level by level (ZIP 12345 → 1234* → 123** … → *)."""
        s = pd.Series(values).dropna().astype(str)
        dom = pd.unique(s)
        width = int(pd.Series(dom).str.len().max())
        if keep is None:
            keep = list(range(width - 1, -1, -1))
        keep = [int(k) for k in keep]
        if any(b >= a for a, b in zip(keep, keep[1:], strict=False)):
            raise ConfigError(f"prefix hierarchy for '{attribute}': 'keep' must be decreasing")
        d = pd.Series(dom, dtype=object)
        labels = [d.to_numpy(dtype=object)]
        for k in keep:
            if k <= 0:
                labels.append(np.full(len(dom), ROOT, dtype=object))
            else:
                labels.append((d.str.slice(0, k) + mask_char * (width - k)).to_numpy(dtype=object))
        if len(set(labels[-1])) != 1:
            labels.append(np.full(len(dom), ROOT, dtype=object))
        return cls(attribute, np.asarray(dom, dtype=object), tuple(labels), numeric=False)

    @classmethod
    def dates(
        cls,
        attribute: str,
        values: pd.Series | np.ndarray,
        levels: Sequence[str] = ("month", "year", "decade"),
    ) -> Hierarchy:
        """Dates generalized to month (2019-03), year (2019), decade (2010s), then ``*``."""
        s = pd.to_datetime(pd.Series(values).dropna(), errors="coerce")
        if s.isna().any():
            raise HierarchyError(f"date hierarchy for '{attribute}': unparseable date(s)")
        uniq = pd.Series(pd.unique(s)).sort_values(ignore_index=True)
        # Level 0 is rendered as ``encode`` renders the column (astype(str)), so timestamps with a
        # time of day keep it and get a day level above them instead of colliding on their day.
        dom = uniq.astype(str).to_numpy(dtype=object)
        labels = [dom]
        if (uniq != uniq.dt.normalize()).any():
            labels.append(uniq.dt.strftime("%Y-%m-%d").to_numpy(dtype=object))
        render = {
            "month": lambda d: d.dt.strftime("%Y-%m"),
            "quarter": lambda d: d.dt.year.astype(str) + "-Q" + d.dt.quarter.astype(str),
            "year": lambda d: d.dt.year.astype(str),
            "decade": lambda d: (d.dt.year // 10 * 10).astype(str) + "s",
        }
        for lev in levels:
            if lev not in render:
                raise ConfigError(
                    f"date hierarchy for '{attribute}': unknown level '{lev}' "
                    f"(expected one of {', '.join(render)})"
                )
            labels.append(render[lev](uniq).to_numpy(dtype=object))
        labels.append(np.full(len(dom), ROOT, dtype=object))
        return cls(attribute, dom, tuple(labels), numeric=False)


def _render(dom: np.ndarray, numeric: bool) -> np.ndarray:
    if not numeric:
        return np.asarray(dom, dtype=object)
    d = np.asarray(dom, dtype="float64")
    if np.all(d == np.round(d)):
        return np.array([str(int(x)) for x in d], dtype=object)
    return np.array([repr(float(x)) for x in d], dtype=object)


def _interval_labels(
    dom: np.ndarray,
    cuts: np.ndarray,
    top_code: float | None,
    integer_labels: bool,
    attribute: str,
    level: int,
) -> np.ndarray:
    idx = np.searchsorted(cuts, dom, side="right") - 1
    below = idx < 0
    above = idx >= len(cuts) - 1
    if top_code is not None:
        above = above & (dom < top_code)
    if below.any() or above.any():
        raise HierarchyError(
            f"interval hierarchy for '{attribute}': level {level} cut points "
            f"[{cuts[0]:g}, {cuts[-1]:g}) do not cover all values of the data"
        )
    idx = np.clip(idx, 0, len(cuts) - 2)
    bins = format_ranges(cuts[:-1], cuts[1:], closed=False, whole=integer_labels)  # one label per bin
    out = bins[idx]
    if top_code is not None:
        out[dom >= top_code] = format_top(top_code)
    return out


def build_hierarchy(attribute: str, spec: Mapping[str, Any], values: pd.Series) -> Hierarchy:
    """Build a hierarchy from a config entry such as ``{type: intervals, levels: [5, 10, 20]}``.

    Types: ``csv`` (path, sep, numeric), ``intervals`` (levels, top_code), ``prefix``
    (keep, mask_char), ``dates`` (levels), ``flat``, and ``table`` (a materialised
    hierarchy from ``Hierarchy.to_spec``: domain, labels, numeric; ``values`` unused).
    """
    kind = spec.get("type")
    args = {k: v for k, v in spec.items() if k != "type"}
    try:
        if kind == "csv":
            h = Hierarchy.from_csv(args.pop("path"), attribute=attribute, **args)
        elif kind == "intervals":
            h = Hierarchy.intervals(attribute, values, **args)
        elif kind == "prefix":
            h = Hierarchy.prefix(attribute, values, **args)
        elif kind == "dates":
            h = Hierarchy.dates(attribute, values, **args)
        elif kind == "flat":
            h = Hierarchy.flat(attribute, values)
        elif kind == "table":
            numeric = bool(args.get("numeric", False))
            dom = np.asarray(args["domain"], dtype=np.float64 if numeric else object)
            labels = tuple(np.asarray(lab, dtype=object) for lab in args["labels"])
            h = Hierarchy(attribute, dom, labels, numeric=numeric)
        else:
            raise ConfigError(
                f"hierarchy for '{attribute}': unknown type '{kind}' "
                f"(expected csv, intervals, prefix, dates, flat or table)"
            )
    except TypeError as exc:
        raise ConfigError(f"hierarchy for '{attribute}': bad settings {sorted(args)}: {exc}") from None
    except KeyError as exc:
        raise ConfigError(f"hierarchy for '{attribute}': missing setting {exc}") from None
    return h
