"""The paper's model figures (Fig. 7-10) as data and matplotlib figures."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure
from synthetic_cohort import cached_cohort

from privhealth.models import patient_split, train_and_evaluate
from privhealth.models.figures import (
    inference_timing,
    model_summary,
    plot_history,
    plot_inference_time,
    plot_metrics,
)
from privhealth.models.neural import DenseNetModel
from privhealth.models.tabular import LogisticRegressionModel


@pytest.fixture(scope="module")
def results():
    df, schema = cached_cohort(400, seed=0)
    folds = patient_split(df, "icustayid", "mortality_90d", seed=0)
    dense = DenseNetModel(max_epochs=5, batch_size=64, progress_bar=False)
    return {
        "logreg": train_and_evaluate(LogisticRegressionModel(), df, schema, folds, n_bootstrap=100),
        "dense": train_and_evaluate(dense, df, schema, folds, n_bootstrap=100),
    }


def test_fig7_summary_names_layers_and_parameters(results):
    text = model_summary(results["dense"])
    assert 'Model: "sequential"' in text and "dropout (Dropout)" in text
    assert f"Total params: {results['dense'].n_parameters:,}" in text
    assert "parameters:" in model_summary(results["logreg"].model)


def test_fig8_inference_timing_table_and_plot(results, tmp_path):
    timing = inference_timing(results, sizes=(10, 500), repeats=2)
    assert list(timing.columns) == ["model", "n_patients", "seconds"]
    assert len(timing) == 4 and (timing["seconds"] > 0).all()
    fig = plot_inference_time(timing)
    fig.savefig(tmp_path / "fig8.png")
    assert (tmp_path / "fig8.png").stat().st_size > 0


def test_fig9_history_curves(results, tmp_path):
    fig = plot_history(results["dense"].history, title="dense")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert all(len(ax.lines) == 2 for ax in fig.axes)  # training and validation
    assert len(fig.axes[0].lines[0].get_xdata()) == len(results["dense"].history)
    fig.savefig(tmp_path / "fig9.png")
    assert isinstance(plot_history([]), Figure)  # one-pass models: an explanatory empty plot


def test_fig10_metric_bars_with_ci_and_baseline(results, tmp_path):
    fig = plot_metrics(results, metrics=("accuracy", "f1", "auroc"))
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 3  # two models × three metrics
    assert [t.get_text() for t in ax.get_xticklabels()] == ["accuracy", "f1", "auroc"]
    fig.savefig(tmp_path / "fig10.png")
    assert isinstance(plot_metrics(results["logreg"]), Figure)
