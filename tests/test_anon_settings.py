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
from privhealth.experiments.sweep_plan import plan_sweep

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


def test_a_sweep_drops_an_ignored_setting_from_the_jobs_that_ignore_it(caplog):
    """In a multirun the setting is dropped with one warning line instead of refused (docs/sweeps.md):
    ``-m anon=optimal,paper_rules anon.k=2,5`` launches optimal at k=2 and 5, and paper_rules once."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        grid = [["anon=optimal", "anon.k=2"], ["anon=optimal", "anon.k=5"],
                ["anon=paper_rules", "anon.k=2"], ["anon=paper_rules", "anon.k=5"]]
        plan = plan_sweep(grid, lambda ov: compose("config", overrides=ov, return_hydra_config=True),
                          memo_key="test_anon_settings")
    assert plan.jobs == [["anon=optimal", "anon.k=2"], ["anon=optimal", "anon.k=5"], ["anon=paper_rules"]]
    assert plan.merged == [(2, [2, 3])]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned[0].startswith("sweep: anon.k dropped from the jobs where it would do nothing (anon=paper_rules "
                                "applies fixed rules that never read it")
    assert warned[1] == ("sweep: grid jobs #2, #3 are the same job once those settings are dropped: "
                         "run once as job #2 (anon=paper_rules)")
    assert warned[2] == "sweep: 4 grid jobs, 3 distinct jobs launched" and len(warned) == 3


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
