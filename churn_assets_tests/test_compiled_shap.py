"""The tabulated, compiled TreeSHAP of batch scoring gives the numpy TreeSHAP's values."""

import numpy as np
import pytest

from churn_assets.core.scoring import compiled_shap
from churn_assets.core.scoring.batch_reasons import batch_explainer, explain_batch
from churn_assets.model.explain import PipelineExplainer
from churn_assets_tests.test_explain import data, fitted  # noqa: F401  (the shared fixtures)


def test_same_values_as_numpy_treeshap_and_additive(fitted):  # noqa: F811
    family, pipeline, test = fitted
    numpy_ex = PipelineExplainer(pipeline)
    fast = batch_explainer(pipeline)
    if family == "logistic_regression":
        assert fast.shap is None  # exact linear contributions, nothing to tabulate
        return
    assert isinstance(fast.shap, compiled_shap.CompiledTreeShap)
    X = pipeline[:-1].transform(test)
    X[::5, 0] = np.nan  # missing values take the path's missing side
    want, got = numpy_ex.shap.shap_values(X), fast.shap.shap_values(X)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    ex = fast.explain_matrix(X)
    np.testing.assert_allclose(ex.base_value + ex.features.sum(axis=1), ex.raw_score, rtol=0, atol=1e-6)
    frame = test.head(200)
    want = explain_batch(pipeline, frame, 3)
    assert explain_batch(pipeline, frame, 3, fast) == want
    # Batch scoring passes the rows of the chunk's encoded matrix instead of encoding them again.
    rows = np.arange(0, 200, 7)
    got = explain_batch(pipeline, frame.iloc[rows], 3, fast, X=pipeline[:-1].transform(frame)[rows])
    assert got == [[col[i] for i in rows] for col in want]
    assert got == [list(col) for col in zip(*fast.explain_frame(frame.iloc[rows]).reasons(3))]


def test_reasons_are_top_for_every_row(fitted):  # noqa: F811
    _, pipeline, test = fitted
    ex = PipelineExplainer(pipeline).explain_frame(test.head(50))
    assert ex.reasons(3) == [[f"{n}:{v:+.2f}" for n, v in ex.top(i, 3)] for i in range(50)]


def test_leaves_not_tabulated_give_the_same_values(fitted, monkeypatch):  # noqa: F811
    family, pipeline, test = fitted
    if family == "logistic_regression":
        pytest.skip("no trees")
    X = pipeline[:-1].transform(test)
    tree_shap = PipelineExplainer(pipeline).shap
    full = compiled_shap.compile_shap(tree_shap)
    monkeypatch.setattr(compiled_shap, "MAX_TABLE_VALUES", 0)  # every leaf computed per row
    none = compiled_shap.compile_shap(tree_shap)
    monkeypatch.undo()
    monkeypatch.setattr(compiled_shap, "MAX_D", 3)  # only the shallow leaves tabulated
    some = compiled_shap.compile_shap(tree_shap)
    monkeypatch.undo()
    assert none.tabulated == 0 < some.tabulated < len(some.d) and full.tabulated > some.tabulated
    for ex in (none, some):
        np.testing.assert_allclose(ex.shap_values(X), full.shap_values(X), rtol=0, atol=1e-12)
