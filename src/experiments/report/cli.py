"""`privhealth-report`: the Hydra entry point around build_report."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from privhealth.errors import PrivHealthError
from privhealth.experiments.report.build import build_report
from privhealth.experiments.report.writer import (
    NOT_MEASURED,
    fmt,
)

log = logging.getLogger("privhealth.report")
CONF_DIR = str(Path(__file__).resolve().parents[3] / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="report")
def main(cfg: DictConfig) -> None:
    """Build the report from the configured store and print where it went and what is missing."""
    r = cfg.report
    try:
        rep = build_report(
            uri=str(cfg.tracking.uri), out=str(r.out), experiment=str(cfg.tracking.experiment),
            sweep_experiment=str(r.experiment), sweep_id=r.get("sweep_id"), study=r.get("study"),
            paper_variant=str(r.paper_release), log_run=bool(r.log_to_mlflow),
            artifact_root=cfg.tracking.get("artifact_root"),
            families=bool(r.frontier.families), frontier_risk=list(r.frontier.risk),
            frontier_utility=str(r.frontier.utility),
        )
    except PrivHealthError as exc:
        log.error("%s", exc)
        sys.exit(2)
    claims = rep.tables.get("claims")
    if claims is not None:
        print(claims[["claim", "model", "measured", "95% CI", "baseline", "verdict"]].map(fmt).to_markdown(index=False))
    print(f"\nReport: {rep.out / 'paper_report.md'} ({len(rep.files)} files; sweep {rep.sweep_id or NOT_MEASURED}; "
          f"MLflow report run {rep.run_id or '-'})")
    if rep.missing:
        print(f"Not measured ({len(rep.missing)}): " + "; ".join(rep.missing[:8]) + (" ..." if len(rep.missing) > 8 else ""))
    if rep.errors:
        print(f"{len(rep.errors)} section(s) failed; see the report's 'Errors' section.")
        sys.exit(1)



if __name__ == "__main__":
    main()
