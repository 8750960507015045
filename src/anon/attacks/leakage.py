"""Eq. 15 as the union of real attacks, the risk report, and the pipeline's one entry point.

    Leakage = |PII_recovered| / PII_total                                   (Eq. 15)

PII_total is the number of (patient, PII field) pairs present in the source: every source
patient (released or suppressed) times every field with a PII category in the schema (name,
SSN, MRN, address, city, state, ZIP, phone, e-mail, dates of birth and admission) plus the
entity (stay) id, counting only non-empty values. PII_recovered is the union, over the direct
scan, the pseudonym-reversal attack and the linkage attack, of the pairs each one recovers
*correctly* (checked against the source through the release's index alignment). A fragment
left in the release (the last SSN digits) counts when an attack turns it into the full value:
the linkage attack matches fragments against the broker file and recovers the full SSN of a
re-identified patient. The fragments themselves are reported beside it as partial exposures
and join the union only with ``count_partial``. See docs/risk.md for what these figures do
and do not guarantee.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privhealth.anon.attacks.common import (
    Alignment,
    align,
    informative,
    patient_view,
    pii_fields,
    pseudonym_shape,
    share,
    source_patients,
)
from privhealth.anon.attacks.direct import DirectScanResult, scan_release, source_keys
from privhealth.anon.attacks.inference import InferenceResult, encode_sensitive, infer_attributes
from privhealth.anon.attacks.linkage import (
    FIELD_KINDS,
    LinkageResult,
    plan_attack,
    score_linkage,
    truth_positions,
)
from privhealth.anon.attacks.matching import match
from privhealth.anon.attacks.passes import PASS_MODES, claim, claimed_view
from privhealth.anon.attacks.reversal import ReversalResult, reversal_attack
from privhealth.anon.attacks.risk import RiskModels, class_sizes, risk_models
from privhealth.anon.release import Release
from privhealth.anon.safe_harbor import SafeHarborReport, check_safe_harbor, code_columns
from privhealth.data.identifiers import ADMISSION_YEARS
from privhealth.data.population import GROUND_TRUTH, identity_table, simulate_population
from privhealth.data.schema import Dataset, Role
from privhealth.errors import ConfigError, SchemaError

PAIRS = ["entity", "field"]


@dataclass
class AttackConfig:
    """Every setting of the attacks and risk models, with defaults (conf/attack/default.yaml)."""

    seed: int = 0
    # the auxiliary register, simulated from the source when none is passed: a voter list ...
    coverage: float = 0.6
    noise: float = 0.05
    extra_people: int | None = None  # None: twice the number of source patients
    # ... merged with a data-broker / credit-header file (SSN, phone, e-mail; 0: none)
    broker_coverage: float = 0.9
    broker_noise: float = 0.05
    population_size: int | None = None  # N for journalist/population models; None: patients + others
    # linkage
    linkage_fields: list[str] | None = None  # None: every register field the release also holds
    linkage_passes: str = "leave_one_out"  # or "single": one pass, every field must agree
    min_field_overlap: float = 0.05
    age_column: str | None = "age"
    admission_column: str | None = "admission_date"
    admission_years: tuple[int, int] = ADMISSION_YEARS
    age_top_code: float = 90.0
    age_tolerance: float = 0.01
    max_candidate_pairs: int = 100_000_000
    # risk models
    quasi: list[str] | None = None  # None: released quasi-identifiers + informative direct ones
    risk_threshold: float = 0.2
    # attribute inference
    sensitive: list[str] | None = None  # None: the schema's sensitive attributes
    target_is_sensitive: bool = True
    inference_threshold: float = 0.8
    max_sensitive_values: int = 100
    # direct scan
    pii_fields: list[str] | None = None  # None: columns with a PII category + the entity id
    min_substring_len: int = 6
    min_numeric_digits: int = 6
    min_fragment_len: int = 4
    count_partial: bool = False
    # pseudonym reversal
    reversal_max_candidates: int = 2_000_000
    reversal_bounds: dict[str, list[int]] = field(default_factory=dict)
    reversal_guessed_keys: list[str] = field(default_factory=list)
    # compliance
    safe_harbor: bool = True

    def __post_init__(self) -> None:
        for name in ("coverage", "noise", "broker_coverage", "broker_noise", "min_field_overlap",
                     "risk_threshold", "inference_threshold"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"attack setting '{name}' must be in [0, 1], got {v}")
        if self.extra_people is not None and int(self.extra_people) < 0:
            raise ConfigError(f"attack setting 'extra_people' must be >= 0, got {self.extra_people}")
        if self.population_size is not None and int(self.population_size) < 1:
            raise ConfigError(f"attack setting 'population_size' must be >= 1, got {self.population_size}")
        if len(self.admission_years) != 2 or int(self.admission_years[0]) > int(self.admission_years[1]):
            raise ConfigError("attack setting 'admission_years' must be [first, last] with first <= last")
        self.admission_years = (int(self.admission_years[0]), int(self.admission_years[1]))
        if self.linkage_passes not in PASS_MODES:
            raise ConfigError(
                f"attack setting 'linkage_passes' must be one of {list(PASS_MODES)}, got {self.linkage_passes!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> AttackConfig:
        """From a plain mapping (the Hydra group); unknown keys are an error naming them."""
        m = dict(mapping or {})
        m.pop("_target_", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(m) - names)
        if unknown:
            raise ConfigError(f"unknown attack setting(s) {unknown} (known: {', '.join(sorted(names))})")
        for k in ("linkage_fields", "quasi", "sensitive", "pii_fields", "reversal_guessed_keys"):
            if m.get(k) is not None:
                m[k] = [str(x) for x in m[k]]
        if m.get("reversal_bounds") is not None:
            m["reversal_bounds"] = {str(k): [int(x) for x in v] for k, v in dict(m["reversal_bounds"]).items()}
        if m.get("admission_years") is not None:
            m["admission_years"] = tuple(int(x) for x in m["admission_years"])
        return cls(**m)

    def to_dict(self) -> dict[str, Any]:
        """Loggable settings (guessed keys are counted, not echoed)."""
        d = dataclasses.asdict(self)
        d["reversal_guessed_keys"] = len(self.reversal_guessed_keys)
        d["admission_years"] = list(self.admission_years)
        return d


@dataclass
class Leakage:
    """Eq. 15: the union of recovered (patient, field) pairs over the attacks."""

    pii_total: int
    pii_total_released: int
    recovered: int
    recovered_released: int
    per_field: dict[str, dict[str, int]]
    per_attack: dict[str, int]
    partial: int
    fields: list[str]

    @property
    def fraction(self) -> float:
        return share(self.recovered, self.pii_total)

    @property
    def fraction_released(self) -> float:
        return share(self.recovered_released, self.pii_total_released)

    def to_dict(self) -> dict[str, Any]:
        return {
            "definition": "Leakage = |PII_recovered| / PII_total; PII_total = (patient, PII field) pairs "
                          "with a value in the source; recovered = union over direct scan, pseudonym "
                          "reversal and linkage of correctly recovered pairs",
            "fields": self.fields,
            "pii_total": self.pii_total,
            "pii_recovered": self.recovered,
            "leakage": self.fraction,
            "pii_total_released_patients": self.pii_total_released,
            "pii_recovered_released_patients": self.recovered_released,
            "leakage_released_patients": self.fraction_released,
            "recovered_pairs_per_attack": self.per_attack,
            "per_field": self.per_field,
            "partial_pairs_not_counted": self.partial,
        }


@dataclass
class RiskReport:
    """Everything measured on one release; ``metrics()`` for MLflow, ``to_dict()`` for the artifact."""

    release_method: str
    leakage: Leakage
    direct: DirectScanResult
    reversal: ReversalResult
    linkage: LinkageResult | None
    inference: InferenceResult | None
    risk: RiskModels
    risk_declared: RiskModels
    safe_harbor: SafeHarborReport | None
    gdpr: dict[str, str]
    notes: list[str]
    config: AttackConfig

    def metrics(self) -> dict[str, float]:
        """Flat ``risk/*`` figures (NaN where an attack could not run, e.g. no register)."""
        nan = float("nan")
        lk, inf, r = self.linkage, self.inference, self.risk
        per_attack = self.leakage.per_attack
        total = self.leakage.pii_total or 1
        m = {
            "risk/pii_leakage": self.leakage.fraction,
            "risk/linkage_reid_rate": lk.reid_rate if lk else nan,
            "risk/prosecutor_max": r.prosecutor_max,
            "risk/prosecutor_avg": r.prosecutor_avg,
            "risk/records_at_risk": r.records_at_risk,
            "risk/inference_rate": inf.rate if inf else nan,
            "risk/inference_base_rate": inf.base_rate if inf else nan,
            "risk/inference_accuracy_gain": inf.accuracy_gain if inf else nan,
            "risk/pii_leakage_released": self.leakage.fraction_released,
            "risk/leakage_direct": per_attack.get("direct", 0) / total,
            "risk/leakage_reversal": per_attack.get("reversal", 0) / total,
            "risk/leakage_linkage": per_attack.get("linkage", 0) / total,
            "risk/linkage_reid_rate_covered": lk.reid_rate_covered if lk else nan,
            "risk/linkage_precision": lk.precision if lk else nan,
            "risk/linkage_expected_reid": lk.expected_rate if lk else nan,
            "risk/journalist_max": r.journalist_max,
            "risk/journalist_avg": r.journalist_avg,
            "risk/marketer": r.marketer,
            "risk/sample_uniqueness": r.sample_uniqueness,
            "risk/population_uniqueness": r.population.fraction if r.population else nan,
            "risk/smallest_class": float(r.smallest_class),
            "risk/prosecutor_max_declared": self.risk_declared.prosecutor_max,
            "risk/prosecutor_avg_declared": self.risk_declared.prosecutor_avg,
            "risk/records_at_risk_declared": self.risk_declared.records_at_risk,
            "risk/sample_uniqueness_declared": self.risk_declared.sample_uniqueness,
        }
        if self.safe_harbor is not None:
            m["risk/safe_harbor_pass"] = float(self.safe_harbor.passed)
            m["risk/safe_harbor_failed_categories"] = float(len(self.safe_harbor.failed))
        return {k: float(v) for k, v in m.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able report: fields, counts and rates per attack; never a value or identifier."""
        return {
            "release_method": self.release_method,
            "leakage": self.leakage.to_dict(),
            "attacks": {
                "direct_scan": self.direct.to_dict(),
                "pseudonym_reversal": self.reversal.to_dict(),
                "linkage": self.linkage.to_dict() if self.linkage else None,
                "attribute_inference": self.inference.to_dict() if self.inference else None,
            },
            "risk_models": self.risk.to_dict(),
            "risk_models_declared_quasi_identifiers": self.risk_declared.to_dict(),
            "safe_harbor": self.safe_harbor.to_dict() if self.safe_harbor else None,
            "gdpr": self.gdpr,
            "notes": self.notes,
            "config": self.config.to_dict(),
            "metrics": {k: (v if np.isfinite(v) else None) for k, v in self.metrics().items()},
        }


# ---------------------------------------------------------------------- helpers
def risk_quasi(release: Release, patients: pd.DataFrame, wanted: list[str] | None) -> list[str]:
    """Quasi-identifiers for the risk models: the schema's, plus direct identifiers left informative.

    A released direct identifier that still tells patients apart (a city, a masked SSN's last
    four digits, an e-mail domain) identifies in combination like any quasi-identifier; fully
    masked columns and code columns (pseudonyms, random codes) are left out: they are constant
    or unique by construction and not in any auxiliary data.
    """
    if wanted is not None:
        missing = [c for c in wanted if c not in patients.columns]
        if missing:
            raise SchemaError(f"attack setting 'quasi': column(s) {missing} are not in the release")
        return list(wanted)
    derived, random = code_columns(release)
    out = [c for c in release.schema.quasi if c in patients.columns]
    for col in release.schema:
        c = col.name
        if col.role is not Role.DIRECT or c not in patients.columns or c in derived or c in random:
            continue
        s = patients[c]
        if not pd.api.types.is_numeric_dtype(s) and pseudonym_shape(s):
            continue
        if informative(s):
            out.append(c)
    return out


def _sensitive_columns(release: Release, cfg: AttackConfig) -> list[str]:
    cols = list(cfg.sensitive) if cfg.sensitive is not None else list(release.schema.sensitive)
    target = release.schema.target
    if cfg.target_is_sensitive and target and target not in cols:
        cols.append(target)
    return cols


def _register(source: Dataset, population: pd.DataFrame | None, cfg: AttackConfig) -> pd.DataFrame | None:
    """The attacker's register: the one passed, or one simulated around the source's identities."""
    if population is not None:
        missing = [c for c in ("date_of_birth", GROUND_TRUTH) if c not in population.columns]
        if missing:
            raise SchemaError(f"the auxiliary population lacks column(s) {missing}")
        return population
    try:
        n = source.n_entities
        extra = int(cfg.extra_people) if cfg.extra_people is not None else 2 * n
        return simulate_population(source, cfg.coverage, cfg.noise, extra, cfg.seed,
                                   broker_coverage=cfg.broker_coverage, broker_noise=cfg.broker_noise)
    except SchemaError:
        return None  # no identity columns: nothing to link with


def _superset(source: Dataset, register: pd.DataFrame) -> pd.DataFrame:
    """The population a journalist faces: every source patient's true identity plus the non-patients."""
    people = identity_table(source).drop(columns=[source.schema.entity])
    others = register.loc[register[GROUND_TRUTH].isna(), [c for c in FIELD_KINDS if c in register.columns]]
    return pd.concat([people, others], ignore_index=True)


def _union(parts: dict[str, pd.DataFrame], keys_table: pd.DataFrame, released: pd.Index, fields: list[str],
           partial: int) -> Leakage:
    """The union of recovered pairs, checked against PII_total's pairs."""
    present = keys_table[PAIRS]
    idx_present = pd.MultiIndex.from_frame(present)
    per_attack, frames = {}, []
    for name, df in parts.items():
        df = df[PAIRS].drop_duplicates()
        if len(df):
            df = df.astype({"entity": present["entity"].dtype})
            df = df[pd.MultiIndex.from_frame(df).isin(idx_present)]
        per_attack[name] = len(df)
        frames.append(df)
    allrec = pd.concat(frames, ignore_index=True).drop_duplicates() if frames else present.iloc[:0]
    in_rel = present["entity"].isin(released)
    rec_rel = allrec["entity"].isin(released)
    totals = present.groupby("field").size()
    recs = allrec.groupby("field").size() if len(allrec) else pd.Series(dtype=int)
    per_field = {f: {"present": int(totals.get(f, 0)), "recovered": int(recs.get(f, 0))} for f in fields}
    return Leakage(
        pii_total=len(present),
        pii_total_released=int(in_rel.sum()),
        recovered=len(allrec),
        recovered_released=int(rec_rel.sum()),
        per_field=per_field,
        per_attack=per_attack,
        partial=partial,
        fields=fields,
    )


def _gdpr(release: Release, reversal: ReversalResult, linkage: LinkageResult | None,
          leak: Leakage) -> dict[str, str]:
    derived, random = code_columns(release)
    coded = sorted(set(derived) | set(random))
    if leak.recovered or (linkage and linkage.correct) or any(c.n_correct for c in reversal.columns):
        status = "personal data: identifiable by the attacks measured here"
    elif coded:
        status = "pseudonymised personal data"
    else:
        status = "not shown to be anonymous"
    return {
        "status": status,
        "note": "Under GDPR, pseudonymised data (Art. 4(5): attributable to a person with additional "
                "information such as a key or a mapping, kept separately) remains personal data "
                "(Recital 26); the Regulation stops applying only to anonymous data, for which "
                "identification is not reasonably likely by any means reasonably likely to be used. "
                "Keyed or random codes linking a patient's rows (" + (", ".join(coded) or "none here") +
                ") make this release pseudonymised at best. Zero measured leakage against the attacks "
                "here is evidence, not proof, of anonymity.",
    }


# ---------------------------------------------------------------------- entry point
def assess_release(
    source: Dataset,
    release: Release,
    population: pd.DataFrame | None = None,
    config: AttackConfig | Mapping[str, Any] | None = None,
) -> RiskReport:
    """Run every attack and risk model on ``release`` (anonymized from ``source``).

    ``population`` is the attacker's auxiliary register (``simulate_population`` layout, with
    the hidden ``true_entity_id`` used only for scoring); when None it is simulated from the
    source's identity columns with the config's coverage, noise and extra people, and the
    linkage, inference and journalist figures are skipped (NaN) if the source has none.
    """
    cfg = config if isinstance(config, AttackConfig) else AttackConfig.from_mapping(config)
    al = align(source, release)
    fields = pii_fields(source, cfg.pii_fields)
    keys = source_keys(source, fields)
    direct = scan_release(
        source, release, al, keys,
        min_substring_len=cfg.min_substring_len,
        min_numeric_digits=cfg.min_numeric_digits,
        min_fragment_len=cfg.min_fragment_len,
    )
    register = _register(source, population, cfg)
    attacker_view = register.drop(columns=[GROUND_TRUTH]) if register is not None else None
    reversal = reversal_attack(
        source, release, al, fields,
        population=attacker_view,
        max_candidates=cfg.reversal_max_candidates,
        bounds=cfg.reversal_bounds,
        guessed_keys=cfg.reversal_guessed_keys,
        seed=cfg.seed,
    )
    patients = patient_view(release.frame, al.row_entity)
    notes: list[str] = []
    linkage = inference = None
    journalist = None
    jfields: list[str] = []
    quasi = risk_quasi(release, patients, cfg.quasi)
    if register is not None:
        linkage, inference, journalist, jfields = _link(source, release, al, patients, register, attacker_view,
                                                        keys.categories, cfg)
    else:
        notes.append("no auxiliary register and no identity columns in the source: linkage, attribute "
                     "inference and journalist risk were not measured")
    N = cfg.population_size
    if N is None and register is not None:
        N = int(source.n_entities + register[GROUND_TRUTH].isna().sum())
    risk = risk_models(class_sizes(patients, quasi), quasi, cfg.risk_threshold, N, journalist, jfields)
    declared = [c for c in release.schema.quasi if c in patients.columns]
    risk_declared = risk_models(class_sizes(patients, declared), declared, cfg.risk_threshold, N)
    parts = {"direct": direct.recovered, "reversal": reversal.recovered}
    if cfg.count_partial:
        parts["direct_partial"] = direct.partial
    if linkage is not None:
        parts["linkage"] = linkage.recovered
    leak = _union(parts, keys.table, al.entities, fields, len(direct.partial))
    sh = check_safe_harbor(release, source.schema, age_top_code=cfg.age_top_code) if cfg.safe_harbor else None
    if linkage is not None and linkage.correct and sh is not None:
        notes.append(
            f"the linkage attack re-identified {linkage.correct} released patient(s): under 164.514(b)(2)(ii) "
            "that is actual knowledge that the remaining information can identify individuals"
        )
    if reversal.columns and any(c.n_correct for c in reversal.columns):
        notes.append("pseudonyms were reversed by enumerating the ID space: the scheme is not keyed, or "
                     "the key was guessed")
    return RiskReport(release.method, leak, direct, reversal, linkage, inference, risk, risk_declared, sh,
                      _gdpr(release, reversal, linkage, leak), notes, cfg)


def _link(
    source: Dataset,
    release: Release,
    al: Alignment,
    patients: pd.DataFrame,
    register: pd.DataFrame,
    attacker_view: pd.DataFrame,
    categories: dict[str, str],
    cfg: AttackConfig,
) -> tuple[LinkageResult, InferenceResult, np.ndarray | None, list[str]]:
    """Linkage, inference and the journalist's population counts, sharing one attack plan."""
    plan = plan_attack(
        patients, attacker_view,
        fields=cfg.linkage_fields,
        age_column=cfg.age_column,
        admission_column=cfg.admission_column,
        admission_years=cfg.admission_years,
        age_top_code=cfg.age_top_code,
        age_tolerance=cfg.age_tolerance,
        min_field_overlap=cfg.min_field_overlap,
    )
    truth = truth_positions(register, al)
    codes, sizes, skipped = encode_sensitive(patients, _sensitive_columns(release, cfg), cfg.max_sensitive_values)
    cand = match(plan, attacker_view, truth=truth, values=codes, n_values=sizes, max_pairs=cfg.max_candidate_pairs)
    leak_fields = {f: categories[f] for f in FIELD_KINDS if f in categories}
    claims = claim(plan, attacker_view, cand, cfg.linkage_passes, cfg.max_candidate_pairs)
    linkage = score_linkage(plan, cand, attacker_view, truth, al, source_patients(source), leak_fields,
                            claimed=claims.patient, passes=claims.per_pass(truth))
    inference = infer_attributes(claimed_view(cand, claims.patient, codes), truth, codes,
                                 cfg.inference_threshold, skipped)
    try:
        everyone = _superset(source, register)
    except SchemaError:
        return linkage, inference, None, []
    jc = match(plan, everyone, max_pairs=cfg.max_candidate_pairs)
    return linkage, inference, jc.p_count, plan.used
