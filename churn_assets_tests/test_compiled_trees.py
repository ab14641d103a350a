"""Compiled batch inference (numba) returns scikit-learn's probabilities to the last bit."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from churn_assets.core.scoring.compiled_trees import compile_ensemble
from churn_assets_tests.test_fast_trees import MODELS, _probe, data  # noqa: F401  (the shared fixture)

# Trees of at most 64 leaves are evaluated as bitvectors, in the narrowest words that hold their leaves;
# deeper trees walk the node table. Each kernel and word width is checked here.
KERNELS = {"hgb": ("bitvectors", "uint32"), "hgb-nan": ("bitvectors", "uint32"),
           "hgb-balanced": ("bitvectors", "uint32"), "rf": ("node walk", None), "rf-nan": ("node walk", None),
           "hgb-8-nan": ("bitvectors", "uint8"), "hgb-64": ("bitvectors", "uint64"),
           "rf-16-nan": ("bitvectors", "uint16"), "hgb-stumps": ("bitvectors", "uint8")}
MORE = [
    ("hgb-8-nan", lambda: HistGradientBoostingClassifier(max_iter=90, max_leaf_nodes=8, random_state=0), True),
    ("hgb-64", lambda: HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=64, min_samples_leaf=5,
                                                      random_state=0), False),
    ("rf-16-nan", lambda: RandomForestClassifier(30, max_leaf_nodes=16, random_state=0, n_jobs=1), True),
    ("hgb-stumps", lambda: HistGradientBoostingClassifier(max_iter=50, max_depth=1, random_state=0), False),
]


@pytest.mark.parametrize("name,make,with_nan", MODELS + MORE, ids=[m[0] for m in MODELS + MORE])
def test_identical_probabilities(data, name, make, with_nan):  # noqa: F811
    X, X_nan, y = data
    X_fit = X_nan if with_nan else X
    est = make().fit(X_fit, y)
    compiled = compile_ensemble(est)
    assert compiled is not None
    kernel, width = KERNELS[name]
    assert compiled.kernel == kernel
    if width:
        assert compiled.bitvectors[3].dtype == width
    probe = np.vstack([_probe(X_fit, seed) for seed in range(4)] + [X_fit])  # 5,200 rows: many blocks
    if with_nan:
        probe[::7, 1] = np.nan
        probe[::11] = np.nan  # rows missing everywhere
    for n in (1, 127, 128, 129, 511, 512, 513, len(probe)):
        got, want = compiled.predict_proba(probe[:n]), est.predict_proba(probe[:n])
        assert got.shape == want.shape and np.array_equal(got, want), n


def test_logistic_regression_is_not_compiled(data):  # noqa: F811
    X, _, y = data
    assert compile_ensemble(LogisticRegression().fit(X, y)) is None


def test_no_writable_cache_folder_compiles_per_process(monkeypatch):
    """numba raises at decoration when no cache folder is writable (a read-only image): the kernels
    are then compiled without the on-disk cache instead of failing the import."""
    import numba

    from churn_assets.core.scoring import compiled_trees

    real = numba.njit

    def no_cache_folder(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", no_cache_folder)

    @compiled_trees.cached_njit(nogil=True)
    def twice(x):
        return 2 * x

    assert twice(21) == 42
