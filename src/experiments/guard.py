"""Checks the command line before Hydra writes anything: credentials refused, the config composed and validated.

Hydra saves the overrides and the composed config under ``.hydra/`` (and ``multirun.yaml``)
and prints the overrides of every sweep job before any of our code runs. So a password
given on the command line would be on disk and on the console before the framework could
redact it: overrides carrying a credential are refused here, and the message names the
setting and the way to pass it instead — an environment variable read through
``${oc.env:…}``, which Hydra saves unresolved. A single run's config is also composed and
validated here, so a bad setting (unknown option, wrong type, out of range) ends with exit
status 2 before any output folder, run, store or cache entry exists; a multirun's jobs are
checked by the sweep callback before its parent run is created.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from privhealth.errors import ConfigError, PrivHealthError
from privhealth.experiments.anon_settings import refuse_ignored
from privhealth.experiments.tracking import flatten, is_secret_key, redact_uri_password

log = logging.getLogger("privhealth")
_KEY = re.compile(r"^[+~]{0,2}([^=]+)=(.*)$", re.S)


def env_hint(key: str) -> str:
    var = "PRIVHEALTH_" + re.sub(r"[^A-Za-z0-9]+", "_", key).upper().strip("_")
    return f"export {var}=… and pass {key}='${{oc.env:{var}}}'"


def holds_credential(key: str, value: Any) -> bool:
    """A literal (not ``${…}``) password in a URI, or a non-empty value under a secret-looking key."""
    if not isinstance(value, str) or not value or "${" in value:
        return False
    return redact_uri_password(value) != value or is_secret_key(key)


def credential_overrides(overrides: Sequence[str]) -> list[str]:
    """The keys of command-line overrides that carry a credential in clear."""
    bad = []
    for item in overrides:
        m = _KEY.match(item)
        if m and holds_credential(m.group(1).strip(), m.group(2).strip().strip("'\"")):
            bad.append(m.group(1).strip())
    return bad


def credential_keys(cfg: DictConfig) -> list[str]:
    """Dotted keys of the (unresolved) config that hold a credential in clear, e.g. from a YAML file."""
    flat = flatten(OmegaConf.to_container(cfg, resolve=False))
    return [k for k, v in flat.items() if not k.startswith("hydra.") and holds_credential(k, v)]


def refuse_credentials(keys: Sequence[str], where: str) -> None:
    if keys:
        raise ConfigError(
            f"{', '.join(keys)}: a password or token {where} would be written in clear to Hydra's output "
            f"folder and console; keep it in an environment variable: {env_hint(keys[0])}"
        )


def framework_error(exc: BaseException | None) -> PrivHealthError | None:
    """The framework error behind ``exc`` (Hydra wraps errors raised while instantiating configs)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PrivHealthError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _has_sweep(overrides: Sequence[str]) -> bool:
    """Whether an override sweeps (``anon=none,paper_rules``): only a multirun config can compose it."""
    try:
        return any(o.is_sweep_override() for o in OverridesParser.create().parse_overrides(list(overrides)))
    except HydraException:
        return False  # a malformed override: composing it reports the error


def precheck(argv: Sequence[str], conf_dir: str, config_name: str, validate: Callable[[DictConfig], Any]) -> None:
    """Refuse credential overrides; compose and ``validate`` a single run's config. Exit 2 on a bad setting."""
    try:
        args = get_args_parser().parse_args(list(argv))
    except SystemExit:
        return  # Hydra reports its own usage errors
    try:
        refuse_credentials(credential_overrides(args.overrides or []), "on the command line")
        if args.help or args.hydra_help or args.info or args.shell_completion or args.experimental_rerun:
            return
        if args.multirun or args.config_path or args.config_dir or _has_sweep(args.overrides or []):
            return  # a sweep's jobs (also experiment=paper's list overrides) are checked by the sweep callback
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            try:
                cfg = compose(args.config_name or config_name, overrides=list(args.overrides or []),
                              return_hydra_config=True)
            except HydraException as exc:
                raise ConfigError(str(exc).splitlines()[0]) from None
            refuse_credentials(credential_keys(cfg), "in the config")
            if str(OmegaConf.select(cfg, "hydra.mode", default="")) == "RunMode.MULTIRUN" or args.cfg:
                return
            with open_dict(cfg):
                del cfg["hydra"]
            try:
                validate(cfg)
            except Exception as exc:
                err = framework_error(exc)
                if err is None:
                    return  # not a settings problem: the run itself reports it
                raise err from None
            refuse_ignored(cfg, args.overrides or [])  # anon.k with anon=paper_rules: exit 2, naming anon.k
    except PrivHealthError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
