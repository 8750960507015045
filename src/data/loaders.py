"""Loaders for tables with a declared schema: any CSV/Parquet, the Adult benchmark, the paper's toy table.

Every loader reads without modifying its input, validates against a ``TableSchema`` and
returns a ``Dataset``; problems (missing file, wrong delimiter or encoding, missing or
extra columns, wrong types, empty file) raise ``SchemaError`` naming the file and column.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from privhealth.data.longtable import window_long
from privhealth.data.schema import Dataset, ExtraPolicy, Role, TableSchema
from privhealth.errors import SchemaError

_DELIMS = [",", ";", "\t", "|"]


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes: identifies the exact input a run used (for caches and tags)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_BYTES = 1_000_000_000  # data.max_bytes default: a larger input is refused before it is read
MAX_VALUE_CHARS = 256  # data.max_value_chars default: longer cells are refused, naming the column


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n:,} bytes"


def check_input_size(path: str | Path, max_bytes: int | None = MAX_BYTES) -> None:
    """Refuse a missing, non-regular or oversized input before reading a byte of it.

    The size is the file's apparent size (``st_size``): a sparse file counts at the size it
    would take in memory, which is what would kill the process.
    """
    p = Path(path)
    if not p.exists():
        raise SchemaError(f"{p}: no such file")
    if not p.is_file():
        raise SchemaError(f"{p}: not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise SchemaError(f"{p}: the file is empty")
    if max_bytes is not None and size > max_bytes:
        raise SchemaError(
            f"{p}: {_size(size)} exceeds the input limit data.max_bytes={max_bytes} ({_size(max_bytes)}); "
            f"raise data.max_bytes if the file is meant to be this large"
        )


def check_truncated(p: Path, df: pd.DataFrame, sep: str, encoding: str, n_columns: int) -> None:
    """A file cut mid-row (no final newline, last row short of fields) is reported as truncated."""
    with open(p, "rb") as fh:
        fh.seek(max(0, p.stat().st_size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode(encoding, errors="replace")
    fields = next(csv.reader([last], delimiter=sep), [])
    if len(fields) < n_columns:
        raise SchemaError(
            f"{p}: the file looks truncated: its last row (data row {len(df)}, line {len(df) + 1}) has "
            f"{len(fields)} of {n_columns} fields and no line end"
        )


def check_value_lengths(df: pd.DataFrame, source: str, limits: int | Mapping[str, int] | None) -> None:
    """Refuse cells longer than the column's limit (one huge value would pad a whole released column)."""
    if limits is None:
        return
    default = limits.get("default", MAX_VALUE_CHARS) if isinstance(limits, Mapping) else limits
    for col in df.columns:
        if not (pd.api.types.is_object_dtype(df[col]) or pd.api.types.is_string_dtype(df[col])):
            continue
        limit = limits.get(str(col), default) if isinstance(limits, Mapping) else default
        lengths = df[col].str.len()
        over = lengths > limit
        if over.any():
            row = int(over.to_numpy().nonzero()[0][0]) + 1
            raise SchemaError(
                f"{source}: column '{col}' has a value of {int(lengths.max())} characters (first at data row "
                f"{row}); the limit is {limit} (data.max_value_chars)"
            )


def read_table(
    path: str | Path,
    sep: str | None = None,
    encoding: str = "utf-8",
    expected_columns: Sequence[str] | None = None,
    max_bytes: int | None = MAX_BYTES,
    max_value_chars: int | Mapping[str, int] | None = MAX_VALUE_CHARS,
) -> pd.DataFrame:
    """Read a CSV (any common delimiter) or Parquet file into a DataFrame of raw values.

    ``sep=None`` sniffs the delimiter from the header line. When the file parses into a
    single column while several are expected, the error says which delimiter the header
    seems to use. Files over ``max_bytes`` are refused unread; a CSV cut mid-row is
    reported as truncated; cells over ``max_value_chars`` are refused naming the column.
    """
    p = Path(path)
    check_input_size(p, max_bytes)
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise SchemaError(f"{p}: not a readable Parquet file ({type(exc).__name__})") from None
        check_value_lengths(df, str(p), max_value_chars)
        return df
    try:
        with open(p, encoding=encoding, newline="") as fh:
            header = fh.readline()
    except UnicodeDecodeError:
        raise SchemaError(
            f"{p}: not valid {encoding} text; pass the file's encoding (e.g. encoding=latin-1)"
        ) from None
    if not header.strip():
        raise SchemaError(f"{p}: the first line (header) is empty")
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(header, delimiters="".join(_DELIMS)).delimiter
        except csv.Error:
            sep = ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=sep))
    dupes = sorted({n.strip() for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"{p}: duplicate column name(s): {', '.join(dupes)}")
    try:
        df = pd.read_csv(p, sep=sep, encoding=encoding, dtype=str, keep_default_na=True, na_values=[""])
    except UnicodeDecodeError:
        raise SchemaError(
            f"{p}: not valid {encoding} text; pass the file's encoding (e.g. encoding=latin-1)"
        ) from None
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{p}: the file has no header or data") from None
    except pd.errors.ParserError as exc:
        first = str(exc).splitlines()[0]
        if "EOF inside string" in first:
            raise SchemaError(f"{p}: the file looks truncated: it ends inside a quoted value ({first})") from None
        raise SchemaError(f"{p}: malformed CSV ({first})") from None
    check_truncated(p, df, sep, encoding, len(names))
    if expected_columns and len(expected_columns) > 1 and df.shape[1] == 1:
        seen = [d for d in _DELIMS if d != sep and d in header]
        hint = f"; the header seems to use {seen[0]!r}" if seen else ""
        raise SchemaError(
            f"{p}: parsed into a single column with delimiter {sep!r}{hint}; "
            f"expected {len(expected_columns)} columns"
        )
    check_value_lengths(df, str(p), max_value_chars)
    return df


def load_table(
    path: str | Path,
    schema: TableSchema | Mapping[str, Mapping[str, Any]],
    name: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    extra: ExtraPolicy = "error",
    max_bytes: int | None = MAX_BYTES,
    max_value_chars: int | Mapping[str, int] | None = MAX_VALUE_CHARS,
    long: Mapping[str, Any] | None = None,
) -> Dataset:
    """Any CSV or Parquet file with a declared schema of column roles (size and cell-length limits apply).

    With ``long`` (``data.long``), the file is the static table (one row per entity) and the long
    table it names is joined and windowed into one row per (entity, bloc) (``privhealth.data.longtable``).
    """
    if not isinstance(schema, TableSchema):
        schema = TableSchema.from_dict(schema)
    p = Path(path)
    raw = read_table(p, sep=sep, encoding=encoding, expected_columns=schema.column_names,
                     max_bytes=max_bytes, max_value_chars=max_value_chars)
    frame = schema.validate(raw, source=str(p), extra=extra)
    dataset = Dataset(
        frame=frame,
        schema=schema if extra != "keep" else schema,
        name=name or p.stem,
        metadata={"source": str(p), "sha256": file_fingerprint(p)},
    )
    if long is None:
        return dataset

    def read(path: str, sep: str | None, encoding: str, names: Sequence[str]) -> pd.DataFrame:
        return read_table(path, sep=sep, encoding=encoding, expected_columns=names, max_bytes=max_bytes,
                          max_value_chars=max_value_chars)

    return window_long(dataset, long, read)


# ---------------------------------------------------------------------- Adult
ADULT_COLUMNS = [
    "sex", "age", "race", "marital-status", "education", "native-country",
    "workclass", "occupation", "salary-class",
]
ADULT_QUASI = [
    "age", "education", "marital-status", "native-country", "occupation", "race", "sex", "workclass",
]


def adult_schema(sensitive: Sequence[str] = ("salary-class",)) -> TableSchema:
    """Adult as used by ARX and the Flash/Mondrian papers: 8 QIs, salary-class sensitive."""
    spec: dict[str, dict[str, Any]] = {}
    for c in ADULT_COLUMNS:
        role = Role.SENSITIVE if c in sensitive else Role.QUASI if c in ADULT_QUASI else Role.INSENSITIVE
        spec[c] = {"role": role.value, "kind": "integer" if c == "age" else "categorical", "nullable": False}
    return TableSchema.from_dict(spec)


def load_adult(folder: str | Path, sensitive: Sequence[str] = ("salary-class",)) -> Dataset:
    """The UCI Adult benchmark (30,162 rows) with ARX's hierarchies, from ``../shared/data/adult``."""
    folder = Path(folder)
    path = folder / "adult.csv"
    ds = load_table(path, adult_schema(sensitive), name="adult", sep=";")
    for c in ADULT_COLUMNS:
        hp = folder / f"adult_hierarchy_{c}.csv"
        if hp.is_file():
            ds.hierarchies[c] = pd.read_csv(hp, sep=";", header=None, dtype=str, keep_default_na=False)
    return ds


# ---------------------------------------------------------------------- paper Fig. 4
def toy_table() -> Dataset:
    """The paper's Fig. 4 'Original Dataset' (four patients, ID, name, age, ZIP, diagnosis)."""
    frame = pd.DataFrame(
        {
            "PatientID": [101, 102, 103, 104],
            "Name": ["Alice", "Bob", "Charlie", "David"],
            "Age": [25, 40, 35, 60],
            "ZIP": ["12345", "12346", "12345", "12347"],
            "Diagnosis": ["Flu", "Diabetes", "Flu", "Hypertension"],
        }
    )
    schema = TableSchema.from_dict(
        {
            "PatientID": {"role": "direct", "kind": "integer", "pii": "id", "nullable": False},
            "Name": {"role": "direct", "kind": "string", "pii": "name"},
            "Age": {"role": "quasi", "kind": "integer", "nullable": False},
            "ZIP": {"role": "quasi", "kind": "string", "pii": "zip", "nullable": False},
            "Diagnosis": {"role": "sensitive", "kind": "categorical", "nullable": False},
        }
    )
    return Dataset(frame=schema.validate(frame, source="paper Fig. 4"), schema=schema, name="paper_toy")
