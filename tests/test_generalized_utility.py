"""Generalized values the models can read: a Mondrian release with narrow age ranges keeps the
raw model's AUROC when ranges are read as midpoints, and loses it under the paper's one-hot reading.

The cohort is built so that age carries the signal (90-day mortality ~ logistic in age, plus
a weak sex effect); both models are scored on the same held-out patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from privhealth.anon.enforce import EnforcedAnonymizer
from privhealth.data.intervals import parse_ranges
from privhealth.data.schema import Dataset, TableSchema
from privhealth.models.evaluation import bootstrap_ci
from privhealth.models.features import FeaturePipeline, TaskConfig

SCHEMA = TableSchema.from_dict({
    "icustayid": {"role": "entity", "kind": "integer"},
    "bloc": {"role": "time", "kind": "integer"},
    "age": {"role": "quasi", "kind": "numeric"},
    "gender": {"role": "quasi", "kind": "binary"},
    "noise": {"role": "insensitive", "kind": "numeric"},
    "mortality_90d": {"role": "target", "kind": "binary"},
})


def _cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 95, n).round(1)
    gender = rng.integers(0, 2, n)
    risk = 1 / (1 + np.exp(-((age - 60) / 6 + 0.3 * gender)))
    return pd.DataFrame({
        "icustayid": np.arange(n), "bloc": 1, "age": age, "gender": gender,
        "noise": rng.normal(size=n), "mortality_90d": (rng.random(n) < risk).astype(int),
    })


def _auroc(schema: TableSchema, frame: pd.DataFrame, train: np.ndarray, mode: str) -> tuple[float, np.ndarray, np.ndarray]:
    is_train = frame["icustayid"].isin(train)
    pipe = FeaturePipeline(schema, TaskConfig(generalized=mode)).fit(frame[is_train])
    tr, te = pipe.transform(frame[is_train], "tabular"), pipe.transform(frame[~is_train], "tabular")
    model = LogisticRegression(max_iter=2000).fit(tr.X, tr.y)
    p = model.predict_proba(te.X)[:, 1]
    return float(roc_auc_score(te.y, p)), te.y, p


@pytest.fixture(scope="module")
def setting():
    frame = _cohort(2400, seed=7)
    ds = Dataset(SCHEMA.validate(frame), SCHEMA, "age_signal")
    release = EnforcedAnonymizer("mondrian", k=5, suppression=0.0, target_is_sensitive=False).anonymize(ds)
    train = np.arange(1600)
    return ds, release, train


def test_narrow_mondrian_ranges_keep_utility_with_midpoints_not_one_hot(setting):
    ds, release, train = setting
    assert len(release.frame) == len(ds.frame)  # nobody suppressed: the same test patients
    ranges = parse_ranges(release.frame["age"].astype(object))
    width = (ranges["hi"] - ranges["lo"]).median()
    assert width < 3.0  # narrow age ranges (years)
    raw, y, p = _auroc(ds.schema, ds.frame, train, "midpoint")
    lo, hi = bootstrap_ci(y, p, 0.5, n_resamples=1000, seed=0)["auroc"]
    mid = _auroc(release.schema, release.frame, train, "midpoint")[0]
    bounds = _auroc(release.schema, release.frame, train, "bounds")[0]
    onehot = _auroc(release.schema, release.frame, train, "onehot")[0]
    print(f"raw {raw:.3f} [{lo:.3f}, {hi:.3f}]; mondrian k=5 midpoint {mid:.3f}, bounds {bounds:.3f}, "
          f"onehot {onehot:.3f}; median age range width {width:.2f} y")
    assert lo <= mid <= hi and lo <= bounds <= hi
    assert onehot < lo
    assert raw - onehot > 0.1  # the one-hot reading loses most of age's signal


def test_deploy_style_mapping_reads_the_same(setting):
    """Held-out raw records mapped by Release.apply read as numbers like the released rows."""
    ds, release, train = setting
    applied = release.apply(ds.frame)
    pipe = FeaturePipeline(release.schema, TaskConfig()).fit(release.frame)
    a = pipe.transform(applied, "tabular")
    b = pipe.transform(release.frame, "tabular")
    np.testing.assert_array_equal(a.X, b.X)
