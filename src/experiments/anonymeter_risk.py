"""Anonymeter's singling-out, linkability and inference risks of the job's release, as run metrics.

Anonymeter needs a control set disjoint from the records the release was made from. With the
default ``evaluation.release_scope=all`` every patient is in the job's release, so the
evaluation uses fold 0: ori = its training patients (raw), syn = the release of those patients
alone (the fold's own release with ``release_scope=train``; otherwise the same anonymizer run
once more on them, cached like every release), control = its test patients (raw). The attacks
live in ``privhealth.anon.attacks.anonymeter_eval``; settings: ``attack.anonymeter``
(conf/attack/default.yaml, docs/risk.md). The figures are cached per release, settings and code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from privhealth.anon.attacks.anonymeter_eval import AnonymeterSettings, assess_anonymeter
from privhealth.anon.release import Release
from privhealth.data.schema import Dataset
from privhealth.experiments.cache import code_fingerprint, config_fingerprint, json_entry
from privhealth.experiments.protocol import Plan, train_patients

CODE = ("anon/attacks/anonymeter_eval.py", "anon/patient_table.py", "experiments/anonymeter_risk.py")


def settings_of(cfg: DictConfig) -> AnonymeterSettings:
    """``attack.anonymeter`` of a job config (off without an ``attack`` group or that key)."""
    attack = cfg.get("attack")
    node = None if attack is None else attack.get("anonymeter")
    if node is None:
        return AnonymeterSettings(enabled=False)
    plain = OmegaConf.to_container(node, resolve=True)
    return AnonymeterSettings.from_mapping({str(k): v for k, v in plain.items()} if isinstance(plain, dict) else None)


def anonymeter_metrics(cfg: DictConfig, plan: Plan, anonymize: Callable[[Dataset], tuple[Release, bool, str]],
                       cache_root: Path, cache_enabled: bool) -> dict[str, float]:
    """``risk/anonymeter_*`` of the release of fold 0's training patients against its test patients.

    ``anonymize`` is the pipeline's cached anonymization (release, cache hit, cache key): with
    ``release_scope=train`` the fold's release is a cache hit. Nothing runs when
    ``attack.anonymeter.enabled`` is false.
    """
    settings = settings_of(cfg)
    if not settings.enabled:
        return {}
    release, _, release_key = anonymize(train_patients(plan, 0))
    window = int(cfg.task.get("window_blocs", 1))
    seed = int(cfg.seed)
    frame = plan.dataset.frame
    test = plan.test_mask(0)

    def compute() -> dict[str, float]:
        return assess_anonymeter(release, frame.loc[~test], frame.loc[test], window, settings, seed)

    if not cache_enabled:
        return compute()
    key = config_fingerprint("anonymeter-1", release_key, asdict(settings), window, seed,
                             plan.settings.spec(), code_fingerprint(CODE))
    value, _ = json_entry(cache_root, key, lambda text: dict(json.loads(text)), compute, json.dumps)
    return {str(k): float(v) for k, v in value.items()}

