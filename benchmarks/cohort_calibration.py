"""Calibration of the simulated cohort against published MIMIC-III sepsis figures (issue 14).

Run: .venv/bin/python benchmarks/cohort_calibration.py [--quick]

On fresh simulated patients (a seed not used for training): 90-day mortality, mortality by age
band, univariate AUROC of age and of the first-24-h maximum SOFA, the AUROC of XGBoost trained on
the default-size cohort (conf/data/simulated.yaml) and scored on the fresh patients, and the
exact Bayes ceiling of the default task (conf/task/mortality.yaml), with frailty on and off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Section, cli, table, verdict

from privhealth.data.ceiling import bayes_ceiling
from privhealth.data.simulator import chain_thetas, simulate_cohort
from privhealth.models.features import FeaturePipeline, TaskConfig
from privhealth.models.tabular import XGBoostModel

FRESH_SEED = 20_260_514  # never a training seed of the configs
AGE_BANDS = ((0, 60, "<60"), (60, 70, "60-69"), (70, 80, "70-79"), (80, 200, ">=80"))
# Published figures, each with its source (docs/data.md cites them in full).
PUBLISHED = {
    "mortality": "28-day 17.9% (5,783 MIMIC-III sepsis pts, Lu et al.); 30-day 19.5% (Hou 2020)",
    "bands": {"<60": 0.118, "60-69": 0.146, "70-79": 0.212, ">=80": 0.268},  # 28-day, same source
    "age_auroc": "≈0.60-0.65 (implied by the age-band mortality above)",
    "sofa_auroc": "0.68 (max day-3 SOFA, MIMIC-III CareVue Sepsis-3, in-hospital)",
    "xgb_auroc": "0.857 XGBoost, 0.819 LR, 0.797 SAPS-II (Hou 2020, 30-day)",
}


def _conf(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(REPO / "conf" / name), resolve=False)  # type: ignore[return-value]


def _stays(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """One row per stay: age, outcome and the maximum SOFA over the first ``window`` blocs."""
    first = frame[frame["bloc"] <= window]
    stays = frame.drop_duplicates("icustayid").set_index("icustayid")[["age", "mortality_90d"]]
    return stays.join(first.groupby("icustayid")["SOFA"].max().rename("max_sofa"))


def _xgboost_auroc(train: pd.DataFrame, test: pd.DataFrame, schema, task: TaskConfig, seed: int) -> float:
    """AUROC on ``test`` of XGBoost (conf/model/xgboost.yaml) fitted on 80% of ``train``, early-stopped on 20%."""
    ids = train["icustayid"].unique()
    val_ids = np.random.default_rng(seed).choice(ids, size=len(ids) // 5, replace=False)
    is_val = train["icustayid"].isin(val_ids)
    feats = FeaturePipeline(schema, task).fit(train[~is_val])
    params = {k: v for k, v in _conf("model/xgboost.yaml").items() if k != "_target_"}
    params.update(device="cpu", n_jobs=2)
    model = XGBoostModel(**params).fit(feats.transform(train[~is_val], "tabular"),
                                       feats.transform(train[is_val], "tabular"), seed=seed)
    x_test = feats.transform(test, "tabular")
    return float(roc_auc_score(x_test.y, model.predict_proba(x_test)))


def measure(frailty: float, n_train: int, n_test: int, seed: int = 0) -> dict:
    """The calibration figures of one frailty setting (``n_train`` 0: no XGBoost)."""
    task = TaskConfig.from_mapping(_conf("task/mortality.yaml"))
    fresh = simulate_cohort(n_test, seed=FRESH_SEED, identifiers=False, frailty=frailty)
    stays = _stays(fresh.frame, task.window_blocs)
    y = stays["mortality_90d"].to_numpy()
    bands = {label: float(y[(stays["age"] >= lo) & (stays["age"] < hi)].mean()) for lo, hi, label in AGE_BANDS}
    out = {
        "mortality": float(y.mean()),
        "bands": bands,
        "age_auroc": float(roc_auc_score(y, stays["age"])),
        "sofa_auroc": float(roc_auc_score(y, stays["max_sofa"])),
        "ceiling": bayes_ceiling(chain_thetas(frailty), task.window_blocs),
        "xgb_auroc": None,
    }
    if n_train:
        train = simulate_cohort(n_train, seed=seed, identifiers=False, frailty=frailty)
        out["xgb_auroc"] = _xgboost_auroc(train.frame, fresh.frame, fresh.schema, task, seed)
    return out


def run(quick: bool = False) -> Section:
    data = _conf("data/simulated.yaml")
    n_train = 300 if quick else int(data["n_patients"])
    n_test = 1_000 if quick else 20_000
    on = measure(float(data["frailty"]), n_train, n_test)
    off = measure(0.0, n_train, n_test)
    f = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    rows = [
        ["90-day mortality", f(on["mortality"]), f(off["mortality"]), PUBLISHED["mortality"]],
        *[[f"mortality, age {b}", f(on["bands"][b]), f(off["bands"][b]), f"{PUBLISHED['bands'][b]:.3f} (28-day)"]
          for b in on["bands"]],
        ["AUROC age alone", f(on["age_auroc"]), f(off["age_auroc"]), PUBLISHED["age_auroc"]],
        ["AUROC max SOFA, first 24 h", f(on["sofa_auroc"]), f(off["sofa_auroc"]), PUBLISHED["sofa_auroc"]],
        [f"AUROC XGBoost, raw, trained on {n_train:,}", f(on["xgb_auroc"]), f(off["xgb_auroc"]), PUBLISHED["xgb_auroc"]],
        ["Bayes ceiling AUROC (oracle)", f(on["ceiling"].auroc), f(off["ceiling"].auroc), "—"],
        ["Bayes ceiling best F1 / accuracy", f"{on['ceiling'].f1:.3f} / {on['ceiling'].accuracy:.3f}",
         f"{off['ceiling'].f1:.3f} / {off['ceiling'].accuracy:.3f}", "—"],
    ]
    body = (
        f"{n_test:,} fresh simulated patients (seed {FRESH_SEED}); XGBoost (conf/model/xgboost.yaml, CPU) "
        f"trained on {n_train:,} patients of seed 0 (80% fit, 20% early stopping); task: 90-day mortality "
        "from the first 24 h. The ceiling is exact (population value, no sampling error).\n\n"
        + table(["figure", f"frailty {data['frailty']} (default)", "frailty 0 (pure MDP)", "published"], rows)
    )
    xgb, ceil = on["xgb_auroc"], on["ceiling"].auroc
    verdicts = [
        f"raw XGBoost AUROC {xgb:.3f} ≥ 0.78: {verdict(xgb >= 0.78)}",
        f"within 0.05 of the ceiling {ceil:.3f}: {verdict(ceil - xgb <= 0.05)}",
        f"age alone {on['age_auroc']:.3f} ≥ 0.60: {verdict(on['age_auroc'] >= 0.60)}",
        f"frailty 0 ceiling {off['ceiling'].auroc:.3f} ≈ 0.66-0.67: {verdict(0.64 <= off['ceiling'].auroc <= 0.69)}",
    ]
    return Section("Calibration of the simulated cohort (issue 14)", body, verdicts)


def main() -> None:
    cli(run, __doc__)


if __name__ == "__main__":
    main()
