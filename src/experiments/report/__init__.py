"""`privhealth-report`: the paper's tables and figures regenerated from the MLflow store.

Reads the latest ``experiment=paper`` sweep (or a given one) and the latest trade-off study
from the tracking store and writes, under ``reports/paper/``, Markdown, CSV and LaTeX tables
and PNG figures, each beside the paper's printed numbers: Figs. 4-6 on the paper's toy table,
Fig. 6 for every cohort release, Table 2 (before vs after, measured), Figs. 7-10 and the
headline claims with a verdict each; then logs them as artifacts of a new MLflow run tagged
``privhealth.kind=report``. Whatever the store lacks is reported as "not measured" with what
is missing, never as a crash of the whole report. See docs/paper.md.

Modules: ``writer`` (cells, tables, sections), ``toy_figures`` (Figs. 4-6), ``cohort`` (Fig. 6
per release, Table 2), ``risk`` (attack artifacts, HIPAA Safe Harbor), ``figures`` (Figs. 7-10,
one function each), ``frontier`` (Eq. 9-10), ``claims`` (verdicts), ``build`` (the report),
``cli`` (the entry point).
"""

import matplotlib

matplotlib.use("Agg")

from privhealth.experiments.report.build import PaperReport, build_report
from privhealth.experiments.report.claims import (
    PAPER_CLAIMS,
    UTILITY_CLAIMS,
    Claim,
    utility_verdict,
    verdict,
)
from privhealth.experiments.report.writer import NOT_MEASURED, Section, Writer, fmt

__all__ = ["NOT_MEASURED", "PAPER_CLAIMS", "UTILITY_CLAIMS", "Claim", "PaperReport", "Section", "Writer",
           "build_report", "fmt", "utility_verdict", "verdict"]
