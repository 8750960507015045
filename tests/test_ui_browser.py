"""The researcher's loop in a real browser: a run and a 2-job sweep, `mlflow ui`, the printed link.

Headless Chromium from the OS packages (``.ci/install-chromium``; ``PRIVHEALTH_CHROMIUM``
names another binary) driven by Playwright through ``executable_path``: no browser download.
The link each run prints must open MLflow's runs table (not its GenAI overview) with the
runs listed and their ``privacy/k`` and ``test/f1`` values shown. The screenshot lands in
the test's tmp folder (``runs_table.png``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pipeline_helpers import write_key

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PRIVHEALTH_CHROMIUM", "/usr/bin/chromium")
SMALL = ["model=logreg", "data.n_patients=250", "evaluation.n_bootstrap=50", "evaluation.folds=2"]
LINK = re.compile(r"http://127\.0\.0\.1:\d+/#/experiments/\d+/runs\?\S+")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(root: Path, args: list[str]) -> str:
    env = {**os.environ, "PRIVHEALTH_HOME": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("PRIVHEALTH_PSEUDONYM_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "privhealth.experiments.run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with one run and a 2-job sweep; the links they printed; a UI serving it (stopped after)."""
    root = tmp_path_factory.mktemp("ui")
    write_key(root)
    port = free_port()
    ui = [f"tracking.ui_url=http://127.0.0.1:{port}"]
    single = run_cli(root, ["anon=optimal", "anon.k=3", *SMALL, *ui])
    sweep = run_cli(root, ["-m", "anon=optimal", "anon.k=2,5", *SMALL, *ui])
    links = LINK.findall(single) + LINK.findall(sweep)
    assert links, single[-2000:]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "mlflow ui did not start"
            time.sleep(0.5)
        yield root, links, sweep
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_every_run_and_the_sweep_print_the_same_runs_link(store):
    _, links, sweep = store
    assert len(links) == 4  # the single run, each sweep job, the sweep's end
    assert len(set(links)) == 1
    assert "workflowType=machine_learning" in links[0] and "viewStateShareKey=privhealth-" in links[0]
    assert "Sweep summary" in sweep


def test_the_printed_link_opens_the_runs_table_with_privacy_and_f1(store, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `bash .ci/install-chromium` (or set PRIVHEALTH_CHROMIUM)")
    from playwright.sync_api import expect, sync_playwright

    root, links, _ = store
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("privhealth")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("privhealth.kind") == "run"]
    names = {r.info.run_name for r in runs}
    assert names == {"optimal·k3·logreg", "optimal·k2·logreg", "optimal·k5·logreg"}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 2400, "height": 1100})
            page.goto(links[0])
            for name in names:  # every model run is a row, also the sweep's nested ones
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
            for header in ("privacy/k", "test/f1"):
                expect(page.get_by_text(header, exact=True).first).to_be_visible()
            expect(page.get_by_text("Sort: test/f1").first).to_be_visible()  # the shared view applied
            page.screenshot(path=str(tmp_path / "runs_table.png"), full_page=True)
            assert "/runs" in page.url and "workflowType=machine_learning" in page.url
            for r in runs:  # each run's row shows its k and F1 (ag-grid splits a row: pinned + centre)
                idx = page.locator("[role=row]", has_text=r.info.run_name).first.get_attribute("row-index")
                row = page.locator(f'[role=row][row-index="{idx}"]')
                for metric in ("privacy/k", "test/f1"):
                    cell = row.locator(f'[col-id="metrics.`{metric}`"]').first.inner_text().strip()
                    assert abs(float(cell) - r.data.metrics[metric]) < 1e-4, (r.info.run_name, metric, cell)
        finally:
            browser.close()
    assert (tmp_path / "runs_table.png").stat().st_size > 10_000
