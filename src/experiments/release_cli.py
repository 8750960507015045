"""`privhealth-release`: anonymize a table to files (CSV, Parquet, JSON sidecar), no training.

The same config groups as ``privhealth-run`` (``data=…``, ``anon=…``, ``attack``), the same
release cache and the same checks: the release is measured (k, l, t) and attacked (unless
``~attack``), then written to ``release/`` in the Hydra output folder or ``release.dir``.
Nothing is logged to MLflow; use ``privhealth-run`` for runs to compare.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError
from privhealth.experiments.artifacts import release_folder
from privhealth.experiments.cache import ReleaseCache, RiskCache
from privhealth.experiments.export import write_release
from privhealth.experiments.guard import framework_error
from privhealth.experiments.pipeline import (
    anonymize,
    assess,
    finite,
    make_anonymizer,
    measure_release,
    privacy_metrics,
)
from privhealth.experiments.run import CONF_DIR

log = logging.getLogger("privhealth")


def release_only(cfg: DictConfig) -> tuple[Path, dict[str, Any]]:
    """Load, anonymize, measure and attack the configured table, write the release; its folder and figures."""
    anonymizer = make_anonymizer(cfg)
    dataset = instantiate(cfg.data, _convert_="all")
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"data config '{cfg.data.get('_target_')}' did not return a Dataset")
    cache_root = Path(str(cfg.paths.cache))
    releases = ReleaseCache(cache_root / "releases", enabled=bool(cfg.cache.enabled))
    release, _, key = anonymize(cfg, dataset, releases, anonymizer)
    if not release.steps:
        raise ConfigError("anon=none releases the source table itself: choose an anonymization "
                          "(anon=optimal, anon=mondrian, anon=safe_harbor or anon=paper_rules)")
    report = measure_release(cfg, release)
    metrics = privacy_metrics(report, release)
    if cfg.get("attack") is not None:
        risk, _ = assess(cfg, dataset, release, key, RiskCache(cache_root / "risk", enabled=bool(cfg.cache.enabled)))
        metrics.update(risk.metrics())
    folder = release_folder(cfg, "release-only")
    write_release(release, folder, dataset.name, report.to_dict(), finite(metrics))
    return folder, finite(metrics)


def main() -> None:
    """Entry point: make the project's sweeper and launcher known to Hydra (a ``-m`` grid), then run."""
    from privhealth.experiments.launcher import register_launcher

    register_launcher()
    hydra_main()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    """Write the anonymized release of ``data`` under ``anon``; exit 2 with the reason on bad input."""
    try:
        folder, m = release_only(cfg)
    except Exception as exc:
        err = framework_error(exc)
        if err is None:
            raise
        log.error("%s: %s", type(err).__name__, err)
        sys.exit(2)
    shown = {k: m[k] for k in ("privacy/k", "privacy/l_distinct", "privacy/t_emd", "privacy/suppressed_fraction",
                               "risk/safe_harbor_pass") if k in m}
    print("release written to", folder)
    print("  " + "  ".join(f"{k.split('/')[1]}={v:.4g}" for k, v in shown.items()))


if __name__ == "__main__":
    main()
