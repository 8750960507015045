"""The architecture contracts of pyproject's [tool.importlinter] hold, and catch planted violations.

``lint-imports`` runs on the checkout (every contract kept), then on a copy of the package in
which one module of each kind breaks a rule: anon importing models and mlflow, models importing
anon, data importing experiments, and a new two-module cycle. The copy goes first on
``PYTHONPATH`` so the import graph is built from it, not from the installed checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    "layers": "experiments wire anon and models",
    "anon-pure": "anon never imports models, experiments, hydra, mlflow or optuna",
    "models-no-anon": "models never import anon",
    "data-leaf": "data never imports anon, models or experiments",
    "no-cycles": "no import cycles between sibling modules",
}
PLANTS = {
    "anon/planted_models.py": "from privhealth.models import evaluation  # noqa: F401\nimport mlflow  # noqa: F401\n",
    "models/planted_anon.py": "from privhealth.anon import privacy  # noqa: F401\n",
    "data/planted_experiments.py": "from privhealth.experiments import settings  # noqa: F401\n",
    "data/planted_a.py": "from privhealth.data import planted_b  # noqa: F401\n",
    "data/planted_b.py": "from privhealth.data import planted_a  # noqa: F401\n",
}


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail(f"{LINT} is missing: `make install` installs import-linter (the dev extra)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _contract_lines(out: str) -> dict[str, str]:
    """Contract name -> KEPT / BROKEN, from the summary (names may wrap onto a second line)."""
    flat = " ".join(out.split())
    status = {}
    for cid, name in CONTRACTS.items():
        at = flat.find(name)
        assert at >= 0, f"contract {cid!r} not reported:\n{out[-3000:]}"
        tail = flat[at:at + 300]
        status[cid] = "BROKEN" if tail.find("BROKEN") != -1 and (
            tail.find("KEPT") == -1 or tail.find("BROKEN") < tail.find("KEPT")) else "KEPT"
    return status


def test_contracts_hold_on_the_checkout():
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert set(_contract_lines(proc.stdout).values()) == {"KEPT"}
    assert "Contracts: 5 kept, 0 broken." in proc.stdout


def test_planted_violations_break_every_contract(tmp_path):
    pkg = tmp_path / "privhealth"
    shutil.copytree(REPO / "src", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, code in PLANTS.items():
        (pkg / rel).write_text(code)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    where = subprocess.run([sys.executable, "-c", "import privhealth; print(privhealth.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path)), where  # the graph is the planted copy's
    proc = _lint(tmp_path, tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _contract_lines(proc.stdout) == dict.fromkeys(CONTRACTS, "BROKEN")
    out = " ".join(proc.stdout.split())
    for edge in ("privhealth.anon.planted_models -> privhealth.models.evaluation",
                 "privhealth.anon.planted_models -> mlflow",
                 "privhealth.models.planted_anon -> privhealth.anon.privacy",
                 "privhealth.data.planted_experiments -> privhealth.experiments.settings"):
        assert edge in out, edge
    assert ".planted_a -> .planted_b" in out or ".planted_b -> .planted_a" in out
