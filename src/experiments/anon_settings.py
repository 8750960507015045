"""Which ``anon.*`` settings each anonymization honours: an override that would do nothing is refused.

``anon.k=5`` with ``anon=paper_rules`` used to run silently: the paper's fixed rules never read
k, so two runs gave identical results, each anonymized separately. The keys an option honours
are derived from its composed config and its ``_target_``'s constructor (a key the constructor
does not take does nothing), less the keys a class only reports (``REPORTED_ONLY``: the paper's
k, l, t targets a rule-based release is judged against) and the keys that take effect only with
another setting (``CONDITIONAL``: ``anon.c`` only for recursive l-diversity, …). The release
cache key is built from ``effective_settings`` so that settings doing nothing never split it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from privhealth.errors import ConfigError

# keys a class takes only to label or judge its release, never to shape its data
REPORTED_ONLY: dict[str, frozenset[str]] = {
    "privhealth.anon.release.RuleBasedAnonymizer": frozenset({"k", "l", "t"}),
}
_ENFORCED = "privhealth.anon.enforce.EnforcedAnonymizer"
# key → (does it take effect, given the option's settings; when it does) per class
CONDITIONAL: dict[str, dict[str, tuple[Callable[[Mapping[str, Any]], bool], str]]] = {
    _ENFORCED: {
        "c": (lambda s: s.get("l") is not None and s.get("l_variant") == "recursive",
              "only with anon.l set and anon.l_variant=recursive"),
        "l_variant": (lambda s: s.get("l") is not None, "only with anon.l set"),
        "t_distance": (lambda s: s.get("t") is not None, "only with anon.t set"),
        "metric": (lambda s: s.get("method") == "optimal", "only by the optimal (lattice) search"),
        "max_levels": (lambda s: s.get("method") == "optimal", "only by the optimal (lattice) search"),
    },
}
_SYNTHETIC = "privhealth.anon.synthetic.SyntheticAnonymizer"
CONDITIONAL[_SYNTHETIC] = {
    key: (lambda s: s.get("method") == "mst", "only with method=mst (anon=dp_synthetic); the copula has no privacy budget")
    for key in ("epsilon", "delta", "iters")
}
_ALWAYS = frozenset({"_target_", "_convert_", "_recursive_", "_partial_"})


def option_name(anon: Mapping[str, Any]) -> str:
    """The anonymization's name as the user chose it (``paper_rules``, ``optimal``, ``none``)."""
    target = str(anon.get("_target_", ""))
    return str(anon.get("name") or anon.get("method") or target.rsplit(".", 1)[-1] or "anon")


def _parameters(target: str) -> tuple[set[str], bool]:
    """The constructor's named parameters, and whether it takes ``**kwargs`` (then every key counts)."""
    try:
        params = inspect.signature(get_class(target)).parameters.values()
    except Exception:  # an unknown target: instantiating it reports the error
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def ignored(anon: Mapping[str, Any]) -> dict[str, str]:
    """{key: why it does nothing} for the keys of an ``anon`` config (resolved container) that take no effect."""
    target = str(anon.get("_target_", ""))
    names, any_key = _parameters(target)
    out: dict[str, str] = {}
    for key in anon:
        if key in _ALWAYS:
            continue
        if not any_key and key not in names:
            out[key] = f"anon={option_name(anon)} ({target.rsplit('.', 1)[-1]}) takes no '{key}'"
        elif key in REPORTED_ONLY.get(target, ()):
            out[key] = (f"anon={option_name(anon)} applies fixed rules that never read it (its k, l, t are the "
                        "targets the release is judged against); to enforce it use anon=optimal or anon=mondrian")
        elif key in CONDITIONAL.get(target, {}):
            takes_effect, when = CONDITIONAL[target][key]
            if not takes_effect(anon):
                out[key] = f"anon={option_name(anon)} reads it {when}"
    return out


def effective_settings(anon: Mapping[str, Any]) -> dict[str, Any]:
    """The ``anon`` settings that shape the release (the release cache key): conditional no-ops left out.

    Reported-only keys stay: they label the release (``details['targets']``) even if its data ignores them.
    """
    target = str(anon.get("_target_", ""))
    drop = {k for k in ignored(anon) if k in CONDITIONAL.get(target, {})}
    return {k: v for k, v in anon.items() if k not in drop}


def overridden_anon_keys(overrides: Sequence[str]) -> list[str]:
    """The ``anon.<key>`` settings (top-level keys of the anon group) that command-line overrides set."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return []  # a malformed override: composing it reports the error
    keys = []
    for o in parsed:
        name = o.key_or_group
        if o.is_delete() or not name.startswith("anon.") or o.package:
            continue
        keys.append(name.split(".")[1])
    return list(dict.fromkeys(keys))


def refuse_ignored(cfg: DictConfig, overrides: Sequence[str], where: str = "") -> None:
    """ConfigError naming each ``anon.<key>`` override that the chosen anonymization ignores."""
    keys = overridden_anon_keys(overrides)
    if not keys or OmegaConf.select(cfg, "anon") is None:
        return
    anon = OmegaConf.to_container(cfg.anon, resolve=True)
    assert isinstance(anon, dict)
    why = ignored({str(k): v for k, v in anon.items()})
    bad = [k for k in keys if k in why]
    if bad:
        prefix = f"{where}: " if where else ""
        detail = "; ".join(f"anon.{k}: {why[k]}" for k in bad)
        raise ConfigError(f"{prefix}setting {', '.join('anon.' + k for k in bad)} would do nothing — {detail}. "
                          "Remove it (a sweep: sweep it only with the anonymizations that use it)")
