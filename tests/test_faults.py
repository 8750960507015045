"""Faults and determinism: atomic cache writes, concurrent jobs, identical reruns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cache_worker import compute
from pipeline_helpers import compose_cfg, write_key

from privhealth.experiments.cache import ReleaseCache, atomic_write_text
from privhealth.experiments.pipeline import run_pipeline

HERE = Path(__file__).resolve().parent


def test_a_write_killed_midway_leaves_no_entry(tmp_path, monkeypatch):
    cache = ReleaseCache(tmp_path)
    log = tmp_path / "log"

    def crash(self, *a, **k):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("ab" + "0" * 62, lambda: compute(log))
    monkeypatch.undo()
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob("*.json"))
    assert not list(tmp_path.rglob("*.tmp"))
    release, hit = cache.get_or_compute("ab" + "0" * 62, lambda: compute(log))
    assert not hit and len(release.frame) == 3
    assert ReleaseCache(tmp_path).get_or_compute("ab" + "0" * 62, lambda: compute(log))[1]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(p, "new")
    assert p.read_text() == "old" and not list(tmp_path.glob("*.tmp"))


def test_concurrent_processes_compute_an_entry_once(tmp_path):
    log = tmp_path / "computed.log"
    key = "cd" + "1" * 62
    procs = [subprocess.Popen([sys.executable, str(HERE / "cache_worker.py"), str(tmp_path / "c"), key, str(log)],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert log.read_text().count("computed") == 1
    assert outs == ["hit=False rows=3", "hit=True rows=3", "hit=True rows=3"]


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    """Determinism on CPU (see docs/security.md for GPU nondeterminism)."""
    results = []
    for i in range(2):
        root = tmp_path / f"r{i}"
        write_key(root)
        cfg = compose_cfg(root, ["cache.enabled=false", "model=[logreg,rf,xgboost]"])
        results.append(run_pipeline(cfg))
    a, b = results
    assert a.metrics == b.metrics
    for ma, mb in zip(a.models, b.models, strict=True):
        assert ma.anon.metrics == mb.anon.metrics
        assert ma.raw.metrics == mb.raw.metrics
        assert ma.anon.ci == mb.anon.ci


def test_the_pseudonym_key_does_not_change_any_metric(tmp_path):
    """Pseudonyms are labels: another key must give the same release metrics and the same models."""
    results = []
    for i, secret in enumerate(("first-key-0123456789abcdef012345", "other-key-zyxwvutsrqponmlkjihgf")):
        root = tmp_path / f"k{i}"
        write_key(root).write_text(secret)
        cfg = compose_cfg(root, ["cache.enabled=false", "model=[logreg,rf,xgboost]"])
        results.append(run_pipeline(cfg))
    a, b = results
    ent = a.release.schema.entity
    assert not a.release.frame[ent].equals(b.release.frame[ent])  # the pseudonyms did differ
    assert a.metrics == b.metrics
    for ma, mb in zip(a.models, b.models, strict=True):
        assert ma.anon.metrics == mb.anon.metrics, ma.name
        assert ma.anon.ci == mb.anon.ci, ma.name
