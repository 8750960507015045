"""Failed sweep jobs noted in the sweep folder, so the parent run counts jobs that left no run."""

from __future__ import annotations

from pathlib import Path

from privhealth.experiments.cache import atomic_write_text

FAILED_DIR = ".privhealth_failed"


def record_failed_job(sweep_dir: str | Path, job_num: int, error: str) -> None:
    """Note a failed job in the sweep folder (a job refused before its run exists leaves no run to count)."""
    d = Path(sweep_dir) / FAILED_DIR
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / f"{int(job_num)}.txt", error[:2000])


def failed_job_nums(sweep_dir: Path) -> set[str]:
    d = sweep_dir / FAILED_DIR
    return {p.stem for p in d.glob("*.txt")} if d.is_dir() else set()
