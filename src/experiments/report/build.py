"""build_report: every section, guarded, assembled into paper_report.md, a manifest and an MLflow run."""

from __future__ import annotations

import json
import logging
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from privhealth.experiments.report.claims import caveats, claims_section
from privhealth.experiments.report.cohort import (
    ReleaseInfo,
    cohort_privacy_section,
    release_infos,
    table2_section,
)
from privhealth.experiments.report.families import DEFAULT_RISK, DEFAULT_UTILITY, families_section
from privhealth.experiments.report.figures import model_sections
from privhealth.experiments.report.frontier import frontier_section
from privhealth.experiments.report.risk import risk_section
from privhealth.experiments.report.toy_figures import toy_sections
from privhealth.experiments.report.writer import (
    NOT_MEASURED,
    Section,
    Writer,
)
from privhealth.experiments.report_data import Store, Sweep, find_sweep
from privhealth.experiments.tracking import ensure_experiment, git_commit

log = logging.getLogger("privhealth.report")


@dataclass
class PaperReport:
    """What ``build_report`` wrote: files, tables (as data), what was not measured, the MLflow run."""

    out: Path
    files: list[Path]
    tables: dict[str, pd.DataFrame]
    missing: list[str]
    errors: list[str]
    sweep_id: str | None
    run_id: str | None = None


def guarded(title: str, build: Callable[[], Section | list[Section]], errors: list[str]) -> list[Section]:
    """Run one section builder; an unexpected error becomes a 'not measured' section, not a crash."""
    try:
        out = build()
        return out if isinstance(out, list) else [out]
    except Exception as exc:  # the report must survive any one broken section
        log.error("report section '%s' failed: %s", title, exc)
        errors.append(f"{title}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        s = Section(title)
        s.not_measured(f"the section failed ({type(exc).__name__}: {exc})")
        return [s]


def clean_previous(out: Path) -> None:
    """Remove the files a previous report listed in its manifest (never anything else)."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_text()).get("files", [])
    except ValueError:
        return
    for name in [*listed, "manifest.json"]:
        p = out / Path(name).name
        if p.is_file():
            p.unlink()


def build_report(
    uri: str,
    out: str | Path,
    experiment: str = "privhealth",
    sweep_experiment: str = "paper",
    sweep_id: str | None = None,
    study: str | None = None,
    paper_variant: str = "paper_rules",
    log_run: bool = True,
    artifact_root: str | None = None,
    families: bool = False,
    frontier_risk: Sequence[str] = DEFAULT_RISK,
    frontier_utility: str = DEFAULT_UTILITY,
) -> PaperReport:
    """Write the paper report for the latest ``sweep_experiment`` sweep in the store at ``uri``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_previous(out)
    w = Writer(out)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="privhealth-report-") as scratch:
        store = Store(uri, experiment, scratch)
        sweep = find_sweep(store, sweep_experiment, sweep_id)
        sections: list[Section] = []
        claims = guarded("claims", lambda: claims_section(w, sweep, paper_variant), errors)
        sections += guarded("toy", lambda: toy_sections(w), errors)
        if sweep is None or sweep.runs.empty:
            what = (f"sweep {sweep_id}" if sweep_id else f"a sweep tagged privhealth.experiment={sweep_experiment}")
            s = Section("Cohort figures (Fig. 6 cohort, Table 2, Figs. 7-10)")
            s.not_measured(f"no finished model run of {what} in {uri}, experiment '{experiment}' "
                           f"(run `privhealth-run experiment={sweep_experiment}`)")
            sections.append(s)
        else:
            infos: dict[str, ReleaseInfo] = {}

            def _infos() -> Section:
                infos.update(release_infos(store, sweep))
                return cohort_privacy_section(w, sweep, infos)

            sections += guarded("Fig. 6 cohort", _infos, errors)
            sections += guarded("Table 2", lambda: table2_section(w, sweep, infos), errors)
            sections += guarded("risk artifacts", lambda: risk_section(w, store, sweep), errors)
            if paper_variant not in sweep.variants:
                s = Section("Figs. 7-10")
                s.not_measured(f"release '{paper_variant}' is not in sweep {sweep.sweep_id} "
                               f"(it holds {', '.join(sweep.variants)})")
                sections.append(s)
            sections += guarded("Figs. 7-10", lambda: model_sections(w, store, sweep, paper_variant), errors)
        if families and sweep is not None and not sweep.runs.empty:  # issue 18: every family on one frontier
            sections += guarded("families", lambda: families_section(w, sweep, frontier_risk, frontier_utility),
                                errors)
        sections += guarded("frontier", lambda: frontier_section(w, store, study), errors)
        missing = [m for s in [*claims, *sections] for m in s.missing]
        md = assemble(uri, sweep, claims, sections, missing, errors)
        w.text("paper_report.md", md)
        report = PaperReport(out, list(dict.fromkeys(w.files)), w.tables, missing, errors,
                             sweep.sweep_id if sweep else None)
        manifest = {"store": uri, "experiment": experiment, "sweep_id": report.sweep_id,
                    "sweep_run_id": sweep.parent.info.run_id if sweep and sweep.parent else None,
                    "releases": sweep.variants if sweep else [],
                    "runs": sweep.runs["run_id"].tolist() if sweep is not None and len(sweep.runs) else [],
                    "paper_release": paper_variant, "missing": missing, "errors": errors,
                    "files": [p.name for p in report.files]}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
        report.files.append(out / "manifest.json")
        if log_run:
            report.run_id = log_report_run(uri, experiment, artifact_root, out, report, sweep)
    return report


def assemble(uri: str, sweep: Sweep | None, claims: list[Section], sections: list[Section],
             missing: list[str], errors: list[str]) -> str:
    """The Markdown report: provenance, claims first, then the figures in the paper's order."""
    if sweep is not None and sweep.parent is not None:
        p = sweep.parent
        prov = (f"sweep `{sweep.sweep_id}` (run {p.info.run_id}, started "
                f"{pd.Timestamp(p.info.start_time, unit='ms'):%Y-%m-%d %H:%M} UTC, commit "
                f"`{p.data.tags.get('privhealth.git_commit', '?')}`, overrides "
                f"`{p.data.tags.get('privhealth.overrides', '') or 'none'}`)")
    else:
        prov = f"sweep `{sweep.sweep_id}`" if sweep else NOT_MEASURED
    head = [
        "# The paper's tables and figures, regenerated from MLflow",
        "Paper: Prem Kumar M. et al. (2025), *Balancing patient privacy and predictive accuracy through "
        "data anonymization in healthcare*. Every number below is read back from the tracking store; the "
        "paper's printed values stand beside ours.",
        f"Store: `{uri}` · {prov} · report commit `{git_commit()}`.",
        caveats(sweep),
    ]
    tail = ["## Not measured\n\n" + ("\n".join(f"- {m}" for m in missing) if missing else "Everything was measured.")]
    if errors:
        tail.append("## Errors\n\n" + "\n".join(f"- {e.splitlines()[0]}" for e in errors))
    return "\n\n".join([*head, *(s.markdown() for s in [*claims, *sections]), *tail]) + "\n"


def log_report_run(uri: str, experiment: str, artifact_root: str | None, out: Path, report: PaperReport,
                   sweep: Sweep | None) -> str:
    """A new MLflow run tagged privhealth.kind=report holding every file as an artifact."""
    from mlflow.tracking import MlflowClient

    exp_id = ensure_experiment(uri, experiment, artifact_root)
    client = MlflowClient(tracking_uri=uri)
    tags = {"privhealth.kind": "report", "privhealth.report": "paper", "privhealth.git_commit": git_commit()}
    if sweep is not None:
        tags["privhealth.sweep_id"] = sweep.sweep_id
    run = client.create_run(exp_id, run_name="paper-report", tags=tags)
    try:
        for p in report.files:
            client.log_artifact(run.info.run_id, str(p), artifact_path="paper")
        client.log_metric(run.info.run_id, "report/not_measured", len(report.missing))
        client.log_metric(run.info.run_id, "report/errors", len(report.errors))
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id

