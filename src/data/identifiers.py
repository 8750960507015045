"""Synthetic direct identifiers (name, SSN, MRN, address, phone, e-mail, dates) for patients.

Real MIMIC-III carries no identifiers, so leakage and linkage experiments need invented ones.
Names and street names are drawn from Faker's en_US word lists with their frequency weights,
vectorised with numpy (10,000 people take well under a second). Addresses come from a Boston
hospital catchment: real Massachusetts / Rhode Island ZIP codes (01xxx-02xxx) with invented,
deliberately skewed weights (most patients live near the hospital), so ZIP is a real
quasi-identifier. Every value is synthetic; none belongs to a real person.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from faker.providers.address.en_US import Provider as _AddressProvider
from faker.providers.internet.en_US import Provider as _InternetProvider
from faker.providers.person.en_US import Provider as _PersonProvider

from privhealth.data.schema import Column, Kind, Role
from privhealth.errors import SchemaError

# (ZIP, city, state, weight): real ZIP codes of the Boston area and its wider catchment; the
# weights are invented (not census or MIMIC figures), highest around the hospital (02215).
CATCHMENT: tuple[tuple[str, str, str, float], ...] = (
    ("02215", "Boston", "MA", 30), ("02115", "Boston", "MA", 25), ("02120", "Roxbury Crossing", "MA", 18),
    ("02116", "Boston", "MA", 14), ("02118", "Boston", "MA", 14), ("02119", "Roxbury", "MA", 16),
    ("02130", "Jamaica Plain", "MA", 16), ("02134", "Allston", "MA", 10), ("02135", "Brighton", "MA", 14),
    ("02121", "Dorchester", "MA", 12), ("02122", "Dorchester", "MA", 10), ("02124", "Dorchester Center", "MA", 16),
    ("02125", "Dorchester", "MA", 10), ("02126", "Mattapan", "MA", 9), ("02131", "Roslindale", "MA", 10),
    ("02132", "West Roxbury", "MA", 9), ("02136", "Hyde Park", "MA", 9), ("02127", "South Boston", "MA", 8),
    ("02128", "East Boston", "MA", 8), ("02129", "Charlestown", "MA", 5), ("02108", "Boston", "MA", 2),
    ("02109", "Boston", "MA", 2), ("02110", "Boston", "MA", 1), ("02111", "Boston", "MA", 3),
    ("02113", "Boston", "MA", 3), ("02114", "Boston", "MA", 5),
    ("02445", "Brookline", "MA", 12), ("02446", "Brookline", "MA", 10),
    ("02138", "Cambridge", "MA", 5), ("02139", "Cambridge", "MA", 7), ("02140", "Cambridge", "MA", 4),
    ("02141", "Cambridge", "MA", 3), ("02143", "Somerville", "MA", 5), ("02144", "Somerville", "MA", 4),
    ("02145", "Somerville", "MA", 4), ("02458", "Newton", "MA", 3), ("02459", "Newton Center", "MA", 3),
    ("02460", "Newtonville", "MA", 2), ("02465", "West Newton", "MA", 2), ("02466", "Auburndale", "MA", 2),
    ("02472", "Watertown", "MA", 3), ("02453", "Waltham", "MA", 3), ("02169", "Quincy", "MA", 6),
    ("02171", "Quincy", "MA", 3), ("02186", "Milton", "MA", 4), ("02026", "Dedham", "MA", 4),
    ("02492", "Needham", "MA", 2), ("02150", "Chelsea", "MA", 3), ("02149", "Everett", "MA", 3),
    ("02148", "Malden", "MA", 3), ("02155", "Medford", "MA", 3), ("02151", "Revere", "MA", 3),
    ("01902", "Lynn", "MA", 2), ("01904", "Lynn", "MA", 1), ("01905", "Lynn", "MA", 1),
    ("01970", "Salem", "MA", 1), ("01960", "Peabody", "MA", 1), ("01801", "Woburn", "MA", 1),
    ("01852", "Lowell", "MA", 1), ("01854", "Lowell", "MA", 1), ("01841", "Lawrence", "MA", 1),
    ("01702", "Framingham", "MA", 2), ("01760", "Natick", "MA", 1), ("01604", "Worcester", "MA", 1),
    ("01610", "Worcester", "MA", 1), ("02301", "Brockton", "MA", 2), ("02302", "Brockton", "MA", 1),
    ("02190", "South Weymouth", "MA", 2), ("02184", "Braintree", "MA", 2), ("02062", "Norwood", "MA", 2),
    ("02360", "Plymouth", "MA", 1), ("02780", "Taunton", "MA", 1), ("02740", "New Bedford", "MA", 1),
    ("02720", "Fall River", "MA", 1), ("01109", "Springfield", "MA", 1),
    ("02906", "Providence", "RI", 1), ("02860", "Pawtucket", "RI", 1),
)  # fmt: skip

# Telephone area codes by the ZIP's first three digits (real codes of those regions).
_AREA_CODES: dict[str, tuple[str, ...]] = {
    "021": ("617", "857"), "024": ("617", "781"), "020": ("781", "508"), "023": ("508", "774"),
    "027": ("508", "774"), "017": ("508", "774"), "016": ("508", "774"), "018": ("978", "351"),
    "019": ("781", "339"), "011": ("413",), "028": ("401",), "029": ("401",),
}  # fmt: skip

_EXTRA_EMAIL_DOMAINS = ("aol.com", "comcast.net", "verizon.net", "outlook.com")
_STREET_SUFFIXES = ("Street", "Avenue", "Road", "Drive", "Lane", "Court", "Place", "Way", "Terrace")
ADMISSION_YEARS = (2001, 2012)  # MIMIC-III's real admission period

IDENTITY_COLUMNS: tuple[Column, ...] = (
    Column("name", Role.DIRECT, Kind.STRING, pii="name", description="synthetic full name"),
    Column("ssn", Role.DIRECT, Kind.STRING, pii="ssn", description="synthetic SSN, unique"),
    Column("mrn", Role.DIRECT, Kind.STRING, pii="mrn", description="synthetic 8-digit MRN, unique"),
    Column("address", Role.DIRECT, Kind.STRING, pii="address", description="street address"),
    Column("city", Role.DIRECT, Kind.STRING, pii="address", description="city (address part)"),
    Column("state", Role.DIRECT, Kind.STRING, pii="address", description="state (address part)"),
    Column("zip", Role.QUASI, Kind.STRING, pii="zip", description="5-digit ZIP, skewed catchment"),
    Column("phone", Role.DIRECT, Kind.STRING, pii="phone", description="synthetic phone number"),
    Column("email", Role.DIRECT, Kind.STRING, pii="email", description="synthetic e-mail"),
    Column("date_of_birth", Role.QUASI, Kind.DATETIME, pii="date",
           description="consistent with the true (unshifted) age at admission"),
    Column("admission_date", Role.QUASI, Kind.DATETIME, pii="date",
           description="hospital admission date on the real calendar"),
)  # fmt: skip
IDENTITY_NAMES: tuple[str, ...] = tuple(c.name for c in IDENTITY_COLUMNS)


@lru_cache(maxsize=1)
def _word_lists() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Faker's en_US name lists as (values, probabilities) arrays, read once."""

    def weighted(d) -> tuple[np.ndarray, np.ndarray]:
        p = np.fromiter(d.values(), dtype=float)
        return np.array(list(d), dtype=str), p / p.sum()

    suffixes = np.array([s for s in _STREET_SUFFIXES if s in _AddressProvider.street_suffixes])
    domains = np.array(tuple(_InternetProvider.free_email_domains) + _EXTRA_EMAIL_DOMAINS)
    zips = np.array([c[0] for c in CATCHMENT])
    w = np.array([c[3] for c in CATCHMENT], dtype=float)
    return {
        "male": weighted(_PersonProvider.first_names_male),
        "female": weighted(_PersonProvider.first_names_female),
        "last": weighted(_PersonProvider.last_names),
        "suffix": (suffixes, np.full(len(suffixes), 1 / len(suffixes))),
        "domain": (domains, np.full(len(domains), 1 / len(domains))),
        "zip": (zips, w / w.sum()),
    }


def _pick(key: str, n: int, rng: np.random.Generator) -> np.ndarray:
    values, p = _word_lists()[key]
    return values[rng.choice(len(values), size=n, p=p)]


def _digits(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal strings (numpy's zfill fails on empty arrays, hence the guard)."""
    text = np.asarray(x).astype(np.int64).astype(str)
    return np.strings.zfill(text, width) if text.size else text


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0], dtype=str)
    for p in parts[1:]:
        out = np.strings.add(out, np.asarray(p, dtype=str))
    return out


def _unique_ints(n: int, space: int, rng: np.random.Generator) -> np.ndarray:
    if n > space:
        raise SchemaError(f"cannot draw {n} unique identifiers from a space of {space}")
    return rng.choice(space, size=n, replace=False)


def draw_residences(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Street address, city, state and ZIP for ``n`` people from the skewed hospital catchment."""
    idx = rng.choice(len(CATCHMENT), size=n, p=_word_lists()["zip"][1])
    house = np.clip(np.exp(rng.normal(4.0, 1.2, n)), 1, 9999).astype(np.int64)
    apt = np.where(rng.random(n) < 0.2, _cat(" Apt. ", rng.integers(1, 40, n).astype(str)), "")
    address = _cat(house.astype(str), " ", _pick("last", n, rng), " ", _pick("suffix", n, rng), apt)
    table = np.array(CATCHMENT, dtype=object)
    return pd.DataFrame(
        {
            "address": address,
            "city": table[idx, 1].astype(str),
            "state": table[idx, 2].astype(str),
            "zip": table[idx, 0].astype(str),
        }
    )


def draw_admission_dates(
    n: int, rng: np.random.Generator, years: tuple[int, int] = ADMISSION_YEARS
) -> np.ndarray:
    """Uniform admission dates (``datetime64[D]``) from 1 January of the first to 31 December of the last year."""
    lo = np.datetime64(f"{years[0]}-01-01", "D")
    hi = np.datetime64(f"{years[1]}-12-31", "D")
    return lo + rng.integers(0, int((hi - lo).astype(int)) + 1, n).astype("timedelta64[D]")


def _phones(zips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(zips)
    codes = np.full(n, "617", dtype="<U3")
    prefix = np.strings.slice(zips, 0, 3)
    for pre, options in _AREA_CODES.items():  # a dozen regions, not a loop over people
        hit = prefix == pre
        codes[hit] = np.array(options)[rng.integers(0, len(options), hit.sum())]
    exchange = rng.integers(201, 1000, n)
    exchange[exchange == 555] = 556  # keep clear of the fictional 555 range
    return _cat(codes, "-", exchange.astype(str), "-", _digits(rng.integers(0, 10000, n), 4))


def _ssns(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unique SSN-formatted strings: area 001-899 except 666, group 01-99, serial 0001-9999."""
    k = _unique_ints(n, 898 * 99 * 9999, rng)
    area = k // (99 * 9999) + 1
    area = area + (area >= 666)
    group = (k // 9999) % 99 + 1
    serial = k % 9999 + 1
    return _cat(_digits(area, 3), "-", _digits(group, 2), "-", _digits(serial, 4))


def generate_identities(
    age_years: np.ndarray,
    gender: np.ndarray,
    rng: np.random.Generator,
    admission: np.ndarray | None = None,
    admission_years: tuple[int, int] = ADMISSION_YEARS,
) -> pd.DataFrame:
    """One synthetic identity per person, given true age at admission (years) and gender (0 = male).

    Names follow gender; date of birth is admission date minus the age; SSN and MRN are unique.
    Admission dates (``datetime64[D]``) are drawn uniformly in ``admission_years`` unless given.
    A missing gender or age is drawn (56% male; age ~ N(65, 16) clipped to 18-100).
    """
    age = np.asarray(age_years, dtype=float).copy()
    n = len(age)
    sex = np.asarray(gender, dtype=float).copy()
    if len(sex) != n:
        raise SchemaError("generate_identities: age and gender have different lengths")
    miss = np.isnan(sex)
    sex[miss] = (rng.random(miss.sum()) >= 0.56).astype(float)
    miss = np.isnan(age)
    age[miss] = np.clip(rng.normal(65, 16, miss.sum()), 18, 100)
    female = sex == 1
    first = np.where(female, _pick("female", n, rng), _pick("male", n, rng))
    last = _pick("last", n, rng)
    if admission is None:
        admission = draw_admission_dates(n, rng, admission_years)
    admission = np.asarray(admission, dtype="datetime64[D]")
    dob = admission - np.rint(age * 365.25).astype("timedelta64[D]")
    residence = draw_residences(n, rng)
    suffix = np.where(rng.random(n) < 0.5, _digits(rng.integers(0, 100, n), 2), "")
    email = _cat(
        np.strings.lower(first), ".", np.strings.lower(last), suffix, "@", _pick("domain", n, rng)
    )
    out = pd.DataFrame(
        {
            "name": _cat(first, " ", last),
            "ssn": _ssns(n, rng),
            "mrn": _digits(_unique_ints(n, 90_000_000, rng) + 10_000_000, 8),
            **{c: residence[c].to_numpy() for c in residence.columns},
            "phone": _phones(residence["zip"].to_numpy(dtype=str), rng),
            "email": email,
            "date_of_birth": pd.to_datetime(dob),
            "admission_date": pd.to_datetime(admission),
        }
    )
    return out[list(IDENTITY_NAMES)]


def attach_identifiers(
    frame: pd.DataFrame,
    entity_col: str,
    seed: int,
    *,
    age_col: str | None = "age",
    gender_col: str | None = "gender",
) -> pd.DataFrame:
    """A copy of ``frame`` with one synthetic identity per entity, repeated on each of its rows.

    Works on real data (e.g. a loaded MIMICtable): age in years and gender (0 = male, 1 = female)
    are read from each entity's first row when present; top-coded ages (>= 90) get a true age
    drawn in 90-100 so the date of birth is consistent with "90 or older".
    """
    if entity_col not in frame.columns:
        raise SchemaError(f"attach_identifiers: entity column '{entity_col}' is not in the table")
    clash = [c for c in IDENTITY_NAMES if c in frame.columns]
    if clash:
        raise SchemaError(f"attach_identifiers: the table already has column(s) {', '.join(clash)}")
    codes, _ = pd.factorize(frame[entity_col], sort=False)
    if (codes < 0).any():
        raise SchemaError(f"attach_identifiers: entity column '{entity_col}' has missing values")
    _, first_row = np.unique(codes, return_index=True)
    rng = np.random.default_rng(seed)
    n = len(first_row)

    def first_values(col: str | None) -> np.ndarray:
        if col is None or col not in frame.columns:
            return np.full(n, np.nan)
        vals = pd.to_numeric(frame[col].iloc[first_row], errors="coerce")
        return np.array(vals.to_numpy(dtype=float, na_value=np.nan))  # a writable copy

    age = first_values(age_col)
    old = age >= 90
    age[old] = rng.uniform(90, 100, old.sum())
    ids = generate_identities(age, first_values(gender_col), rng)
    rows = ids.iloc[codes].reset_index(drop=True)
    rows.index = frame.index
    return pd.concat([frame, rows], axis=1)
