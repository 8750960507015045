"""Settings an anonymization ignores are refused before anything is written (issue 16, item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from privhealth.errors import ConfigError
from privhealth.experiments.anon_settings import (
    effective_settings,
    ignored,
    overridden_anon_keys,
    refuse_ignored,
)

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRIVHEALTH_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "privhealth.experiments.run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def composed(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_paper_rules_k_is_refused_before_any_run(tmp_path):
    proc = cli(tmp_path, "anon=paper_rules", "anon.k=5")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "ConfigError: setting anon.k would do nothing" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no cache, no output folder


def test_a_sweep_job_with_an_ignored_setting_is_refused_naming_the_job(tmp_path):
    proc = cli(tmp_path, "-m", "anon=optimal,paper_rules", "anon.k=2")
    assert proc.returncode == 2, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "sweep job #1 (anon=paper_rules anon.k=2)" in out and "anon.k would do nothing" in out
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / ".cache").exists()


@pytest.mark.parametrize("overrides", [["anon=optimal", "anon.k=5"], ["anon=mondrian", "anon.k=7", "anon.t=0.3"],
                                       ["anon=paper_rules"], ["anon=optimal", "anon.l=2", "anon.l_variant=entropy"]])
def test_settings_that_take_effect_are_accepted(overrides):
    refuse_ignored(composed(*overrides), overrides)


@pytest.mark.parametrize("overrides, key", [
    (["anon=paper_rules", "anon.t=0.5"], "anon.t"),
    (["anon=optimal", "anon.c=3"], "anon.c"),                     # c only for recursive l-diversity
    (["anon=optimal", "anon.t_distance=equal"], "anon.t_distance"),  # no t asked
    (["anon=mondrian", "+anon.metric=gcp"], "anon.metric"),          # Mondrian has no lattice metric
    (["anon=none", "+anon.k=5"], "anon.k"),                         # the identity takes no k
])
def test_ignored_settings_are_named(overrides, key):
    with pytest.raises(ConfigError, match=rf"setting {key} would do nothing"):
        refuse_ignored(composed(*overrides), overrides)


def test_ignored_keys_derived_from_the_config():
    assert set(ignored({"_target_": "privhealth.anon.release.RuleBasedAnonymizer", "name": "r", "steps": [],
                        "k": 5, "l": 2, "t": 0.2, "needs": {}})) == {"k", "l", "t"}
    optimal = {"_target_": "privhealth.anon.enforce.EnforcedAnonymizer", "method": "optimal", "k": 5, "l": None,
               "l_variant": "distinct", "c": None, "t": None, "t_distance": "ordered", "metric": "arx_loss"}
    assert set(ignored(optimal)) == {"l_variant", "c", "t_distance"}
    assert set(ignored({**optimal, "l": 2, "t": 0.3})) == {"c"}


def test_release_cache_key_uses_only_settings_that_take_effect():
    base = {"_target_": "privhealth.anon.enforce.EnforcedAnonymizer", "method": "optimal", "k": 5, "l": None,
            "l_variant": "distinct", "c": None, "t": None, "t_distance": "ordered"}
    # t_distance and l_variant change nothing without t and l: the same release, the same key
    assert effective_settings(base) == effective_settings({**base, "t_distance": "kl", "l_variant": "entropy"})
    assert effective_settings(base) != effective_settings({**base, "k": 6})
    assert effective_settings({**base, "t": 0.2}) != effective_settings({**base, "t": 0.2, "t_distance": "kl"})


def test_overridden_keys():
    assert overridden_anon_keys(["anon=optimal", "anon.k=5", "+anon.metric=gcp", "~anon.l", "anon/identifiers=strict",
                                 "anon.hierarchies.age.levels=[5]"]) == ["k", "metric", "hierarchies"]
