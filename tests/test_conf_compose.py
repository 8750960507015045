"""Every option of every config group in conf/ composes, resolves and instantiates.

The options are read off the folder (a new YAML file is tested without editing this file, and
the test fails if one cannot be composed). Each composed config is resolved in full (every
interpolation), and every ``_target_`` node in it is instantiated, as the pipeline does:
data sources load (a CSV written here for ``data=csv``, the simulator at 60 patients, the Adult
files from ../shared/data), anonymizers, models, launchers and callbacks are built.
``tracking=server`` composes with a local SQLite URI in ``MLFLOW_TRACKING_URI`` and creates its
experiment there. ``search/*`` options compose with the trade-off config, and each end of every
searched range composes into a trial config whose anonymizer instantiates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from privhealth.data.schema import Dataset

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = ("config", "tradeoff", "report")
# groups selected from the primary config by a plain `group=option` override
GROUPS = ("anon", "attack", "data", "evaluation", "experiment", "frontier", "model", "paths", "privacy", "split",
          "task", "tracking")
NESTED = ("anon/identifiers", "anon/hierarchies")  # chosen inside anon=optimal|mondrian
SIM = ["data.n_patients=60"]


def options(group: str) -> list[str]:
    """Every option of a config group: its YAML files, sub-folders as ``variants/x``."""
    base = CONF / group
    nested = {CONF / n for n in NESTED}
    return sorted(
        str(p.relative_to(base).with_suffix(""))
        for p in base.rglob("*.yaml")
        if not any(p.is_relative_to(n) for n in nested if n != base) or base in nested
    )


CASES = [(g, o) for g in GROUPS for o in options(g)]
NESTED_CASES = [(g, o) for g in NESTED for o in options(g)]


def test_every_yaml_file_is_a_tested_option():
    """No option file escapes the parametrization below (hydra/launcher and search included)."""
    files = {str(p.relative_to(CONF).with_suffix("")) for p in CONF.rglob("*.yaml")}
    tested = {f"{g}/{o}" for g, o in CASES + NESTED_CASES}
    tested |= {f"search/{o}" for o in options("search")}
    tested |= {f"hydra/launcher/{o}" for o in options("hydra/launcher")}
    tested |= {f"hydra/sweeper/{o}" for o in options("hydra/sweeper")}
    tested |= set(PRIMARY)
    assert files == tested
    assert {"mondrian", "optimal", "paper_rules", "safe_harbor", "none"} <= set(options("anon"))
    assert {"adult", "csv", "toy", "simulated", "mimic"} == set(options("data"))


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """A private root (store, key) and a local MLflow URI for tracking=server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'server.db'}")
    monkeypatch.setenv("PRIVHEALTH_PSEUDONYM_KEY", "compose-test-key-0123456789abcdef")
    return tmp_path


def _compose(name: str, overrides: list[str], hydra_cfg: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=hydra_cfg)
    if not hydra_cfg:  # the hydra node holds run-time interpolations (hydra.job.num)
        OmegaConf.resolve(cfg)
    return cfg


def _targets(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Outermost ``_target_`` nodes (instantiate builds the nested ones with them)."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
            return
        for k in node:
            yield from _targets(node[k], f"{path}.{k}" if path else str(k))
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node):
            yield from _targets(v, f"{path}[{i}]")


def _csv(root: Path) -> list[str]:
    """A small table of declared roles for data=csv."""
    path = root / "my.csv"
    pd.DataFrame({
        "pid": [1, 2, 3, 4], "age": [34, 51, 67, 45], "zip": ["02115", "02139", "03060", "02116"],
        "dx": ["flu", "copd", "flu", "sepsis"], "died": [0, 1, 0, 1],
    }).to_csv(path, index=False)
    schema = ("{pid:{role:entity,kind:integer},age:{role:quasi,kind:numeric},zip:{role:quasi,kind:string},"
              "dx:{role:sensitive,kind:categorical},died:{role:target,kind:integer}}")
    return [f"data.path={path}", f"+data.schema={schema}"]


def _data_overrides(option: str, root: Path, shared: Path | None) -> list[str]:
    if option == "csv":
        return _csv(root)
    if option == "adult":
        return [f"paths.shared_data={shared}"]
    if option == "mimic":
        from privhealth.data.mimic import to_mimictable_csv
        from privhealth.data.simulator import simulate_cohort

        path = to_mimictable_csv(simulate_cohort(n_patients=40, seed=1), root / "MIMICtable.csv")
        return [f"data.path={path}"]
    return SIM if option == "simulated" else []


def _shared(request, group: str, option: str) -> Path | None:
    return request.getfixturevalue("shared_data") if (group, option) == ("data", "adult") else None


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_option_composes_resolves_and_instantiates(group, option, env, request):
    shared = _shared(request, group, option)
    extra = _data_overrides(option, env, shared) if group == "data" else SIM
    cfg = _compose("config", [f"paths.root={env}", f"{group}={option}", *extra])
    built = {path: instantiate(node, _convert_="all") for path, node in _targets(cfg)}
    assert built, "nothing to instantiate"
    assert isinstance(built["data"], Dataset) and len(built["data"].frame) > 0
    assert hasattr(built["anon"], "anonymize")
    assert set(built) >= {f"model.{m}" for m in cfg.model}
    for m in cfg.model:
        assert hasattr(built[f"model.{m}"], "fit"), m
    if group == "tracking":
        from privhealth.experiments.tracking import ensure_experiment

        assert ensure_experiment(str(cfg.tracking.uri), str(cfg.tracking.experiment),
                                 cfg.tracking.get("artifact_root"))
        if option == "server":
            assert cfg.tracking.uri == f"sqlite:///{env / 'server.db'}"


@pytest.mark.parametrize(("group", "option"), NESTED_CASES, ids=[f"{g}={o}" for g, o in NESTED_CASES])
@pytest.mark.parametrize("anon", ["optimal", "mondrian"])
def test_nested_anon_option_instantiates(group, option, anon, env):
    cfg = _compose("config", [f"paths.root={env}", f"anon={anon}", f"{group}={option}", *SIM])
    a = instantiate(cfg.anon, _convert_="all")
    assert hasattr(a, "anonymize")


@pytest.mark.parametrize("launcher", options("hydra/launcher"))
def test_launcher_and_sweep_callback_instantiate(launcher, env):
    cfg = _compose("config", [f"paths.root={env}", f"hydra/launcher={launcher}", *SIM], hydra_cfg=True)
    assert instantiate(cfg.hydra.launcher) is not None
    for name, cb in cfg.hydra.callbacks.items():
        assert instantiate(cb) is not None, name


def test_the_default_sweeper_is_the_projects_grid_sweeper(env):
    """conf/config.yaml selects hydra/sweeper=privhealth (docs/sweeps.md); experiment=paper's params reach it."""
    from hydra.core.plugins import Plugins

    from privhealth.experiments.launcher import register_launcher

    register_launcher()
    cfg = _compose("config", [f"paths.root={env}", "experiment=paper", *SIM], hydra_cfg=True)
    assert cfg.hydra.sweeper._target_.endswith("PrivhealthSweeper")
    assert cfg.hydra.sweeper.params.anon.startswith("none,paper_rules")
    sweeper = Plugins.instance()._instantiate(cfg.hydra.sweeper)
    assert type(sweeper).__name__ == "PrivhealthSweeper" and sweeper.params["anon"] == cfg.hydra.sweeper.params.anon


def _ends(spec: DictConfig) -> list[Any]:
    """The values a searched parameter can take at its extremes: every choice, or low and high."""
    if spec.type == "categorical":
        return list(spec.choices)
    return [spec.low, spec.high]


@pytest.mark.parametrize("search", options("search"))
def test_search_space_composes_at_every_end(search, env):
    from privhealth.experiments.tradeoff import compose_trial

    base = [f"paths.root={env}", f"search={search}", *SIM]
    cfg = _compose("tradeoff", base)
    assert cfg.search and cfg.study.name
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for key, spec in cfg.search.items():
            prefix = spec.get("prefix", "")
            for value in _ends(spec):
                v = "null" if value is None else value
                pinned = [f"anon={_ends(cfg.search.anon)[0]}"] if key != "anon" and "anon" in cfg.search else []
                trial = compose_trial(base, [*pinned, f"{prefix}{key}={v}"])
                OmegaConf.resolve(trial)
                assert hasattr(instantiate(trial.anon, _convert_="all"), "anonymize"), (key, value)


@pytest.mark.parametrize("name", ["tradeoff", "report"])
def test_other_primary_configs_resolve(name, env):
    cfg = _compose(name, [f"paths.root={env}"])
    assert OmegaConf.to_container(cfg, resolve=True)
