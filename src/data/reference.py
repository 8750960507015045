"""Reference scales that turn the icu-sepsis cluster centres (z-scores) back into clinical units.

The AI Clinician pipeline (Komorowski et al. 2018) standardised 47 features before clustering:
four "binary" ones as ``raw - 0.5``, 32 as z-scores of the raw value and eleven as z-scores of
``log(raw + 0.1)``. The icu-sepsis package ships the cluster centres in that encoding but not
the means and standard deviations used, and those are not published as a table anywhere.

HONEST CAVEAT: the means and SDs below are *approximate literature / clinical values*, chosen
to be consistent with published descriptions of adult MIMIC-III Sepsis-3 cohorts (Komorowski et
al. 2018, Nature Medicine, and its supplement; Raghu et al. 2017; MIMIC-III sepsis cohort
papers) and with standard ICU reference ranges. They were NOT extracted from MIMIC-III. The one
exception is SOFA, whose scale is fitted to the package's own ``sofa_scores`` (see its row).
Each row says where its numbers come from (``source``); ``reference_table()`` lists them.

For ``log`` features, ``mean`` and ``sd`` are those of ``log(x + 0.1)``; the comment gives the
typical value ``exp(mean) - 0.1``. ``lo``/``hi`` are the physiological clip range applied after
de-standardisation; ``decimals`` the rounding of the emitted value.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import pandas as pd

Encoding = Literal["binary", "z", "log"]


class Ref(NamedTuple):
    """Scale of one feature: its AI Clinician encoding, reference mean/SD, clip range and source."""

    feature: str
    encoding: Encoding
    mean: float
    sd: float
    unit: str
    lo: float
    hi: float
    decimals: int
    source: str


# The 47 features of icu-sepsis' state_cluster_centers, in the package's column order.
FEATURES_47: tuple[str, ...] = (
    "gender", "mechvent", "max_dose_vaso", "re_admission",
    "age", "Weight_kg", "GCS", "HR", "SysBP", "MeanBP", "DiaBP", "RR", "Temp_C", "FiO2_1",
    "Potassium", "Sodium", "Chloride", "Glucose", "Magnesium", "Calcium", "Hb", "WBC_count",
    "Platelets_count", "PTT", "PT", "Arterial_pH", "paO2", "paCO2", "Arterial_BE", "HCO3",
    "Arterial_lactate", "SOFA", "SIRS", "Shock_Index", "PaO2_FiO2", "cumulated_balance",
    "SpO2", "BUN", "Creatinine", "SGOT", "SGPT", "Total_bili", "INR",
    "input_total", "input_4hourly", "output_total", "output_4hourly",
)  # fmt: skip

_CLIN = (
    "approximate: typical adult ICU sepsis value and spread (clinical reference ranges; "
    "consistent with MIMIC-III sepsis cohort descriptions, e.g. Komorowski 2018 suppl., "
    "Raghu 2017); not extracted from MIMIC"
)
_LOG = (
    "approximate: mean/SD of log(x + 0.1) around a typical ICU sepsis value (clinical ranges; "
    "MIMIC-III sepsis cohort descriptions); not extracted from MIMIC"
)
_FLUID = (
    "approximate: mean/SD of log(x + 0.1); order of magnitude of fluid balances reported for "
    "the AI Clinician cohort (Komorowski 2018 suppl.); not extracted from MIMIC"
)
_BINARY = "none needed: encoded as raw - 0.5, inverted exactly"
_DERIVED = "not used for generation: computed from other simulated columns"
_ACTION = "not used for generation: taken from the dose bin of the sampled clinician action"

REFERENCE: tuple[Ref, ...] = (
    Ref("gender", "binary", 0.0, 1.0, "0 = male, 1 = female", 0, 1, 0, _BINARY),
    Ref("mechvent", "binary", 0.0, 1.0, "0/1", 0, 1, 0, _BINARY),
    Ref("max_dose_vaso", "binary", 0.0, 1.0, "µg/kg/min", 0, 5, 3, _ACTION),
    Ref("re_admission", "binary", 0.0, 1.0, "0/1", 0, 1, 0,
        _BINARY + " (after removing icu-sepsis' +0.6 offset)"),
    Ref("age", "z", 65.0, 16.0, "years", 18, 100, 4,
        "approximate: adult MIMIC-III sepsis cohorts report a median age of about 66 y; "
        "mean 65 / SD 16 chosen to match; not extracted from MIMIC"),
    Ref("Weight_kg", "z", 80.0, 22.0, "kg", 30, 250, 1, _CLIN),
    Ref("GCS", "z", 12.0, 4.0, "points", 3, 15, 0, _CLIN),
    Ref("HR", "z", 88.0, 18.0, "beats/min", 30, 220, 0, _CLIN),
    Ref("SysBP", "z", 120.0, 21.0, "mmHg", 50, 250, 0, _CLIN),
    Ref("MeanBP", "z", 79.0, 14.0, "mmHg", 25, 190, 0, _CLIN),
    Ref("DiaBP", "z", 60.0, 12.0, "mmHg", 15, 150, 0, _CLIN),
    Ref("RR", "z", 20.5, 5.5, "breaths/min", 4, 60, 0, _CLIN),
    Ref("Temp_C", "z", 36.9, 0.75, "°C", 32, 42, 1, _CLIN),
    Ref("FiO2_1", "z", 0.48, 0.18, "fraction", 0.21, 1.0, 2, _CLIN),
    Ref("Potassium", "z", 4.05, 0.6, "mmol/L", 1.5, 9, 1, _CLIN),
    Ref("Sodium", "z", 139.0, 5.0, "mmol/L", 110, 175, 0, _CLIN),
    Ref("Chloride", "z", 105.0, 6.5, "mmol/L", 75, 140, 0, _CLIN),
    Ref("Glucose", "z", 140.0, 50.0, "mg/dL", 20, 1200, 0, _CLIN),
    Ref("Magnesium", "z", 2.05, 0.35, "mg/dL", 0.5, 6, 1, _CLIN),
    Ref("Calcium", "z", 8.3, 0.75, "mg/dL", 4, 15, 1, _CLIN),
    Ref("Hb", "z", 10.2, 1.9, "g/dL", 3, 20, 1, _CLIN),
    Ref("WBC_count", "z", 12.5, 7.0, "10^9/L", 0.1, 150, 1, _CLIN),
    Ref("Platelets_count", "z", 210.0, 115.0, "10^9/L", 2, 1200, 0, _CLIN),
    Ref("PTT", "z", 38.0, 14.0, "s", 15, 150, 1, _CLIN),
    Ref("PT", "z", 15.5, 5.0, "s", 8, 100, 1, _CLIN),
    Ref("Arterial_pH", "z", 7.39, 0.07, "pH", 6.8, 7.8, 2, _CLIN),
    Ref("paO2", "z", 120.0, 60.0, "mmHg", 30, 600, 0, _CLIN),
    Ref("paCO2", "z", 41.0, 9.0, "mmHg", 10, 130, 0, _CLIN),
    Ref("Arterial_BE", "z", -0.3, 4.5, "mmol/L", -30, 30, 1, _CLIN),
    Ref("HCO3", "z", 24.3, 4.5, "mmol/L", 3, 55, 0, _CLIN),
    Ref("Arterial_lactate", "z", 1.9, 1.4, "mmol/L", 0.3, 25, 1, _CLIN),
    Ref("SOFA", "z", 6.35, 3.45, "points", 0, 24, 0,
        "fitted: least-squares line of icu-sepsis sofa_scores (raw SOFA per state) on the SOFA "
        "cluster centres; the only scale the package itself reveals"),
    Ref("SIRS", "z", 1.6, 0.95, "criteria", 0, 4, 0, _CLIN),
    Ref("Shock_Index", "z", 0.75, 0.22, "HR/SysBP", 0.1, 4, 3, _DERIVED + " (HR / SysBP)"),
    Ref("PaO2_FiO2", "z", 280.0, 130.0, "mmHg", 30, 2800, 1, _DERIVED + " (paO2 / FiO2_1)"),
    Ref("cumulated_balance", "z", 3000.0, 5000.0, "mL", -1e5, 1e5, 0,
        _DERIVED + " (input_total - output_total)"),
    Ref("SpO2", "log", 4.5755, 0.035, "%  (typical 96.9)", 50, 100, 0, _LOG),
    Ref("BUN", "log", 3.26, 0.70, "mg/dL  (typical 26)", 1, 250, 0, _LOG),
    Ref("Creatinine", "log", 0.262, 0.65, "mg/dL  (typical 1.2)", 0.1, 20, 1, _LOG),
    Ref("SGOT", "log", 3.81, 1.10, "IU/L  (typical 45)", 5, 10000, 0, _LOG),
    Ref("SGPT", "log", 3.56, 1.10, "IU/L  (typical 35)", 3, 10000, 0, _LOG),
    Ref("Total_bili", "log", 0.0, 0.90, "mg/dL  (typical 0.9)", 0.1, 60, 1, _LOG),
    Ref("INR", "log", 0.372, 0.30, "ratio  (typical 1.35)", 0.8, 15, 2, _LOG),
    Ref("input_total", "log", 8.0, 1.6, "mL  (typical 3,000)", 0, 1e5, 0,
        _FLUID + "; used only for the pre-ICU amount at bloc 1, then cumulated"),
    Ref("input_4hourly", "log", 3.0, 2.9, "mL/4h", 0, 2e4, 0, _ACTION),
    Ref("output_total", "log", 7.6, 1.4, "mL  (typical 2,000)", 0, 1e5, 0,
        _FLUID + "; used only for the pre-ICU amount at bloc 1, then cumulated"),
    Ref("output_4hourly", "log", 5.0, 1.5, "mL/4h  (typical 150)", 0, 1e4, 0, _FLUID),
)  # fmt: skip

REF: dict[str, Ref] = {r.feature: r for r in REFERENCE}
assert tuple(REF) == FEATURES_47, "REFERENCE must follow the icu-sepsis feature order"

# Action bins of the AI Clinician MDP (action = 5 * fluid_bin + vaso_bin; bin 0 = none, bins 1-4
# the quartiles of non-zero doses). Approximate bin edges chosen so that the geometric bin
# midpoints are close to the bin medians reported by Komorowski et al. 2018 (fluids ≈ 30, 80,
# 220, 810 mL/4h; vasopressors ≈ 0.04, 0.13, 0.27, 0.8 µg/kg/min norepinephrine-equivalent).
FLUID_BIN_EDGES: tuple[tuple[float, float], ...] = ((8, 55), (55, 125), (125, 400), (400, 1800))
VASO_BIN_EDGES: tuple[tuple[float, float], ...] = (
    (0.01, 0.08),
    (0.08, 0.2),
    (0.2, 0.45),
    (0.45, 1.5),
)

# van Walraven et al. 2009 (Med Care 47:626) weights of the 30 Elixhauser comorbidities, with
# approximate ICU prevalences (assumptions for simulation, not MIMIC figures).
ELIXHAUSER: tuple[tuple[str, int, float], ...] = (
    ("congestive_heart_failure", 7, 0.25), ("cardiac_arrhythmias", 5, 0.33),
    ("valvular_disease", -1, 0.08), ("pulmonary_circulation", 4, 0.05),
    ("peripheral_vascular", 2, 0.08), ("hypertension", 0, 0.45), ("paralysis", 7, 0.03),
    ("other_neurological", 6, 0.10), ("chronic_pulmonary", 3, 0.20),
    ("diabetes_uncomplicated", 0, 0.22), ("diabetes_complicated", 0, 0.07),
    ("hypothyroidism", 0, 0.10), ("renal_failure", 5, 0.18), ("liver_disease", 11, 0.09),
    ("peptic_ulcer", 0, 0.02), ("aids", 0, 0.01), ("lymphoma", 9, 0.03),
    ("metastatic_cancer", 12, 0.07), ("solid_tumor", 4, 0.06), ("rheumatoid_arthritis", 0, 0.03),
    ("coagulopathy", 3, 0.15), ("obesity", -4, 0.07), ("weight_loss", 6, 0.06),
    ("fluid_electrolyte", 5, 0.40), ("blood_loss_anemia", -2, 0.02),
    ("deficiency_anemias", -2, 0.15), ("alcohol_abuse", 0, 0.07), ("drug_abuse", -7, 0.03),
    ("psychoses", 0, 0.02), ("depression", -3, 0.08),
)  # fmt: skip


def reference_table() -> pd.DataFrame:
    """The reference scales as a table (one row per feature), e.g. for docs or a run's artifacts."""
    return pd.DataFrame([r._asdict() for r in REFERENCE])
