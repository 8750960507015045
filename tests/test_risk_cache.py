"""The risk-assessment cache: shared by runs with one release, keyed by attack config and key, safe to read."""

from __future__ import annotations

import json
import math

import pytest
from pipeline_helpers import compose_cfg, write_key

from privhealth.anon.attacks import RiskReport
from privhealth.experiments.cache import CachedRisk, ReleaseCache, RiskCache
from privhealth.experiments.pipeline import (
    anonymize,
    assess,
    load_dataset,
    make_anonymizer,
    run_pipeline,
)

SMALL = ["data.n_patients=200", "attack.reversal_max_candidates=20000", "evaluation.n_bootstrap=30", "evaluation.folds=2",
         "evaluation.inference_timing=null"]
FIELDS = ["name", "ssn", "mrn", "address", "city", "phone", "email"]


def as_json(risk: RiskReport | CachedRisk) -> str:
    """The report as the pipeline logs it (mlflow.log_dict writes JSON with default=str)."""
    return json.dumps(risk.to_dict(), sort_keys=True, default=str)


def same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("risk")
    write_key(root)
    cfg = compose_cfg(root, SMALL)
    dataset = load_dataset(cfg)
    release, _, release_key = anonymize(cfg, dataset, ReleaseCache(root / "rel", enabled=False),
                                        make_anonymizer(cfg))
    return root, cfg, dataset, release, release_key


@pytest.fixture(autouse=True)
def _key_from_file_only(monkeypatch):
    monkeypatch.delenv("PRIVHEALTH_PSEUDONYM_KEY", raising=False)


def entries(cache: RiskCache) -> list:
    return sorted(cache.root.rglob("*.json"))


def test_miss_then_hit_gives_the_same_metrics_and_report(job, tmp_path):
    _, cfg, dataset, release, release_key = job
    cache = RiskCache(tmp_path / "risk")
    fresh, hit1 = assess(cfg, dataset, release, release_key, cache)
    cached, hit2 = assess(cfg, dataset, release, release_key, cache)
    assert (hit1, hit2) == (False, True)
    assert isinstance(fresh, RiskReport) and isinstance(cached, CachedRisk)
    assert (cache.misses, cache.hits) == (1, 1) and len(entries(cache)) == 1
    assert same_metrics(fresh.metrics(), cached.metrics())
    assert as_json(fresh) == as_json(cached)
    assert not list(tmp_path.rglob("*.tmp"))


def test_key_changes_with_the_attack_config_and_the_release(job, tmp_path):
    root, cfg, dataset, release, release_key = job
    cache = RiskCache(tmp_path / "risk")
    assess(cfg, dataset, release, release_key, cache)
    other = compose_cfg(root, [*SMALL, "attack.coverage=0.5"])
    _, hit = assess(other, dataset, release, release_key, cache)
    assert not hit
    _, hit = assess(cfg, dataset, release, "another-release", cache)
    assert not hit
    assert len(entries(cache)) == 3
    _, hit = assess(other, dataset, release, release_key, cache)
    assert hit


def test_key_changes_with_the_key_fingerprint(tmp_path):
    write_key(tmp_path)
    cfg = compose_cfg(tmp_path, SMALL)
    dataset = load_dataset(cfg)
    off = ReleaseCache(tmp_path / "rel", enabled=False)
    release, _, key1 = anonymize(cfg, dataset, off, make_anonymizer(cfg))
    cache = RiskCache(tmp_path / "risk")
    assess(cfg, dataset, release, key1, cache)
    (tmp_path / ".secrets" / "pseudonym.key").write_text("another-key-0123456789abcdef01234567")
    release2, _, key2 = anonymize(cfg, dataset, off, make_anonymizer(cfg))
    assert key2 != key1  # same data, config and key path; only the key's content changed
    _, hit = assess(cfg, dataset, release2, key2, cache)
    assert not hit and len(entries(cache)) == 2


@pytest.mark.parametrize("garbage", ["{not json", '{"format": 0, "metrics": {}, "report": {}}',
                                     '{"format": 1, "metrics": {"risk/x": "high"}, "report": {}}', ""])
def test_a_corrupt_or_stale_entry_is_recomputed_and_rewritten(job, tmp_path, garbage):
    _, cfg, dataset, release, release_key = job
    cache = RiskCache(tmp_path / "risk")
    fresh, _ = assess(cfg, dataset, release, release_key, cache)
    (entry,) = entries(cache)
    entry.write_text(garbage)
    again, hit = assess(cfg, dataset, release, release_key, cache)
    assert not hit and isinstance(again, RiskReport)
    assert same_metrics(fresh.metrics(), again.metrics())
    _, hit = assess(cfg, dataset, release, release_key, cache)
    assert hit  # the entry was rewritten whole


def test_disabled_cache_writes_nothing(job, tmp_path):
    _, cfg, dataset, release, release_key = job
    cache = RiskCache(tmp_path / "risk", enabled=False)
    _, hit = assess(cfg, dataset, release, release_key, cache)
    _, hit2 = assess(cfg, dataset, release, release_key, cache)
    assert not hit and not hit2 and not (tmp_path / "risk").exists()


def test_cache_files_hold_no_raw_identifier_and_no_key(job, tmp_path):
    root, cfg, dataset, release, release_key = job
    cache = RiskCache(tmp_path / "risk")
    assess(cfg, dataset, release, release_key, cache)
    key = (root / ".secrets" / "pseudonym.key").read_text().strip()
    frame = dataset.frame
    values = {f: set(frame[f].dropna().astype(str)) for f in FIELDS if f in frame.columns}
    values["date_of_birth"] = set(frame["date_of_birth"].dt.strftime("%Y-%m-%d"))
    values["stay_id"] = set(frame[dataset.schema.entity].astype(str))
    (entry,) = entries(cache)
    text = entry.read_text()
    assert key not in text
    data = json.loads(text)
    assert set(data) == {"format", "metrics", "report"}
    strings = set()

    def walk(x):  # every string and number in the entry, keys included
        if isinstance(x, dict):
            for k, v in x.items():
                strings.add(str(k))
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        else:
            strings.add(str(x))

    walk(data)
    leaked = {f: sorted(vals & strings)[:3] for f, vals in values.items() if vals & strings}
    assert leaked == {}
    assert all(v not in text for vals in values.values() for v in vals if len(v) >= 6 and not v.isdigit())


def test_pipeline_metrics_are_identical_with_and_without_the_cache(tmp_path):
    write_key(tmp_path)
    base = [*SMALL, "model=logreg"]
    first = run_pipeline(compose_cfg(tmp_path, base, fast=False))
    second = run_pipeline(compose_cfg(tmp_path, base, fast=False))
    off = run_pipeline(compose_cfg(tmp_path, [*base, "cache.enabled=false"], fast=False))
    assert (first.metrics["cache/risk_hit"], second.metrics["cache/risk_hit"], off.metrics["cache/risk_hit"]) \
        == (0.0, 1.0, 0.0)
    assert first.risk_hit is False and second.risk_hit is True
    assert len(list((tmp_path / ".cache" / "privhealth" / "risk").rglob("*.json"))) == 1

    def compared(result):
        m = {k: v for k, v in result.metrics.items() if not k.startswith("cache/")}
        m.update(result.models[0].anon.flat_metrics("test/"))
        return {k: v for k, v in m.items() if not k.endswith("_seconds")}

    assert same_metrics(compared(first), compared(second))
    assert same_metrics(compared(first), compared(off))
    assert as_json(first.risk) == as_json(second.risk) == as_json(off.risk)


def test_keys_follow_the_anonymizer_and_attack_code(job, tmp_path, monkeypatch):
    """An edit of src/anon/ (or of the attacks) must not be answered from an older entry."""
    from privhealth.experiments import pipeline

    _, cfg, dataset, release, release_key = job
    off = ReleaseCache(tmp_path / "rel", enabled=False)
    cache = RiskCache(tmp_path / "risk")
    assess(cfg, dataset, release, release_key, cache)
    real = pipeline.code_fingerprint
    monkeypatch.setattr(pipeline, "code_fingerprint",
                        lambda patterns: "edited" if patterns == pipeline.ANON_CODE else real(patterns))
    _, _, edited_key = anonymize(cfg, dataset, off, make_anonymizer(cfg))
    assert edited_key != release_key
    monkeypatch.setattr(pipeline, "code_fingerprint",
                        lambda patterns: "edited" if patterns == pipeline.RISK_CODE else real(patterns))
    _, hit = assess(cfg, dataset, release, release_key, cache)
    assert not hit and len(entries(cache)) == 2
