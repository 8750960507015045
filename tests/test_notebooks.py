"""The notebooks run top to bottom on a fresh store (small settings) and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["quickstart", "tradeoff_frontier", "paper_figures"]
# small settings read by the notebooks (see their first cells)
SMALL = {"PRIVHEALTH_NB_PATIENTS": "200", "PRIVHEALTH_NB_TRIALS": "3", "PRIVHEALTH_NB_EPOCHS": "2"}


def test_every_notebook_is_listed_here():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}.ipynb cell {i} holds outputs"


@pytest.mark.parametrize("name", NAMES)
def test_runs_top_to_bottom_on_a_fresh_store(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVHEALTH_HOME", str(tmp_path))  # an empty store: the notebooks fill it
    monkeypatch.delenv("PRIVHEALTH_PSEUDONYM_KEY", raising=False)
    for k, v in SMALL.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    if name != "quickstart":
        assert (tmp_path / "mlflow.db").is_file()
