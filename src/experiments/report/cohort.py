"""Cohort tables: Fig. 6 for every release of the sweep and Table 2 (before vs after), measured."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privhealth.experiments.report.writer import (
    NOT_MEASURED,
    Section,
    Writer,
    counts,
    fmt,
    thr,
)
from privhealth.experiments.report_data import Store, Sweep

RISK_METRICS = ("risk/pii_leakage", "risk/linkage_reid_rate", "risk/prosecutor_max", "risk/prosecutor_avg",
                "risk/records_at_risk", "risk/inference_rate")


@dataclass
class ReleaseInfo:
    """What the report reads per release (job): its description, config and privacy report."""

    variant: str
    run_id: str
    release: dict[str, Any] | None
    config: dict[str, Any] | None
    privacy: dict[str, Any] | None
    thresholds: dict[str, float]


def release_infos(store: Store, sweep: Sweep) -> dict[str, ReleaseInfo]:
    """release.json, config.yaml and privacy/report.json of every job (artifacts of its run)."""
    import yaml

    out = {}
    for _, job in sweep.jobs.iterrows():
        rid, first = str(job["run_id"]), str(job["first_model_run"])
        rel = store.json(rid, "release.json") or store.json(first, "release.json")
        cfg_text = store.text(rid, "config.yaml") or store.text(first, "config.yaml")
        cfg = yaml.safe_load(cfg_text) if cfg_text else None
        priv = store.json(rid, "privacy/report.json") or store.json(first, "privacy/report.json")
        params = sweep.params.get(first, {})
        th = {k: float(params[f"privacy.thresholds.{k}"]) for k in ("k", "l", "t")
              if params.get(f"privacy.thresholds.{k}") not in (None, "None")}
        out[str(job["variant"])] = ReleaseInfo(str(job["variant"]), rid, rel, cfg, priv, th)
    return out


def cohort_privacy_section(w: Writer, sweep: Sweep, infos: Mapping[str, ReleaseInfo]) -> Section:
    """Fig. 6 for every release of the sweep: k, l, t against the thresholds, per class worst."""
    s = Section("Fig. 6 for the cohort releases")
    rows, attrs = [], []
    for v in sweep.variants:
        th = infos[v].thresholds if v in infos else {}
        m = {k: sweep.metric(v, f"privacy/{k}") for k in
             ("k", "l_distinct", "l_entropy", "l_recursive", "t_emd", "t_kl", "n_classes", "n_entities",
              "suppressed_fraction")}
        row = {"release": v, "k": m["k"], f"k>={thr(th.get('k'))}": _meets(m["k"], th.get("k"), ">="),
               "l (distinct)": m["l_distinct"], f"l>={thr(th.get('l'))}": _meets(m["l_distinct"], th.get("l"), ">="),
               "l (entropy, exp H)": m["l_entropy"], "t (EMD)": m["t_emd"],
               f"EMD<={thr(th.get('t'))}": _meets(m["t_emd"], th.get("t"), "<="), "t (KL, nats)": m["t_kl"],
               f"KL<={thr(th.get('t'))}": _meets(m["t_kl"], th.get("t"), "<="), "classes": m["n_classes"],
               "patients": m["n_entities"], "suppressed": m["suppressed_fraction"]}
        rows.append(row)
        priv = infos[v].privacy if v in infos else None
        for a, r in ((priv or {}).get("attributes") or {}).items():
            attrs.append({"release": v, "attribute": a, **{k: r.get(k) for k in
                          ("l_distinct", "l_entropy", "l_recursive", "t_emd", "distance", "t_kl")}})
        if priv is None:
            s.missing.append(f"privacy/report.json of release '{v}'")
    table = counts(pd.DataFrame(rows), ["k", "l (distinct)", "classes", "patients"])
    s.add(
        "Worst class per release, classes counted in patients (the paper's Fig. 6 reads 'satisfied?' the "
        "same way). t is measured both as EMD (ordered distance, the framework's t) and as KL (the paper's).",
        w.table(table, "fig6_cohort", "Fig. 6 for the cohort releases (worst equivalence class)"),
    )
    if attrs:
        s.add(w.table(pd.DataFrame(attrs), "fig6_cohort_attributes",
                      "Fig. 6 per sensitive attribute (worst class; from privacy/report.json)"))
    else:
        s.not_measured("no privacy/report.json artifact in the sweep's runs")
    return s


def _meets(value: float, threshold: float | None, op: str) -> bool | float:
    if threshold is None or math.isnan(value):
        return float("nan")
    return value >= threshold if op == ">=" else value <= threshold + 1e-12


def describe_level(spec: Mapping[str, Any] | None, level: int) -> str:
    """A generalization level in words: 'exact', '10-wide bands', 'first 3 digits', 'year', '*'."""
    if level == 0:
        return "exact"
    if not spec:
        return f"level {level}"
    kind = spec.get("type")
    steps = list(spec.get("keep") or spec.get("levels") or [])
    if level > len(steps):
        return "suppressed (*)"
    v = steps[level - 1]
    if kind == "intervals":
        return f"{v:g}-wide bands" if isinstance(v, int | float) else "custom bands"
    if kind == "prefix":
        return f"first {v} digit{'s' if v != 1 else ''}"
    if kind == "dates":
        return str(v)
    return f"level {level}"


def qi_description(info: ReleaseInfo, quasi: Sequence[str]) -> str:
    """How each quasi-identifier was released (levels of the release's hierarchies)."""
    rel, cfg = info.release or {}, (info.config or {}).get("anon") or {}
    if not rel.get("steps") and not rel.get("search") and not rel.get("mondrian"):
        return "exact: " + ", ".join(quasi) if quasi else NOT_MEASURED
    if "mondrian" in rel:
        return f"Mondrian partitions (local recoding of {', '.join(quasi)}): {rel['mondrian'].get('n_classes')} classes"
    levels: dict[str, int] = {}
    specs: dict[str, Any] = {}
    if "search" in rel:
        levels = dict(rel["search"].get("levels") or {})
        specs = dict(cfg.get("hierarchies") or {})
    for st in rel.get("steps") or []:
        if st.get("step") == "Generalizer":
            levels.update(st.get("levels") or {})
    for st in cfg.get("steps") or []:
        if str(st.get("_target_", "")).endswith("Generalizer"):
            specs.update(st.get("hierarchies") or {})
    return "; ".join(f"{q} {describe_level(specs.get(q), int(levels.get(q, 0)))}" for q in quasi)


def pii_treatment(release: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """How direct identifiers were treated, and which columns the identifier steps touched."""
    parts, cols = [], []
    for st in (release or {}).get("steps") or []:
        step = st.get("step")
        if step == "Pseudonymizer":
            parts.append(f"pseudonymized ({st.get('scheme', '?')}): {', '.join(st.get('columns', []))}")
            cols += list(st.get("columns", []))
        elif step == "Masker":
            parts.append(f"masked: {', '.join(st.get('rules', {}))}")
            cols += list(st.get("rules", {}))
        elif step == "DropColumns":
            parts.append(f"dropped: {', '.join(st.get('columns', []))}")
            cols += list(st.get("columns", []))
    return "; ".join(parts), cols


PAPER_TABLE2 = {
    "PII (direct identifiers)": ("Patient ID, Name, Address, Phone Number present", "Replaced with synthetic codes or removed"),
    "PII leakage (Eq. 15)": ("Not calculated", "Leakage ~ 0"),
    "Quasi-identifiers": ("Age, ZIP code, Gender, Date of Birth exact", "Generalized or clustered (age ranges, ZIP regions)"),
    "k (smallest class, patients)": ("High risk: individuals may be uniquely identifiable", "Low: k-anonymity ensures minimum group size"),
    "Re-identification: linkage attack": ("", ""),
    "Re-identification: prosecutor max / avg": ("", ""),
    "Records at risk": ("", ""),
    "Sensitive attributes: l (distinct; entropy)": ("Medical diagnosis, lab results, medications", "Preserved, with diversity constraints; H >= log(l)"),
    "Sensitive attributes: t (EMD; KL)": ("", "Delta(P_G, P_D) <= t"),
    "Attribute inference rate": ("", ""),
    "Suppressed patients": ("", ""),
    "Information loss (NCP; ARX loss)": ("", ""),
    "Utility retained: F1 anon/raw per model": ("High for analysis, but privacy compromised", "Retained for predictive modelling (U >= tau)"),
    "Utility retained: AUROC anon/raw per model": ("", ""),
    "Transformation method": ("None", "Pseudonymization, suppression, masking, generalization"),
}


def table2_section(w: Writer, sweep: Sweep, infos: Mapping[str, ReleaseInfo]) -> Section:
    """Table 2, before vs after anonymization, with a measured value per row and release."""
    s = Section("Table 2: before vs after anonymization, measured")
    variants = sweep.variants
    treated = sorted({c for v in variants for c in pii_treatment((infos.get(v) or _EMPTY).release)[1]})
    cols: dict[str, dict[str, str]] = {}
    for v in variants:
        info = infos.get(v) or ReleaseInfo(v, "", None, None, None, {})
        priv = info.privacy or {}
        quasi = list(priv.get("quasi_identifiers") or [])
        m = lambda key, v=v: sweep.metric(v, key)  # noqa: E731
        models = sweep.models(v)
        raw = bool(sweep.jobs.loc[sweep.jobs["variant"] == v, "is_raw"].iloc[0])
        pii, _ = pii_treatment(info.release)
        sizes = priv.get("class_sizes") or {}
        k = m("privacy/k")
        unique = sizes.get("1", 0)
        k_text = NOT_MEASURED if math.isnan(k) else (
            f"k={int(k)} (1/k={1 / k:.2f}); {unique} of {priv.get('n_entities', '?')} patients unique on the QIs")
        per_model = lambda key, models=models: ", ".join(  # noqa: E731
            f"{r['model']} {fmt(r.get(key, np.nan), 2)}" for _, r in models.iterrows()) or NOT_MEASURED
        cols[v] = {
            "PII (direct identifiers)": (f"in clear: {', '.join(treated)}" if raw and treated else pii or "in clear"),
            "PII leakage (Eq. 15)": fmt(m("risk/pii_leakage")),
            "Quasi-identifiers": qi_description(info, quasi) if info.release else NOT_MEASURED,
            "k (smallest class, patients)": k_text,
            "Re-identification: linkage attack": fmt(m("risk/linkage_reid_rate")),
            "Re-identification: prosecutor max / avg": _pair(m("risk/prosecutor_max"), m("risk/prosecutor_avg")),
            "Records at risk": fmt(m("risk/records_at_risk")),
            "Sensitive attributes: l (distinct; entropy)": _pair(m("privacy/l_distinct"), m("privacy/l_entropy"), True),
            "Sensitive attributes: t (EMD; KL)": _pair(m("privacy/t_emd"), m("privacy/t_kl")),
            "Attribute inference rate": fmt(m("risk/inference_rate")),
            "Suppressed patients": fmt(m("privacy/suppressed_fraction")),
            "Information loss (NCP; ARX loss)": ("0; 0 (raw)" if raw else _pair(m("utility/ncp"), m("utility/arx_loss"))),
            "Utility retained: F1 anon/raw per model": "1 (raw)" if raw else per_model("utility/f1_retained"),
            "Utility retained: AUROC anon/raw per model": "1 (raw)" if raw else per_model("utility/auroc_retained"),
            "Transformation method": ", ".join(st.get("step", "?") for st in (info.release or {}).get("steps") or [])
            or ("none" if raw else NOT_MEASURED),
        }
    rows = []
    for aspect, (before, after) in PAPER_TABLE2.items():
        rows.append({"aspect": aspect, "paper: before": before or "-", "paper: after": after or "-",
                     **{f"measured: {v}": cols[v][aspect] for v in variants}})
    table = pd.DataFrame(rows)
    missing_risk = [r for r in RISK_METRICS if all(math.isnan(sweep.metric(v, r)) for v in variants)]
    s.add(
        "One column per release of the sweep (`none` is the raw data measured the same way: the "
        "'before' column). Risk rows come from the attack module's `risk/*` metrics.",
        w.table(table, "table2_before_after", "Table 2: before vs after anonymization (paper and measured)"),
    )
    if missing_risk:
        s.not_measured(f"{', '.join(missing_risk)} (no attack results in the store: the risk module did not run)")
    release_metrics = sweep.jobs[[c for c in sweep.jobs.columns if c == "variant" or c.startswith(("privacy/", "risk/", "utility/"))]]
    w.table(release_metrics, "release_metrics", "Release-level metrics per release (raw values)")
    s.add("Every release-level metric as logged: [release_metrics.csv](release_metrics.csv).")
    return s


_EMPTY = ReleaseInfo("", "", None, None, None, {})


def _pair(a: float, b: float, first_is_count: bool = False) -> str:
    first = fmt(int(a)) if first_is_count and not math.isnan(a) else fmt(a)
    return f"{first}; {fmt(b)}"

