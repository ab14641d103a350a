"""The small-batch tree predictor returns scikit-learn's probabilities to the last bit."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from churn_assets.model.tree_arrays import compile_model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4000, 12))
    X[:, 3] = rng.integers(0, 4, 4000)  # few distinct values: many exact ties with thresholds
    y = ((X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] + rng.normal(0, 1, 4000)) > 0.8).astype(int)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.05] = np.nan
    return X, X_nan, y


def _probe(X_fit, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    probe = rng.normal(size=(300, X_fit.shape[1]))
    probe[:100] = X_fit[:100]  # values seen in training sit exactly on bin thresholds
    probe[100:110, 3] = np.arange(10) - 3
    return probe


MODELS = [
    ("hgb", lambda: HistGradientBoostingClassifier(max_iter=120, max_leaf_nodes=31, random_state=0), False),
    ("hgb-nan", lambda: HistGradientBoostingClassifier(max_iter=80, random_state=0), True),
    ("hgb-balanced", lambda: HistGradientBoostingClassifier(max_iter=60, class_weight="balanced", random_state=0),
     False),
    ("rf", lambda: RandomForestClassifier(60, max_depth=12, random_state=0, n_jobs=1), False),
    ("rf-nan", lambda: RandomForestClassifier(40, random_state=0, n_jobs=1), True),
]


@pytest.mark.parametrize("name,make,with_nan", MODELS, ids=[m[0] for m in MODELS])
def test_identical_probabilities(data, name, make, with_nan):
    X, X_nan, y = data
    X_fit = X_nan if with_nan else X
    est = make().fit(X_fit, y)
    fast = compile_model(est)
    assert fast is not None
    probe = _probe(X_fit)
    if with_nan:
        probe[::7, 1] = np.nan
    for n in (1, 2, 7, 32, 64, fast.max_rows, 300):
        assert np.array_equal(fast.predict_proba(probe[:n]), est.predict_proba(probe[:n])), n


def test_other_models_are_not_compiled(data):
    X, _, y = data
    assert compile_model(LogisticRegression().fit(X, y)) is None
