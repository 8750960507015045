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
