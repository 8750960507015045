"""Prediction models, features and evaluation. Knows nothing of anonymization, MLflow or Hydra.

The experiments layer calls, in order: ``patient_split`` (on the raw frame),
a model (built by ``privhealth.experiments.model_factory`` with Hydra's ``instantiate`` on
``conf/model/*.yaml``),
``train_and_evaluate`` (raw frame, then anonymized frame, same folds) and
``retained_utility``. Names are imported lazily so that ``privhealth.models.split`` does
not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TaskConfig": "features",
    "FeaturePipeline": "features",
    "ModelInput": "features",
    "MinMaxScaler": "scaling",
    "patient_split": "split",
    "ClinicalModel": "base",
    "LogisticRegressionModel": "tabular",
    "RandomForestModel": "tabular",
    "XGBoostModel": "tabular",
    "DenseNetModel": "neural",
    "LSTMModel": "neural",
    "TaskResult": "evaluation",
    "train_and_evaluate": "evaluation",
    "prepare_inputs": "evaluation",
    "classification_metrics": "evaluation",
    "bootstrap_ci": "evaluation",
    "select_threshold": "evaluation",
    "retained_fraction": "evaluation",
    "retained_utility": "evaluation",
    "inference_timing": "figures",
    "plot_history": "figures",
    "plot_inference_time": "figures",
    "plot_metrics": "figures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
