"""The privacy-utility frontier of the latest trade-off study (Eq. 9-10)."""

from __future__ import annotations

from privhealth.experiments.report.writer import (
    Section,
    Writer,
)
from privhealth.experiments.report_data import Store, find_study


def frontier_section(w: Writer, store: Store, study_name: str | None) -> Section:
    """The privacy-utility frontier of the latest trade-off study (its tradeoff/*.csv artifacts)."""
    from privhealth.experiments.tradeoff import lambda_table, pareto_front
    from privhealth.experiments.tradeoff_report import frontier_figure

    s = Section("Privacy-utility frontier (Eq. 9-10)")
    run = find_study(store, study_name)
    if run is None:
        s.not_measured("no trade-off study in the store" + (f" named '{study_name}'" if study_name else "")
                       + " (run `privhealth-tradeoff`)")
        return s
    rid = run.info.run_id
    trials = store.csv(rid, "tradeoff/trials.csv")
    if trials is None or trials.empty or not {"R", "U"} <= set(trials.columns):
        s.not_measured(f"study run {rid} has no tradeoff/trials.csv with R and U (the study wrote no report yet)")
        return s
    front = store.csv(rid, "tradeoff/pareto_front.csv")
    front = pareto_front(trials) if front is None else front
    lam = store.csv(rid, "tradeoff/lambda_table.csv")
    lam = lambda_table(front, [i / 10 for i in range(11)]) if lam is None else lam
    name = run.data.tags.get("privhealth.study", rid)
    params = [c for c in lam.columns if c.startswith("param:")]
    s.add(f"Study `{name}` (run {rid}, mode {run.data.tags.get('privhealth.mode', '?')}): {len(trials)} trials, "
          f"{len(front)} on the Pareto front; stars mark the λ-optimal points of Eq. 10.",
          w.figure(frontier_figure(trials, front, lam), "frontier"),
          w.table(lam[[c for c in ("lambda", "trial", "R", "U", *params) if c in lam.columns]],
                  "frontier_lambda", "Best configuration per lambda (Eq. 10)"),
          w.table(front[[c for c in ("trial", "R", "U", *params) if c in front.columns]],
                  "frontier_pareto", "Pareto front (minimise R, maximise U)"))
    return s

