"""Exact values of ``models.evaluation`` on hand-built cases (issue 17, mutation testing).

Every expected number is worked out in the docstring of its test or computed by scikit-learn /
numpy directly on the redrawn resamples, never by the code under test. Each test names the
mutants of ``tools/mutants.py`` (``module:line kind``, lines of main 6d856a7) it kills.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from privhealth.models.evaluation import (
    METRICS,
    bootstrap_chunk,
    bootstrap_ci,
    bootstrap_metrics,
    classification_metrics,
    fold_summary,
    majority_baseline,
    resample_weights,
    retained_fraction,
    select_threshold,
    weighted_metrics,
)

# four patients: labels, scores (0.3 tied between a positive and a negative), threshold 0.5
Y4 = np.array([1, 0, 0, 1])
P4 = np.array([0.8, 0.6, 0.3, 0.3])
NAN = float("nan")


def _same(got: float, want: float) -> bool:
    return (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)


def test_weighted_metrics_by_hand_including_one_class_and_no_prediction_rows():
    """Rows of case weights W over Y4 = [1, 0, 0, 1], P4 = [.8, .6, .3, .3], threshold 0.5
    (predicted positive: patients 0 and 1).

    - [1,1,1,1]: TP 1 FP 1 FN 1 TN 1 → accuracy/precision/recall/F1/balanced 0.5; AUROC: pairs
      (.8>.6) 1 + (.8>.3) 1 + (.3<.6) 0 + (.3=.3) 0.5 = 2.5/4 = 0.625; AUPRC: at .8 P=1 R=.5, at
      .6 P=.5 R=.5, at .3 P=.5 R=1 → .5·1 + .5·.5 = 0.75; Brier (.04+.36+.09+.49)/4 = 0.245.
    - [0,2,1,0] (negatives only): TP 0 FP 2 TN 1 → accuracy 1/3, precision 0/2 = 0, recall and
      F1 0 (no positive), balanced/AUROC/AUPRC NaN; Brier (2·.36+.09)/3 = 0.27.
    - [2,0,0,1] (positives only): TP 2 FN 1 → accuracy 2/3, precision 1, recall 2/3, F1 4/5,
      balanced/AUROC NaN, AUPRC 1 (every positive ranked above no negative); Brier (2·.04+.49)/3 = 0.19.
    - [0,0,1,1] (nothing predicted positive): FN 1 TN 1 → accuracy .5, precision 0 (0/0 → 0),
      recall 0, F1 0, balanced (0 + 1)/2 = .5, AUROC .5 (one tie), AUPRC .5; Brier (.09+.49)/2 = 0.29.

    Kills evaluation.py:150 GtE->Gt (no score equals 0.5, see the threshold test), :151-154
    mask swaps and dropped ``~``, :156 Add->Sub, :158-162 operator swaps, :164 BitAnd->BitOr,
    :165, :172-177 (AUROC/AUPRC of one-class rows), :190 Gt->GtE (0/0 precision becomes NaN).
    """
    W = np.array([[1, 1, 1, 1], [0, 2, 1, 0], [2, 0, 0, 1], [0, 0, 1, 1]], dtype=float)
    want = {
        "accuracy": [0.5, 1 / 3, 2 / 3, 0.5],
        "precision": [0.5, 0.0, 1.0, 0.0],
        "recall": [0.5, 0.0, 2 / 3, 0.0],
        "f1": [0.5, 0.0, 0.8, 0.0],
        "balanced_accuracy": [0.5, NAN, NAN, 0.5],
        "auroc": [0.625, NAN, NAN, 0.5],
        "auprc": [0.75, NAN, 1.0, 0.5],
        "brier": [0.245, 0.27, 0.19, 0.29],
    }
    got = weighted_metrics(W, Y4, P4, 0.5)
    for k in METRICS:
        for row in range(4):
            assert _same(float(got[k][row]), want[k][row]), (k, row, got[k][row])
    # the two-class rows again from scikit-learn on the expanded samples
    for row in (0, 3):
        idx = np.repeat(np.arange(4), W[row].astype(int))
        assert got["auroc"][row] == pytest.approx(skm.roc_auc_score(Y4[idx], P4[idx]))
        assert got["auprc"][row] == pytest.approx(skm.average_precision_score(Y4[idx], P4[idx]))


def test_a_score_equal_to_the_threshold_is_predicted_positive():
    """y = [1, 0], p = [0.5, 0.2], threshold 0.5: patient 0 is predicted positive (p >= t), so
    accuracy, precision, recall, F1 are all 1. Kills evaluation.py:65 GtE->Gt and :150 GtE->Gt."""
    y, p = np.array([1, 0]), np.array([0.5, 0.2])
    m = classification_metrics(y, p, 0.5)
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0, 1.0)
    w = weighted_metrics(np.ones((1, 2)), y, p, 0.5)
    assert (w["accuracy"][0], w["precision"][0], w["recall"][0], w["f1"][0]) == (1.0, 1.0, 1.0, 1.0)
    one_class = classification_metrics(np.array([0, 0]), p, 0.5)
    assert np.isnan(one_class["auroc"]) and np.isnan(one_class["balanced_accuracy"])
    assert one_class["brier"] == pytest.approx((0.25 + 0.04) / 2)


def test_threshold_with_a_single_positive():
    """y = [1, 0, 0], p = [.9, .5, .1]; n_pos = 1. Cutting below each distinct score:
    TP 1,1,1 and FP 0,1,2 → F1 = 2/(2+0+0) = 1, 2/3, 1/2: best is .9, halfway down to .5 → 0.7.
    Kills evaluation.py:84 0->1 (one positive read as none → 0.5), :91 Add->Sub (F1 2/(2-1) wins
    at .5), :95 Div->Mult (1.4 · 2) and :95 Add->Sub (score[best - 1] = .1 → mid .5)."""
    assert select_threshold(np.array([1, 0, 0]), np.array([0.9, 0.5, 0.1])) == pytest.approx(0.7)


def test_threshold_in_the_middle_of_the_scores():
    """y = [1, 1, 0, 1, 0], p = [.9, .8, .7, .3, .2], n_pos = 3. Cumulative TP 1,2,2,3,3 and FP
    0,0,1,1,2 → F1 = 2/4, 4/5, 4/6, 6/7, 6/8: best .3 (6/7), halfway to .2 → 0.25.
    Kills evaluation.py:96 Add->Sub (compares the midpoint with .7 instead of .2 and returns .3)."""
    assert select_threshold(np.array([1, 1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.3, 0.2])) == pytest.approx(0.25)


def test_threshold_at_the_lowest_score_and_between_adjacent_floats():
    """All positive (y = [1, 1], p = [.9, .1]): F1 2/3 then 1, so the best is the lowest score and
    the threshold is .1 itself (evaluation.py:93 Add->Sub/Eq->NotEq index past the end or pick a
    midpoint). Two adjacent doubles a > b with the best at a: their midpoint rounds to a or b; the
    threshold must stay strictly above b (b is a negative) — it is a itself when the midpoint
    rounds to b. Kills evaluation.py:96 Gt->GtE."""
    assert select_threshold(np.array([1, 1]), np.array([0.9, 0.1])) == pytest.approx(0.1)
    b = 0.2
    a = float(np.nextafter(b, 1.0))
    t = select_threshold(np.array([1, 0]), np.array([a, b]))
    assert t > b and t == a
    assert classification_metrics(np.array([1, 0]), np.array([a, b]), t)["f1"] == 1.0


def test_resample_weights_are_the_rows_of_rng_integers():
    """Row i of the weights is np.bincount of row i of rng.integers(0, n, (b, n)); each row sums
    to n. Kills evaluation.py:135-137 (offsets, bincount length)."""
    n, b = 7, 5
    W = resample_weights(np.random.default_rng(42), b, n)
    idx = np.random.default_rng(42).integers(0, n, size=(b, n))
    want = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(float)
    np.testing.assert_array_equal(W, want)
    assert W.shape == (b, n) and (W.sum(axis=1) == n).all()


def test_chunk_size_and_chunked_bootstrap_equal_direct_resampling():
    """bootstrap_chunk(n) = max(1, 4,000,000 // n): 4000 for n = 1000, 1 for n = 5,000,000.
    n = 20,000 patients → chunks of 200 resamples; 201 resamples are drawn 200 then 1 from one
    generator. The accuracy of each resample is the mean correctness over its redrawn rows
    (numpy only). Kills evaluation.py:127-129 (range step, min, chunk sizes) and :142."""
    assert bootstrap_chunk(1000) == 4000
    assert bootstrap_chunk(4_000_000) == 1
    assert bootstrap_chunk(5_000_000) == 1
    assert bootstrap_chunk(3) == 1_333_333
    n = 20_000
    rng = np.random.default_rng(5)
    y = (rng.random(n) < 0.3).astype(int)
    p = rng.random(n)
    correct = ((p >= 0.5).astype(int) == y).astype(float)
    got = bootstrap_metrics(y, p, 0.5, n_resamples=201, seed=9)["accuracy"]
    draw = np.random.default_rng(9)
    want = np.concatenate([correct[draw.integers(0, n, size=(b, n))].mean(axis=1) for b in (200, 1)])
    assert got.shape == (201,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_bootstrap_defaults_are_1000_resamples_seed_0_and_95_percent():
    """bootstrap_metrics(y, p, t) draws 1000 resamples with seed 0, and bootstrap_ci's default is the
    95 % percentile interval of those: np.percentile(..., [2.5, 97.5]) of the defined values.
    Kills evaluation.py:110 1000->1001, :111 0->1, :197 1000->1001, :198 0.95->1.95, :199 0->1."""
    rng = np.random.default_rng(1)
    y = (rng.random(60) < 0.4).astype(int)
    p = np.round(rng.random(60), 2)
    vals = bootstrap_metrics(y, p, 0.5)
    assert all(len(v) == 1000 for v in vals.values())
    explicit = bootstrap_metrics(y, p, 0.5, n_resamples=1000, seed=0)
    for k in METRICS:
        np.testing.assert_array_equal(vals[k], explicit[k])
    ci = bootstrap_ci(y, p, 0.5)
    for k in METRICS:
        v = vals[k][~np.isnan(vals[k])]
        assert ci[k] == pytest.approx(tuple(np.percentile(v, [2.5, 97.5])), abs=1e-12), k


def test_majority_baseline_by_hand():
    """Training prevalence 2/3 ≥ 0.5: everyone predicted positive. On y_test = [1, 0, 0]:
    accuracy 1/3, precision 1/3, recall 1, F1 2·(1/3)/(4/3) = 1/2, Brier ((1/3)² + 2·(2/3)²)/3 = 1/3.
    An empty training split gives prevalence 0: nobody positive; on y_test = [1, 1, 0] the Brier
    score is (1 + 1 + 0)/3 = 2/3 (a prevalence of 1.0 would give 1/3). Kills evaluation.py:101 0.0->1.0 and
    :102 0.5->1.5."""
    b = majority_baseline(np.array([1, 1, 0]), np.array([1, 0, 0]))
    assert b["accuracy"] == pytest.approx(1 / 3) and b["precision"] == pytest.approx(1 / 3)
    assert b["recall"] == 1.0 and b["f1"] == pytest.approx(0.5) and b["brier"] == pytest.approx(1 / 3)
    e = majority_baseline(np.array([]), np.array([1, 1, 0]))
    assert e["brier"] == pytest.approx(2 / 3) and e["recall"] == 0.0 and e["accuracy"] == pytest.approx(1 / 3)


def test_fold_summary_of_two_folds_and_non_finite_values():
    """Folds [1, 3] (NaN and inf left out): mean 2, sd √2, se √2/√2 = 1, t(0.975, df 1) = 12.7062…
    → 2 ± 12.7062. A single finite fold: mean only. Kills evaluation.py:223, :229 Eq->NotEq,
    :232 Div->Mult, :233 Add->Sub and 1->2 (df or level)."""
    s = fold_summary([1.0, float("nan"), 3.0, float("inf")])
    assert s["mean"] == 2.0 and s["sd"] == pytest.approx(np.sqrt(2)) and s["se"] == pytest.approx(1.0)
    assert (s["ci_lo"], s["ci_hi"]) == pytest.approx((2 - 12.706204736174698, 2 + 12.706204736174698))
    s90 = fold_summary([1.0, 3.0], level=0.90)
    assert s90["ci_hi"] == pytest.approx(2 + 6.313751514675041)
    one = fold_summary([float("nan"), 5.0])
    assert one["mean"] == 5.0 and np.isnan(one["se"]) and np.isnan(one["ci_hi"])


def test_retained_fraction_negative_and_nan_raw():
    """raw < 0 or NaN → NaN; 0.3/0.6 = 0.5 exactly; raw 0 with anonymized 0 → 1.
    Kills evaluation.py:246 Lt->LtE / Or->And, :250 Div->Mult."""
    assert np.isnan(retained_fraction(0.5, -0.5))
    assert np.isnan(retained_fraction(0.5, float("nan")))
    assert retained_fraction(0.3, 0.6) == pytest.approx(0.5)
    assert retained_fraction(0.0, 0.0) == 1.0
    assert retained_fraction(0.0, 0.4) == 0.0


def test_prepare_inputs_keeps_each_fold_and_names_an_empty_one():
    """On a 60-patient synthetic cohort each fold's model input holds one row per patient of that
    fold (counted from the folds directly, every patient labelled, none dropped); folds without
    a test row raise SchemaError naming "the test fold". Kills evaluation.py:354 Eq->NotEq (every
    non-empty fold refused) and :360/:361 (dropped counts, empty-fold check)."""
    from synthetic_cohort import make_cohort

    from privhealth.errors import SchemaError
    from privhealth.models.evaluation import prepare_inputs
    from privhealth.models.split import patient_split

    df, schema = make_cohort(60, seed=1, max_blocs=3)
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    data = prepare_inputs(df, schema, folds)
    for f in ("train", "val", "test"):
        want = df.loc[(folds == f).to_numpy(), "icustayid"].nunique()
        assert len(getattr(data, f)) == want, f
        assert data.dropped[f] == 0, f
    no_test = folds.where(folds != "test", "val")
    with pytest.raises(SchemaError, match="the test fold has no row"):
        prepare_inputs(df, schema, no_test)
