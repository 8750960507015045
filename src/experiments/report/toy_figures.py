"""Figs. 4, 5 and 6 on the paper's toy table, beside the paper's printouts."""

from __future__ import annotations

import numpy as np

from privhealth.experiments import toy
from privhealth.experiments.report.writer import (
    Section,
    Writer,
)


def toy_sections(w: Writer) -> list[Section]:
    """Figs. 4, 5 and 6 on the paper's toy table, with the library, beside the printouts."""
    original, anon = toy.fig4_tables()
    s4 = Section("Fig. 4: dataset before and after anonymization (toy table)")
    same = anon.equals(toy.PAPER_FIG4_ANONYMIZED.astype(str))
    s4.add(
        "Command: `privhealth.experiments.toy.fig4_tables()` (rules: sequential pseudonyms, names "
        "masked, age bands 0-30/31-50/51-100, ZIP to 3 digits).",
        w.table(original, "fig4_original", "Fig. 4, original dataset"),
        w.table(anon, "fig4_anonymized", "Fig. 4, anonymized dataset"),
        f"Equal to the paper's printout: **{'yes' if same else 'NO'}**. "
        f"Printout: [fig4_printout.txt](fig4_printout.txt).",
    )
    w.text("fig4_printout.txt", toy.fig4_printout())

    s5 = Section("Fig. 5: one-hot feature matrix")
    f5 = toy.fig5()
    matrix_ok = np.array_equal(f5.features.to_numpy(), toy.PAPER_FIG5_MATRIX)
    shapes_ok = (f5.train_shape, f5.test_shape) == (toy.PAPER_FIG5_SHAPES["train"], toy.PAPER_FIG5_SHAPES["test"])
    f4 = toy.fig5(anon)
    matrix = f5.features.astype(int).rename(columns=lambda c: c.replace("Diagnosis_", "Dx_"))
    s5.add(
        "The paper prints a 6 x 6 matrix (train (4, 6), test (2, 6)) although Fig. 4 has four patients. "
        "Its columns read as one-hot Age band x 3 then Diagnosis x 3, categories sorted as "
        "`pandas.get_dummies` and scikit-learn sort them; ZIP (constant 123XX) is not among them. "
        "Every row then holds one 1 per block, so the implied table is determinate:",
        w.table(f5.table, "fig5_implied_table", "Fig. 5: the table the paper's matrix encodes"),
        w.table(matrix, "fig5_feature_matrix", "Fig. 5: one-hot feature matrix of the implied table"),
        f"Reproduced exactly from the implied table: matrix **{'yes' if matrix_ok else 'NO'}**, shapes "
        f"train {f5.train_shape} / test {f5.test_shape} **{'yes' if shapes_ok else 'NO'}**.",
        "**Discrepancy.** The implied table is not the Fig. 4 table: rows 2-4 are P2-P4, row 1 is "
        "(0-30, Diabetes) where P1 has Flu, and rows 5-6 repeat rows 1 and 3 with no patient behind them. "
        f"The Fig. 4 table itself encodes to a {f4.features.shape} matrix (split {f4.train_shape} / "
        f"{f4.test_shape}); no split of four rows gives (4, 6) and (2, 6).",
        w.table(toy.fig5_row_comparison(), "fig5_vs_fig4", "Fig. 5 rows against the Fig. 4 patients"),
    )
    w.text("fig5_printout.txt", f5.printout() + "\n# the Fig. 4 table itself:\n" + f4.printout())

    s6 = Section("Fig. 6: privacy metric evaluation (toy table)")
    p6 = toy.fig6(anon)
    paper_ok = p6.paper_verdicts() == toy.PAPER_FIG6
    th = p6.thresholds
    s6.add(
        f"Thresholds: k={th['k']} (the paper prints none; its classes fail every k >= 2), l={th['l']}, "
        f"t={th['t']} (KL, as printed). As the paper computes it, k per (Age, ZIP) class but l per ZIP "
        "alone (one class: the whole table) and KL over the whole table (0 by construction):",
        "```\n" + p6.printout() + "```",
        f"Equal to the paper's printout: **{'yes' if paper_ok else 'NO'}**. Per (Age, ZIP) class, as "
        "Eq. 12-14 define l and t, the release satisfies none of the three:",
        w.table(p6.class_table(), "fig6_toy_classes", "Fig. 6 per (Age, ZIP) class (KL in nats)"),
        "```\n" + p6.honest_printout() + "```",
    )
    w.text("fig6_toy_printout.txt", p6.printout() + "\n# per (Age, ZIP) class:\n" + p6.honest_printout())
    return [s4, s5, s6]

