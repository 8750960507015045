"""MLflow-native records of a run: the trained model as an MLflow model, the datasets as inputs.

* ``log_clinical_model``: the fitted project model wrapped as a pyfunc (``ClinicalPyfunc``), so
  ``mlflow.pyfunc.load_model("runs:/<id>/model")`` scores patients exactly as the run did. Its
  signature and input example come from the *released* features the model was tested on; a
  raw "release" (``anon=none``) gets a signature but no example, so no raw value is stored.
* ``log_datasets``: the raw cohort and the release recorded with ``mlflow.log_input`` as
  metadata-only datasets (name, one-way digest, source, column schema, row and patient counts),
  never their values.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, Schema

from privhealth.data.schema import Dataset
from privhealth.models.features import ModelInput

if TYPE_CHECKING:
    from privhealth.anon.release import Release
    from privhealth.models.evaluation import TaskResult

log = logging.getLogger(__name__)
MODEL_NAME = "model"
EXAMPLE_ROWS = 5
# what loading the model needs besides the project itself (pinned to what trained it; no slow inference)
_REQUIREMENTS = ("mlflow", "numpy", "pandas", "scikit-learn", "xgboost", "torch", "pytorch-lightning", "cloudpickle")



class ClinicalPyfunc(PythonModel):
    """A fitted ``ClinicalModel`` behind MLflow's pyfunc interface: probability of the positive class.

    Tabular models take a DataFrame with the training feature columns; sequence models a dict
    ``{"X": (n, T, f) array, "lengths": (n,) array}``.
    """

    def __init__(self, model: Any, feature_names: tuple[str, ...], kind: str) -> None:
        self.model = model
        self.feature_names = tuple(feature_names)
        self.kind = kind

    def to_input(self, data: Any) -> ModelInput:
        """The project's ``ModelInput`` from what pyfunc received."""
        if self.kind == "sequence":
            X = np.asarray(data["X"], dtype=np.float32)
            lengths = np.asarray(data["lengths"]).astype(np.int64)
            return ModelInput(X, np.zeros(len(X), np.int8), self.feature_names, "sequence", lengths)
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data, columns=list(self.feature_names))
        X = frame[list(self.feature_names)].to_numpy(dtype=np.float64)
        return ModelInput(X, np.zeros(len(X), np.int8), self.feature_names, "tabular")

    # pd.DataFrame is one of the hints MLflow takes without validating or inferring a schema (a
    # sequence model's input is a dict); no hint at all makes MLflow warn on every import.
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        """Probabilities of the positive class, float64 of shape (n,)."""
        return np.asarray(self.model.predict_proba(self.to_input(model_input)), dtype=np.float64)


def model_example(test: ModelInput, n: int = EXAMPLE_ROWS) -> Any:
    """The first ``n`` test patients of the model's input, in the form pyfunc takes."""
    if test.kind == "sequence":
        lengths = test.lengths if test.lengths is not None else np.full(len(test), test.X.shape[1])
        return {"X": test.X[:n].astype(np.float32), "lengths": lengths[:n].astype(np.int64)}
    return pd.DataFrame(test.X[:n], columns=list(test.feature_names)).astype(np.float64)


def requirements() -> list[str]:
    out = []
    for pkg in _REQUIREMENTS:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out


def log_clinical_model(result: TaskResult, released: bool) -> str | None:
    """Log ``result.model`` as the run's MLflow model ``model``; its URI, or None without a fitted model.

    ``released``: the features come from an anonymized release (then an input example is stored).
    """
    if result.model is None or result.test_input is None or len(result.test_input) == 0:
        return None  # a result read back from the raw-results cache holds no model
    test = result.test_input
    wrapper = ClinicalPyfunc(result.model, test.feature_names, test.kind)
    example = model_example(test)
    signature = infer_signature(example, wrapper.predict(None, example))
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_log.level
    pyfunc_log.setLevel(logging.ERROR)  # its CloudPickle notice: pickling the project's object is the point here
    try:
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=wrapper,
            signature=signature,
            input_example=example if released else None,
            pip_requirements=requirements(),
        )
    finally:
        pyfunc_log.setLevel(level)
    return str(info.model_uri)


_TYPES = {"b": DataType.boolean, "i": DataType.long, "u": DataType.long, "f": DataType.double,
          "M": DataType.datetime}


def column_schema(frame: pd.DataFrame) -> Schema:
    """Column names and types only (objects and categories as strings)."""
    return Schema([ColSpec(_TYPES.get(dtype.kind, DataType.string), str(name))
                   for name, dtype in frame.dtypes.items()])


class CountedDataset(MetaDataset):
    """A metadata-only dataset whose profile holds its row and patient counts (no value)."""

    def __init__(self, counts: Mapping[str, int], **kwargs: Any) -> None:
        self._counts = dict(counts)
        super().__init__(**kwargs)

    @property
    def profile(self) -> dict[str, int]:
        return dict(self._counts)

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._counts)}


def dataset_input(frame: pd.DataFrame, entity: str | None, name: str, digest: str,
                  source: Mapping[str, str]) -> CountedDataset:
    counts = {"num_rows": int(len(frame))}
    if entity and entity in frame.columns:
        counts["num_patients"] = int(frame[entity].nunique())
    return CountedDataset(counts, source=CodeDatasetSource(dict(source)), name=name, digest=digest[:16],
                          schema=column_schema(frame))


def log_input_retrying(dataset: CountedDataset, context: str, tries: int = 4) -> None:
    """``mlflow.log_input``, retried: parallel jobs logging the same dataset race on the store's unique
    (experiment, name, digest) row; the loser finds the winner's row on the next try."""
    for attempt in range(tries):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException as exc:
            if attempt == tries - 1:
                log.warning("dataset %s not recorded as a run input: %s", dataset.name, str(exc).splitlines()[0])
                return
            time.sleep(0.2 * (attempt + 1))


def log_datasets(cfg: Any, dataset: Dataset, data_key: str, release: Release, release_key: str) -> None:
    """The raw cohort (context ``source``) and the release (context ``training``) as run inputs."""
    data_cfg = cfg.get("data") or {}
    source = {"config": str(data_cfg.get("_target_", "")), "dataset": dataset.name}
    if data_cfg.get("path"):
        source["path"] = str(data_cfg.get("path"))
    log_input_retrying(dataset_input(dataset.frame, dataset.schema.entity, f"{dataset.name}-raw", data_key, source),
                       "source")
    anon_name = str(release.method)
    log_input_retrying(
        dataset_input(release.frame, release.schema.entity, f"{dataset.name}-{anon_name}", release_key,
                      {**source, "anonymization": anon_name, "raw_digest": data_key[:16]}),
        "training",
    )
