"""docs/models.md, "Scaling": does scikit-learn's MinMaxScaler / SimpleImputer reproduce FeaturePipeline's
scaled features bit for bit on the make-run cohort? 3 random 80/20 patient splits; prints differing cells."""
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler as SkMinMax

from privhealth.models import features as F

# run: .venv/bin/python benchmarks/scaler_vs_sklearn.py (about a minute)

with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
    cfg = compose(config_name="config")
ds = instantiate(cfg.data, _convert_="all")
frame, schema = ds.frame, ds.schema
ids = frame[schema.entity].unique()
rng = np.random.default_rng(0)
tot = {"tab": 0, "seq": 0}
diff = {"tab": 0, "seq": 0, "tab32": 0, "seq32": 0}
for fold in range(3):
    test_ids = rng.choice(ids, size=len(ids) // 5, replace=False)
    te = frame[schema.entity].isin(test_ids)
    tr_f, te_f = frame[~te], frame[te]
    p = F.FeaturePipeline(schema).fit(tr_f)
    win_tr, win_te = p._window(tr_f), p._window(te_f)
    for kind, tr_raw, te_raw, scaler, med in [
        ("tab", p._tabular_raw(win_tr)[0], p._tabular_raw(win_te)[0], p._tab_scaler, p._tab_median),
        ("seq", p._sequence_rows(win_tr), p._sequence_rows(win_te), p._seq_scaler, p._seq_median),
    ]:
        ours = scaler.transform(F.impute(te_raw, med))
        imp = SimpleImputer(strategy="median", keep_empty_features=True).fit(tr_raw)
        sk = SkMinMax(clip=True).fit(imp.transform(tr_raw))
        theirs = sk.transform(imp.transform(te_raw))
        tot[kind] += ours.size
        diff[kind] += int((ours != theirs).sum())
        diff[kind + "32"] += int((ours.astype(np.float32) != theirs.astype(np.float32)).sum())
        const = (scaler.max_ - scaler.min_) == 0
        print(fold, kind, "cells", ours.size, "f64 differ", int((ours != theirs).sum()),
              "f32 differ", int((ours.astype(np.float32) != theirs.astype(np.float32)).sum()),
              "median differ from np.nanmedian", int((imp.statistics_ != np.where(np.isnan(tr_raw).all(0), 0.0, np.nanmedian(np.where(np.isnan(tr_raw).all(0), 0.0, tr_raw), axis=0))).sum()),
              "constant cols", int(const.sum()),
              "const-col cells differ", int((ours[:, const] != theirs[:, const]).sum()))
print("total", tot, diff)
