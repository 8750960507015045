"""The benchmark scripts run end to end at tiny sizes (their speed is measured by `make bench`).

The report must contain every section with its table and target verdicts, and a check the
scripts make themselves (peer values agree, releases verified k-anonymous, the search's
optimum equals the exhaustive one) must not come out false even at tiny sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_report_quick(tmp_path, shared_data):
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "report.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env={**os.environ, "PRIVHEALTH_SHARED_DATA": str(shared_data)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = out.read_text()
    for title in ("pycanon", "anonypy", "Optimal full-domain search", "patients", "Sweep throughput"):
        assert title in text, f"section {title!r} missing from the report"
    assert "QUICK" in text
    assert "## Summary of targets" in text
    assert text.count("|---|") >= 5  # one table per benchmark at least
    assert "**DIFFERENT**" not in text  # the search's optimum vs the exhaustive one
    assert "**NO**" not in text  # a peer's value disagreeing, or a release that is not k-anonymous
    assert "all equal: yes" in text
    assert "results identical: yes" in text.lower()
