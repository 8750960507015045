"""The link that opens MLflow's UI on the experiment's runs table, compared metrics shown and sorted.

MLflow 3's UI opens an experiment on its GenAI pages unless the URL says
``workflowType=machine_learning`` (3.17 ignores the ``mlflow.experimentKind`` tag for this;
earlier 3.x read it, so it is set too). The columns and ordering travel as a saved table
view: the experiment tag ``mlflow.sharedViewState.<key>`` holds the runs-table state as JSON
(search facets ``orderByKey``/``orderByAsc`` and UI state ``selectedColumns``, column keys
written ``metrics.`privacy/k```), opened by ``?viewStateShareKey=<key>``: the shapes read by
the UI's own "share view" (mlflow/server/js, ``viewStateShareKey``). Run
``python -m privhealth.experiments.runs_view [TRACKING_URI]`` (what ``make ui`` does) to print it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

SHARED_VIEW_TAG = "mlflow.sharedViewState."
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"  # the UI's "Machine learning" kind
DEFAULT_UI_URL = "http://127.0.0.1:5000"
COMPARED_METRICS = (
    "test/f1", "test/auroc", "privacy/k", "privacy/l_distinct", "privacy/t_emd",
    "risk/pii_leakage", "risk/linkage_reid_rate", "utility/delta_f1", "utility/delta_auroc",
    "utility/f1_retained",
)
COMPARED_TAGS = ("privhealth.anon_method", "privhealth.model")


def column_key(kind: str, name: str) -> str:
    """The UI's canonical column key: ``metrics`` + ``privacy/k`` → ``metrics.`privacy/k```."""
    return f"{kind}.`{name}`"


def view_state(metrics: Sequence[str] = COMPARED_METRICS, order_by: str = "test/f1",
               ascending: bool = False) -> dict[str, object]:
    """The runs-table view: the compared metrics and tags as columns, sorted by ``order_by``.

    Sorting by a metric also lists nested runs (models under a sweep) as flat rows.
    """
    columns = [column_key("tags", t) for t in COMPARED_TAGS]
    columns += [column_key("metrics", m) for m in dict.fromkeys([order_by, *metrics])]
    return {"orderByKey": column_key("metrics", order_by), "orderByAsc": bool(ascending),
            "selectedColumns": columns}


def share_key(state: dict[str, object]) -> str:
    """A short key naming the view (the same view keeps the same link)."""
    text = json.dumps(state, sort_keys=True)
    return "privhealth-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def publish_view(client: MlflowClient, experiment_id: str, state: dict[str, object]) -> str:
    """Store the view on the experiment (and its kind); return the share key."""
    key = share_key(state)
    client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG + key, json.dumps(state))
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return key


def runs_url(ui_url: str, experiment_id: str, key: str | None = None) -> str:
    """``<ui>/#/experiments/<id>/runs?workflowType=machine_learning[&viewStateShareKey=<key>]``."""
    url = f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    return url + (f"&viewStateShareKey={key}" if key else "")


def ui_base(tracking_uri: str, ui_url: str | None) -> str | None:
    """Where the UI serves this store: ``ui_url`` if set, the server itself for http(s), else None."""
    if ui_url:
        return str(ui_url)
    if tracking_uri.startswith(("http://", "https://")) and "@" not in tracking_uri:
        return tracking_uri
    return None


def link_for(tracking_uri: str, experiment: str, ui_url: str | None = DEFAULT_UI_URL,
             order_by: str = "test/f1") -> str | None:
    """Publish the view on ``experiment`` and return the link to its runs (None: no such experiment or UI)."""
    base = ui_base(tracking_uri, ui_url)
    if base is None:
        return None
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    return runs_url(base, exp.experiment_id, publish_view(client, exp.experiment_id, view_state(order_by=order_by)))


def link_from_cfg(cfg: Any) -> str | None:
    """The link for a composed run config (``tracking.uri``, ``tracking.experiment``, ``tracking.ui_url``)."""
    from omegaconf import OmegaConf

    uri = str(OmegaConf.select(cfg, "tracking.uri"))
    ui = OmegaConf.select(cfg, "tracking.ui_url", default=DEFAULT_UI_URL)
    order = str(OmegaConf.select(cfg, "sweep_summary.sort_by", default="test/f1"))
    try:
        return link_for(uri, str(OmegaConf.select(cfg, "tracking.experiment")), ui, order)
    except Exception:  # the link is a convenience: never fail a finished run over it
        return None


def main(argv: Sequence[str] | None = None) -> None:
    """Print the runs link of the local store (``make ui`` runs this before ``mlflow ui``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("uri", nargs="?", default=f"sqlite:///{Path('mlflow.db').resolve()}")
    p.add_argument("--experiment", default="privhealth")
    p.add_argument("--ui-url", default=DEFAULT_UI_URL)
    a = p.parse_args(argv)
    db = a.uri[len("sqlite:///"):] if a.uri.startswith("sqlite:///") else None
    link = None if db is not None and not Path(db).is_file() else link_for(a.uri, a.experiment, a.ui_url)
    if link is None:
        print(f"No '{a.experiment}' runs in {a.uri} yet: `make run` first. The UI: {a.ui_url}")
    else:
        print(f"Open the runs (privacy and F1 columns, best test/f1 first):\n  {link}")


if __name__ == "__main__":
    main()
