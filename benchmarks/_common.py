"""Shared helpers of the benchmark scripts: data, timing, memory, Markdown tables.

Each benchmark script exposes ``run(args) -> Section`` (its Markdown) and a ``main()`` that
prints it; ``benchmarks/report.py`` runs them all and writes ``docs/benchmarks.md``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ADULT_QI = ["age", "education", "marital-status", "native-country", "occupation", "race", "sex",
            "workclass"]


@dataclass
class Section:
    """One benchmark's output: a title, Markdown body, and the verdicts against its targets."""

    title: str
    body: str
    verdicts: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def markdown(self) -> str:
        out = [f"## {self.title}\n", self.body.rstrip() + "\n"]
        if self.verdicts:
            out.append("Targets:\n")
            out += [f"- {v}" for v in self.verdicts]
            out.append("")
        return "\n".join(out)


def shared_data() -> Path:
    """The project's ``shared/data`` folder (``PRIVHEALTH_SHARED_DATA`` overrides)."""
    env = os.environ.get("PRIVHEALTH_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data",
                                             REPO.parent.parent / "shared" / "data"]:
        if c.is_dir():
            return c
    raise SystemExit("shared/data not found; set PRIVHEALTH_SHARED_DATA to its path")


def load_adult() -> tuple[pd.DataFrame, dict[str, Any]]:
    """UCI Adult (30,162 rows) with the ARX hierarchies of its 8 quasi-identifiers."""
    from privhealth.anon.hierarchy import Hierarchy

    data = shared_data() / "adult"
    adult = pd.read_csv(data / "adult.csv", sep=";")
    hs = {q: Hierarchy.from_csv(data / f"adult_hierarchy_{q}.csv", q, numeric=q == "age")
          for q in ADULT_QI}
    return adult, hs


def replicate(df: pd.DataFrame, times: int) -> pd.DataFrame:
    """``df`` stacked ``times`` times with a fresh 0..n-1 index (pycanon needs one)."""
    return pd.concat([df] * times, ignore_index=True) if times > 1 else df.reset_index(drop=True)


def timed(fn: Callable[[], Any], repeat: int = 1, warmup: bool | int = False) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls (after ``warmup`` warm-up calls; True: one) and the last result."""
    wall, _, out = timed_wall_cpu(fn, repeat, warmup)
    return wall, out


def timed_wall_cpu(fn: Callable[[], Any], repeat: int = 1, warmup: bool | int = False) -> tuple[float, float, Any]:
    """Median wall time and median CPU time (``time.process_time``, all threads of this process) of
    ``repeat`` calls after ``warmup`` warm-ups, and the last result. CPU time moves far less than wall
    time when other jobs share the cores."""
    for _ in range(int(warmup)):
        fn()
    walls, cpus, out = [], [], None
    for _ in range(max(1, repeat)):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def _child(conn: Any, fn: Callable[[], Any]) -> None:
    try:
        t0 = time.perf_counter()
        out = fn()
        conn.send(("ok", time.perf_counter() - t0, out))
    except BaseException as e:  # report, never hang the parent
        conn.send(("error", 0.0, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def timed_with_limit(fn: Callable[[], Any], limit_s: float) -> tuple[float | None, Any]:
    """Run ``fn`` in a forked process; its wall time and result, or ``(None, None)`` past ``limit_s``.

    For peer libraries that can run for minutes: the benchmark reports "> limit" and a lower
    bound on the ratio instead of waiting. The result must be picklable.
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, fn), daemon=True)
    p.start()
    child.close()
    if parent.poll(limit_s):
        status, secs, out = parent.recv()
        p.join()
        if status == "error":
            raise RuntimeError(f"benchmark child failed: {out}")
        return secs, out
    p.kill()
    p.join()
    return None, None


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def machine_line() -> str:
    """CPUs, memory, Python and load, for the header of every table."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return (f"{os.cpu_count()} CPUs, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def fmt_s(seconds: float | None, limit: float | None = None) -> str:
    """Seconds for a table cell; ``> limit`` when a peer was stopped."""
    if seconds is None:
        return f"> {limit:g}" if limit is not None else "n/a"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def ratio(peer: float | None, ours: float, limit: float | None = None) -> str:
    """peer/ours as ``123×``; ``≥ 45×`` when the peer was stopped at ``limit``."""
    if peer is None:
        return f"≥ {limit / ours:,.0f}×" if limit is not None else "n/a"
    return f"{peer / ours:,.0f}×" if peer / ours >= 10 else f"{peer / ours:.1f}×"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def cli(run: Callable[..., Section], doc: str | None) -> None:
    """The ``main()`` of a benchmark script: ``--quick`` for tiny sizes, the section printed."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, not the speed")
    print(run(quick=ap.parse_args().quick).markdown())
