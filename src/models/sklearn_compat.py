"""A minimal shim so diffprivlib 0.6 imports beside scikit-learn >= 1.8.

diffprivlib's forest module does ``from sklearn.tree._tree import Tree, DOUBLE, DTYPE,
NODE_DTYPE``; scikit-learn 1.8 stopped exporting the two dtype aliases ``DTYPE`` (float32,
the trees' feature dtype) and ``DOUBLE`` (float64, their target dtype) from that Cython
module. Re-adding exactly those two names, with the values scikit-learn always gave them,
before diffprivlib is imported is all it needs; nothing else of scikit-learn is touched,
and nothing is changed when they exist. tests/test_dp_training.py checks it.
"""

from __future__ import annotations

import numpy as np

# the values scikit-learn <= 1.7 exported (sklearn/tree/_tree.pyx: DTYPE, DOUBLE)
RESTORED = {"DTYPE": np.float32, "DOUBLE": np.float64}


def patch_for_diffprivlib() -> list[str]:
    """Add the missing dtype aliases to ``sklearn.tree._tree``; returns the names added."""
    import sklearn.tree._tree as tree_module

    added = []
    for name, value in RESTORED.items():
        if not hasattr(tree_module, name):
            setattr(tree_module, name, value)
            added.append(name)
    return added


def dp_logistic_regression() -> type:
    """diffprivlib's ``LogisticRegression``, or a subclass that works with scikit-learn >= 1.8.

    diffprivlib 0.6.6 passes ``multi_class='ovr'`` to scikit-learn's constructor, an argument
    scikit-learn 1.8 removed. For the binary task here one-vs-rest and multinomial are the
    same model, so the subclass calls scikit-learn's constructor without it; everything else
    (diffprivlib's private ``fit``, its budget accounting) is diffprivlib's own.
    """
    import inspect

    import diffprivlib.models as dpm
    from diffprivlib.accountant import BudgetAccountant
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    if "multi_class" in inspect.signature(SkLogisticRegression.__init__).parameters:
        return dpm.LogisticRegression

    class CompatLogisticRegression(dpm.LogisticRegression):  # type: ignore[misc]
        def __init__(self, *, epsilon: float = 1.0, data_norm: float | None = None,
                     tol: float = 1e-4, C: float = 1.0, fit_intercept: bool = True,
                     max_iter: int = 100, verbose: int = 0, warm_start: bool = False,
                     n_jobs: int | None = None, random_state: object = None,
                     accountant: object = None) -> None:
            SkLogisticRegression.__init__(
                self, tol=tol, C=C, fit_intercept=fit_intercept, intercept_scaling=1.0,
                class_weight=None, random_state=random_state, solver="lbfgs",
                max_iter=max_iter, verbose=verbose, warm_start=warm_start, n_jobs=n_jobs,
            )
            self.epsilon = epsilon
            self.data_norm = data_norm
            self.classes_ = None
            self.accountant = BudgetAccountant.load_default(accountant)

    return CompatLogisticRegression
