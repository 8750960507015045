"""A multirun's job list made honest: overrides a job ignores are dropped, then identical jobs run once.

``-m anon=none,optimal,dp_synthetic anon.epsilon=1,8`` crosses ``anon.epsilon`` with every anonymization,
but only ``dp_synthetic`` reads it: ``anon=none anon.epsilon=1`` cannot even be composed (no such key),
and ``anon=synthetic anon.epsilon=8`` would redo the copula for nothing. Per job, an ``anon.<key>``
override the job's anonymization lacks or ignores (``anon_settings.ignored``) is dropped, and
``model.dp=<bool>`` becomes ``model.<name>.dp=<bool>`` for every selected model; jobs that become
identical are merged into one (issue 16.4: "a warning and no duplicate work"). A single run keeps
refusing such a setting (``anon_settings.refuse_ignored``). Used by the sweep callback (to compose
and validate the jobs) and by ``PrivhealthSweeper`` (to launch them); memoized, so one sweep plans once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from privhealth.experiments.anon_settings import ignored, option_name

log = logging.getLogger("privhealth")
MODEL_DP = "model.dp"
Compose = Callable[[list[str]], DictConfig]  # overrides → composed config (with its hydra node: the choices)


@dataclass
class SweepPlan:
    """The jobs to launch, what was dropped from which grid job, and which grid jobs were merged."""

    grid: list[list[str]]
    jobs: list[list[str]]
    dropped: dict[tuple[str, str], str] = field(default_factory=dict)  # (override key, anon option) → why
    merged: list[tuple[int, list[int]]] = field(default_factory=list)  # (launched job #, its grid job #s)

    def warnings(self) -> list[str]:
        """One line per dropped setting and per merged group, as printed and tagged on the sweep's parent."""
        by_key: dict[str, list[str]] = {}
        for (key, option), why in self.dropped.items():
            by_key.setdefault(key, []).append(f"anon={option} {why}")
        lines = [f"sweep: {key} dropped from the jobs where it would do nothing ({'; '.join(whys)})"
                 for key, whys in by_key.items()]
        for num, grid_nums in self.merged:
            lines.append(f"sweep: grid jobs {', '.join('#' + str(g) for g in grid_nums)} are the same job once "
                         f"those settings are dropped: run once as job #{num} ({' '.join(self.jobs[num])})")
        if self.merged:
            lines.append(f"sweep: {len(self.grid)} grid jobs, {len(self.jobs)} distinct jobs launched")
        return lines


def _parse(job: Sequence[str]) -> list[Any]:
    return OverridesParser.create().parse_overrides(list(job))


def _anon_key(o: Any) -> str | None:
    """``k`` for a plain ``anon.k=…`` override (not ``+anon.k``, ``~anon.k`` nor ``anon.a.b``), else None."""
    name = o.key_or_group
    if o.is_delete() or o.is_add() or o.is_force_add() or o.package or not name.startswith("anon."):
        return None
    parts = name.split(".")
    return parts[1] if len(parts) == 2 else None


def plan_job(job: Sequence[str], compose: Compose) -> tuple[list[str], dict[tuple[str, str], str]]:
    """The job's overrides with ignored ``anon.*`` settings dropped and ``model.dp`` expanded; what was dropped."""
    parsed = _parse(job)
    keys = [_anon_key(o) for o in parsed]
    dp = [o for o in parsed if o.key_or_group == MODEL_DP and not o.is_delete()]
    if not any(keys) and not dp:
        return list(job), {}
    base = [s for s, k, o in zip(job, keys, parsed, strict=True) if not k and o.key_or_group != MODEL_DP]
    try:
        cfg = compose(base)
    except HydraException:
        return list(job), {}  # the job is broken anyway: composing it as given reports why
    anon = OmegaConf.to_container(cfg.anon, resolve=True) if cfg.get("anon") is not None else {}
    assert isinstance(anon, dict)
    # the option as chosen (anon=none, also through an experiment's or a frontier point's defaults)
    option = str(OmegaConf.select(cfg, "hydra.runtime.choices.anon", default=None) or option_name(anon))
    dropped: dict[tuple[str, str], str] = {}
    for k in keys:
        if k and k not in anon:
            dropped[(f"anon.{k}", option)] = f"has no setting '{k}'"
    kept_anon = [s for s, k in zip(job, keys, strict=True) if k and (f"anon.{k}", option) not in dropped]
    if kept_anon:
        try:
            full = compose(base + kept_anon)
        except HydraException:
            return list(job), {}
        resolved = OmegaConf.to_container(full.anon, resolve=True)
        assert isinstance(resolved, dict)
        why = ignored({str(a): b for a, b in resolved.items()})
        for k in keys:
            if k and k in why:
                dropped[(f"anon.{k}", option)] = why[k].removeprefix(f"anon={option_name(anon)} ")
    models = list(cfg.model.keys()) if cfg.get("model") else []
    out: list[str] = []
    for s, k, o in zip(job, keys, parsed, strict=True):
        if k and (f"anon.{k}", option) in dropped:
            continue
        if o.key_or_group == MODEL_DP and not o.is_delete():
            value = o.value()
            text = str(value).lower() if isinstance(value, bool) else o.get_value_element_as_str()
            out += [f"model.{m}.dp={text}" for m in models]
            continue
        out.append(s)
    return out, dropped


_MEMO: dict[tuple[Any, ...], SweepPlan] = {}


def plan_sweep(grid: Sequence[Sequence[str]], compose: Compose, memo_key: Any = None) -> SweepPlan:
    """Plan every grid job, merge the identical ones (first one's order kept); warn once per memo key."""
    key = (memo_key, tuple(tuple(j) for j in grid))
    if key in _MEMO:
        return _MEMO[key]
    plan = SweepPlan(grid=[list(j) for j in grid], jobs=[])
    index: dict[frozenset[str], int] = {}
    members: list[list[int]] = []
    for g, job in enumerate(grid):
        out, dropped = plan_job(job, compose)
        plan.dropped.update({k: v for k, v in dropped.items() if k not in plan.dropped})
        ident = frozenset(out)
        if ident in index:
            members[index[ident]].append(g)
            continue
        index[ident] = len(plan.jobs)
        plan.jobs.append(out)
        members.append([g])
    plan.merged = [(n, gs) for n, gs in enumerate(members) if len(gs) > 1]
    for line in plan.warnings():
        log.warning("%s", line)
    _MEMO[key] = plan
    return plan


def _is_value(o: Any) -> bool:
    """A plain ``a.b=v`` value override (not a group choice, not ``+``/``~``, not ``hydra.*``)."""
    name = o.key_or_group
    return ("." in name and "/" not in name and not name.startswith("hydra.") and not o.package
            and not (o.is_delete() or o.is_add() or o.is_force_add()))


def prepare_argv(argv: Sequence[str], conf_dir: str, config_name: str = "config") -> list[str]:
    """The command line made composable: ``model.dp=<bool>``, and a multirun's settings of keys its
    parent config lacks.

    Single run: ``model.dp=true`` becomes ``model.<name>.dp=true`` per selected model. Multirun
    (``-m`` or an experiment with ``hydra.mode: MULTIRUN``): Hydra composes the sweep's parent config
    (the default groups) with every one-value override, so ``model.dp=true``, an ``anon.epsilon=1`` the
    default anonymization lacks or a ``model.dense.max_epochs=10`` for models the jobs select would
    fail there; each becomes the one-value sweep ``choice(<v>)``, which Hydra applies per job only,
    where ``plan_sweep`` expands ``model.dp`` and drops ``anon.*`` keys a job lacks (any other missing
    key fails that job's composition, naming it). Anything else is left as is.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser

    try:
        args = get_args_parser().parse_args(list(argv))
        parsed = _parse(args.overrides or [])
    except (SystemExit, HydraException):
        return list(argv)  # Hydra reports its own usage and syntax errors
    values = [i for i, o in enumerate(parsed) if not o.is_sweep_override() and _is_value(o)]
    if not values or args.config_path or args.config_dir:
        return list(argv)
    overrides = list(args.overrides)
    base = [s for i, (s, o) in enumerate(zip(overrides, parsed, strict=True))
            if i not in values and not o.is_sweep_override()]  # the groups of the sweep's parent (or the run)
    try:
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            cfg = compose(args.config_name or config_name, overrides=base, return_hydra_config=True)
    except HydraException:
        return list(argv)
    multirun = args.multirun or str(OmegaConf.select(cfg, "hydra.mode", default="")) == "RunMode.MULTIRUN"
    models = list(cfg.model.keys()) if cfg.get("model") else []
    missing = object()
    new: list[str] = []
    for i, (s, o) in enumerate(zip(overrides, parsed, strict=True)):
        lacking = i in values and OmegaConf.select(cfg, o.key_or_group, default=missing) is missing
        if lacking and multirun:
            new.append(f"{o.key_or_group}=choice({s.split('=', 1)[1]})")
        elif lacking and o.key_or_group == MODEL_DP:
            value = o.value()
            text = str(value).lower() if isinstance(value, bool) else o.get_value_element_as_str()
            new += [f"model.{m}.dp={text}" for m in models]
        else:
            new.append(s)  # composed as given (a single run's ignored anon.<key> is then refused)
    rest = list(argv)[: len(argv) - len(overrides)] if argv[len(argv) - len(overrides):] == overrides else None
    if rest is None:  # flags after the overrides: rebuild conservatively
        rest = [a for a in argv if a not in overrides]
    return rest + new
