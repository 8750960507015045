"""Stage progress lines (issue 16, item 6): on the console and in Hydra's job log alike."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import write_key

from privhealth.experiments.progress import StageTimer, bar, fmt_seconds

REPO = Path(__file__).resolve().parents[1]


def test_stage_timer_logs_a_start_and_a_finish_line_and_adds_up(caplog):
    timer = StageTimer()
    with caplog.at_level(logging.INFO, logger="privhealth.progress"):
        with timer("train_rf", "model rf"):
            pass
        with timer("train_rf", "model rf"):
            pass
        with pytest.raises(ValueError), timer("attack"):
            raise ValueError("boom")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "stage train_rf (model rf): started"
    assert re.fullmatch(r"stage train_rf \(model rf\): done in \d\.\d\d s", lines[1])
    assert lines[-2:][0] == "stage attack: started" and lines[-1].startswith("stage attack: failed after ")
    assert set(timer.seconds) == {"train_rf", "attack"} and timer.seconds["train_rf"] >= 0


def test_seconds_read_as_people_write_them():
    assert (fmt_seconds(0.042), fmt_seconds(83.44), fmt_seconds(125)) == ("0.04 s", "83.4 s", "2 min 5 s")


def test_no_bar_off_a_terminal():
    # stderr is captured here (not a terminal): the items pass through untouched, nothing drawn
    assert list(bar(iter([1, 2, 3]), "training")) == [1, 2, 3]


def test_run_log_holds_the_stage_lines(tmp_path):
    write_key(tmp_path)
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "privhealth.experiments.run", "model=logreg", "data.n_patients=150",
         "evaluation.folds=2", "evaluation.n_bootstrap=10", "tracking.log_models=false"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (log,) = list((tmp_path / "outputs").rglob("run.log"))
    text = log.read_text()
    for stage in ("load (data)", "split", "anonymize (paper_rules)", "measure", "attack", "log (release)",
                  "train_logreg (model logreg)", "log (model logreg)"):
        assert f"stage {stage}: started" in text, stage
        assert re.search(rf"stage {re.escape(stage)}: done in [\d.]+ s", text), stage
    # the console showed the same lines
    assert "stage train_logreg (model logreg): done in" in proc.stdout + proc.stderr
