"""Reading the AI Clinician ``MIMICtable.csv`` (MIMIC-III Sepsis-3 cohort, one row per 4-h bloc).

``load_mimictable`` validates the file against ``mimictable_schema()`` (missing, extra or
mistyped columns stop with a ``SchemaError`` naming the column and the file, never a cell value)
and converts ``age`` from days to years. MIMIC-III shifts the ages of patients older than 89 to
about 300 years, and the AI Clinician pipeline itself rewrote ages over 150 years to 91.4;
both are recognised: every age of 90 or more is top-coded at 90 (HIPAA's "90 or older"),
with the counts recorded in ``Dataset.metadata``. The input file is only read.

The simulator (``privhealth.data.simulator``) returns exactly what this loader returns for the
same data, and ``to_mimictable_csv`` writes the raw layout (age in days, shifted) back.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from privhealth.data import identifiers as ids
from privhealth.data.loaders import MAX_BYTES, check_input_size
from privhealth.data.schema import Column, Dataset, Kind, Role, TableSchema
from privhealth.errors import SchemaError

DAYS_PER_YEAR = 365.25
AGE_TOP_CODE = 90.0  # HIPAA Safe Harbor: ages over 89 aggregated into "90 or older"
SHIFTED_AGE_YEARS = 120.0  # above this an age is MIMIC's date-shift artefact (~300 y)
MIMIC_SHIFTED_AGE = 300.0  # years; what MIMIC-III shows for patients older than 89
GENDER_CODING = "0 = male, 1 = female (AI Clinician: MIMIC's M/F coded 1/2, minus 1)"

# Columns outside the 47 clustered features that describe the outcome: never model inputs.
OUTCOME_COLUMNS = (
    "died_in_hosp",
    "died_within_48h_of_out_time",
    "mortality_90d",
    "delay_end_of_record_and_discharge_or_death",
)

_I, _N, _B = Kind.INTEGER, Kind.NUMERIC, Kind.BINARY
# (name, kind, role, unit/description) in file order, as in mimictable_schema.md.
_LAYOUT: tuple[tuple[str, Kind, Role, str], ...] = (
    ("bloc", _I, Role.TIME, "4-hour bloc number within the stay, from 1"),
    ("icustayid", _I, Role.ENTITY, "ICU stay id"),
    ("charttime", _I, Role.TIME, "Unix seconds on MIMIC's date-shifted calendar (2100-2200)"),
    ("gender", _B, Role.QUASI, GENDER_CODING),
    ("age", _N, Role.QUASI, "years at admission, top-coded at 90 (the file stores days)"),
    ("elixhauser", _I, Role.SENSITIVE, "Elixhauser comorbidity index (integer)"),
    ("re_admission", _B, Role.INSENSITIVE, "ICU re-admission 0/1"),
    ("died_in_hosp", _B, Role.INSENSITIVE, "outcome: died in hospital; not a model input"),
    ("died_within_48h_of_out_time", _B, Role.INSENSITIVE,
     "outcome: died within 48 h of ICU discharge; not a model input"),
    ("mortality_90d", _B, Role.TARGET, "died within 90 days of ICU admission"),
    ("delay_end_of_record_and_discharge_or_death", _N, Role.INSENSITIVE,
     "outcome: hours from the last record to discharge or death; not a model input"),
    ("Weight_kg", _N, Role.INSENSITIVE, "kg"),
    ("GCS", _N, Role.INSENSITIVE, "Glasgow coma scale, 3-15"),
    ("HR", _N, Role.INSENSITIVE, "beats/min"),
    ("SysBP", _N, Role.INSENSITIVE, "mmHg"),
    ("MeanBP", _N, Role.INSENSITIVE, "mmHg"),
    ("DiaBP", _N, Role.INSENSITIVE, "mmHg"),
    ("RR", _N, Role.INSENSITIVE, "breaths/min"),
    ("SpO2", _N, Role.INSENSITIVE, "%"),
    ("Temp_C", _N, Role.INSENSITIVE, "°C"),
    ("FiO2_1", _N, Role.INSENSITIVE, "fraction 0.21-1"),
    ("Potassium", _N, Role.INSENSITIVE, "mmol/L"),
    ("Sodium", _N, Role.INSENSITIVE, "mmol/L"),
    ("Chloride", _N, Role.INSENSITIVE, "mmol/L"),
    ("Glucose", _N, Role.INSENSITIVE, "mg/dL"),
    ("BUN", _N, Role.INSENSITIVE, "mg/dL"),
    ("Creatinine", _N, Role.INSENSITIVE, "mg/dL"),
    ("Magnesium", _N, Role.INSENSITIVE, "mg/dL"),
    ("Calcium", _N, Role.INSENSITIVE, "mg/dL"),
    ("Ionised_Ca", _N, Role.INSENSITIVE, "mmol/L"),
    ("CO2_mEqL", _N, Role.INSENSITIVE, "mEq/L"),
    ("SGOT", _N, Role.INSENSITIVE, "IU/L"),
    ("SGPT", _N, Role.INSENSITIVE, "IU/L"),
    ("Total_bili", _N, Role.INSENSITIVE, "mg/dL"),
    ("Albumin", _N, Role.INSENSITIVE, "g/dL"),
    ("Hb", _N, Role.INSENSITIVE, "g/dL"),
    ("WBC_count", _N, Role.INSENSITIVE, "10^9/L"),
    ("Platelets_count", _N, Role.INSENSITIVE, "10^9/L"),
    ("PTT", _N, Role.INSENSITIVE, "s"),
    ("PT", _N, Role.INSENSITIVE, "s"),
    ("INR", _N, Role.INSENSITIVE, "ratio"),
    ("Arterial_pH", _N, Role.INSENSITIVE, "pH"),
    ("paO2", _N, Role.INSENSITIVE, "mmHg"),
    ("paCO2", _N, Role.INSENSITIVE, "mmHg"),
    ("Arterial_BE", _N, Role.INSENSITIVE, "mmol/L"),
    ("Arterial_lactate", _N, Role.INSENSITIVE, "mmol/L"),
    ("HCO3", _N, Role.INSENSITIVE, "mmol/L"),
    ("mechvent", _B, Role.INSENSITIVE, "mechanical ventilation 0/1"),
    ("Shock_Index", _N, Role.INSENSITIVE, "HR/SysBP"),
    ("PaO2_FiO2", _N, Role.INSENSITIVE, "paO2/FiO2, mmHg"),
    ("median_dose_vaso", _N, Role.INSENSITIVE, "µg/kg/min norepinephrine-equivalent"),
    ("max_dose_vaso", _N, Role.INSENSITIVE, "µg/kg/min norepinephrine-equivalent"),
    ("input_total", _N, Role.INSENSITIVE, "mL, cumulative"),
    ("input_4hourly", _N, Role.INSENSITIVE, "mL in the bloc"),
    ("output_total", _N, Role.INSENSITIVE, "mL, cumulative"),
    ("output_4hourly", _N, Role.INSENSITIVE, "mL in the bloc"),
    ("cumulated_balance", _N, Role.INSENSITIVE, "mL, input_total - output_total"),
    ("SOFA", _I, Role.INSENSITIVE, "0-24"),
    ("SIRS", _I, Role.INSENSITIVE, "0-4"),
)  # fmt: skip
MIMICTABLE_COLUMNS: tuple[str, ...] = tuple(c[0] for c in _LAYOUT)
_REQUIRED = {"bloc", "icustayid", "charttime", "age", "mortality_90d"}


def mimictable_schema(identifiers: bool = False) -> TableSchema:
    """Roles and kinds of the MIMICtable columns, optionally followed by the synthetic identities."""
    cols = tuple(
        Column(name, role, kind, nullable=name not in _REQUIRED, description=desc)
        for name, kind, role, desc in _LAYOUT
    )
    return TableSchema(cols + (ids.IDENTITY_COLUMNS if identifiers else ()))


def _read_csv(path: Path) -> pd.DataFrame:
    """Read the comma-separated file, turning parser failures into errors naming the file."""
    try:
        return pd.read_csv(path, sep=",", low_memory=False)
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{path}: the file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" at line {line.group(1)}" if line else ""
        raise SchemaError(
            f"{path}: not a well-formed comma-separated MIMICtable{where} "
            f"(a row has the wrong number of fields or the encoding is not UTF-8)"
        ) from None


def mimictable_dataset(
    raw: pd.DataFrame,
    source: str,
    name: str = "mimictable",
    identities: pd.DataFrame | None = None,
    metadata: dict | None = None,
) -> Dataset:
    """Validate a raw MIMICtable frame (age in days) and return the Dataset the loader returns.

    ``identities`` (bloc-aligned identity columns) are appended and declared in the schema.
    """
    schema = mimictable_schema()
    if len(raw.columns) == 1 and ";" in str(raw.columns[0]):
        raise SchemaError(
            f"{source}: the header is one column containing ';': the MIMICtable is comma-separated"
        )
    frame = schema.validate(raw, source=source)
    if (frame["bloc"] < 1).any():
        raise SchemaError(f"{source}: column 'bloc' has value(s) below 1")
    if frame.duplicated(["icustayid", "bloc"]).any():
        raise SchemaError(f"{source}: columns 'icustayid' and 'bloc' repeat a (stay, bloc) pair")
    days = frame["age"].to_numpy(dtype=float)
    finite = days[~np.isnan(days)]
    if finite.size and np.median(finite) < 120:
        raise SchemaError(
            f"{source}: column 'age' looks like years; the MIMICtable stores age in days"
        )
    years = days / DAYS_PER_YEAR
    shifted = years > SHIFTED_AGE_YEARS
    topped = years >= AGE_TOP_CODE
    frame["age"] = np.where(topped, AGE_TOP_CODE, years)
    stays = frame["icustayid"].to_numpy()
    meta = {
        "source": source,
        "n_rows": len(frame),
        "n_stays": int(frame["icustayid"].nunique()),
        "age_unit": "years",
        "age_top_code": AGE_TOP_CODE,
        "age_shifted_rows": int(shifted.sum()),
        "age_shifted_stays": int(len(np.unique(stays[shifted]))),
        "age_topcoded_rows": int(topped.sum()),
        "age_topcoded_stays": int(len(np.unique(stays[topped]))),
        "gender_coding": GENDER_CODING,
        "outcome_columns": list(OUTCOME_COLUMNS),
    }
    meta.update(metadata or {})
    data = Dataset(frame=frame, schema=schema, name=name, metadata=meta)
    return data if identities is None else _with_identities(data, identities)


def _with_identities(data: Dataset, identities: pd.DataFrame) -> Dataset:
    """Append row-aligned identity columns, validated, and declare them in the schema."""
    full = mimictable_schema(identifiers=True)
    source = f"{data.metadata.get('source', data.name)} (identities)"
    ident = full.subset(ids.IDENTITY_NAMES).validate(identities, source=source)
    ident.index = data.frame.index
    frame = pd.concat([data.frame, ident], axis=1)
    return Dataset(frame=frame, schema=full, name=data.name, metadata=data.metadata)


def load_mimictable(
    path: str | PathLike[str], attach_identifiers: bool = False, seed: int = 0, max_bytes: int | None = MAX_BYTES
) -> Dataset:
    """Load an AI Clinician ``MIMICtable.csv``; ages come back in years, top-coded at 90.

    With ``attach_identifiers`` each stay gets a synthetic identity (seeded) so that leakage
    and linkage experiments can run on real data.
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file (expected the AI Clinician MIMICtable.csv)")
    check_input_size(path, max_bytes)
    raw = _read_csv(path)
    data = mimictable_dataset(raw, source=str(path), name=path.stem)
    if not attach_identifiers:
        return data
    identities = ids.attach_identifiers(data.frame, "icustayid", seed)[list(ids.IDENTITY_NAMES)]
    data.metadata["identifiers"] = f"synthetic: attach_identifiers(seed={seed})"
    return _with_identities(data, identities)


def to_mimictable_csv(
    data: Dataset | pd.DataFrame, path: str | PathLike[str], shift_ages_over_89: bool = True
) -> Path:
    """Write the raw MIMICtable layout (age in days; ages of 90+ shown as ~300 years like MIMIC).

    Identity columns are not part of the layout and are left out.
    """
    frame = data.frame if isinstance(data, Dataset) else data
    missing = [c for c in MIMICTABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"to_mimictable_csv: missing column(s) {', '.join(missing)}")
    out = frame[list(MIMICTABLE_COLUMNS)].copy()
    years = out["age"].to_numpy(dtype=float)
    if shift_ages_over_89:
        years = np.where(years >= AGE_TOP_CODE, MIMIC_SHIFTED_AGE, years)
    out["age"] = years * DAYS_PER_YEAR
    path = Path(path)
    out.to_csv(path, index=False)
    return path
