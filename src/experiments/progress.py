"""Stage progress: a start and a finish line, with its wall time, for every pipeline stage.

The lines go through Python logging (logger ``privhealth.progress``), so the console and
Hydra's job log (``run.log`` in the run's output folder) hold the same lines; a bar over a
long loop (one model after another) is drawn only when stderr is a terminal, never in logs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

log = logging.getLogger("privhealth.progress")
T = TypeVar("T")


def fmt_seconds(s: float) -> str:
    """0.042 → '0.04 s', 83.4 → '83.4 s', 125 → '2 min 5 s'."""
    if s < 1:
        return f"{s:.2f} s"
    if s < 100:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(round(s % 60))} s"


class StageTimer:
    """Wall time per pipeline stage (logged to MLflow as ``time/<stage>_s``), with a start/finish log line each."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.seconds: dict[str, float] = {}
        self.log = logger

    @contextmanager
    def __call__(self, stage: str, what: str = "") -> Iterator[None]:
        label = f"{stage} ({what})" if what else stage
        self.log.info("stage %s: started", label)
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            dt = time.perf_counter() - t0
            self.seconds[stage] = self.seconds.get(stage, 0.0) + dt
            if ok:
                self.log.info("stage %s: done in %s", label, fmt_seconds(dt))
            else:
                self.log.info("stage %s: failed after %s", label, fmt_seconds(dt))


def on_terminal() -> bool:
    """Whether a bar may be drawn: stderr is an interactive terminal (not a log file, pipe or CI)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def bar(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items``; on a terminal with more than one item, under a transient rich bar on stderr."""
    items = list(items)
    n = total if total is not None else len(items)
    if n <= 1 or not on_terminal():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=n)
        for item in items:
            yield item
            progress.advance(task)
