"""Exact explanations: additivity per family on real fitted Pipelines, TreeSHAP equal to brute-force
Shapley values of the path-dependent game, and aggregation back to the raw columns."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.training.modeling import assemble, feature_steps, make_estimator
from churn_assets.model.explain import PipelineExplainer, column_mapping, raw_sources
from churn_assets.model.tree_shap import TreeShap, forest_trees

PARAMS = {
    "logistic_regression": {"C": 0.5, "class_weight": "balanced"},
    "random_forest": {"n_estimators": 40, "max_depth": 8, "min_samples_leaf": 5, "max_features": "sqrt",
                      "max_samples": 0.5, "class_weight": "balanced_subsample"},
    "hist_gradient_boosting": {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                               "l2_regularization": 0.1, "max_features": 0.8},
}


@pytest.fixture(scope="module")
def data():
    """Synthetic customers plus a categorical `plan` column (one-hot, with a rare value -> <other>)."""
    spec = synthetic_spec(rows=3000)
    raw = load_raw(spec)
    rng = np.random.default_rng(3)
    raw["plan"] = rng.choice(["basic", "pro", "team", "legacy"], len(raw), p=[0.5, 0.3, 0.1995, 0.0005])
    raw.loc[raw["plan"] == "pro", "churn"] = rng.random((raw["plan"] == "pro").sum()) < 0.1
    spec.column_types["plan"] = "categorical"
    contract = resolve_contract(spec, raw)
    return contract, validate(raw, contract).clean


@pytest.fixture(scope="module", params=list(PARAMS))
def fitted(request, data):
    contract, clean = data
    builder, encoder = feature_steps(contract)
    train, test = clean.iloc[:2400], clean.iloc[2400:]
    X = encoder.fit(builder.fit(train).transform(train)).transform(builder.transform(train))
    est = make_estimator(request.param, PARAMS[request.param], seed=1).fit(X, train[contract.target_column])
    return request.param, assemble(builder, encoder, est), test


def test_additive_to_the_models_raw_score(fitted):
    family, pipeline, test = fitted
    ex = PipelineExplainer(pipeline).explain_frame(test)
    model, X = pipeline.named_steps["model"], pipeline[:-1].transform(test)
    raw = model.predict_proba(X)[:, 1] if family == "random_forest" else model.decision_function(X)
    assert ex.space == ("probability" if family == "random_forest" else "log_odds")
    np.testing.assert_allclose(ex.base_value + ex.contributions.sum(axis=1), raw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ex.base_value + ex.features.sum(axis=1), raw, rtol=0, atol=1e-6)
    assert np.array_equal(ex.probability, pipeline.predict_proba(test)[:, 1])
    assert np.abs(ex.contributions).max() > 0.01  # something is explained, not all zeros
    # Small batches score through core/fast_trees (flattened trees): the same raw score to the last bit.
    small = PipelineExplainer(pipeline).explain_frame(test.head(20))
    assert np.array_equal(small.raw_score, raw[:20]) and np.array_equal(small.probability, ex.probability[:20])
    np.testing.assert_allclose(small.base_value + small.contributions.sum(axis=1), raw[:20], rtol=0, atol=1e-6)


def test_records_and_frame_give_the_same_explanation(fitted, data):
    _, pipeline, test = fitted
    contract = data[0]
    cols = contract.feature_columns
    records = [{c: (None if pd.isna(v) else v.date().isoformat() if isinstance(v, pd.Timestamp) else v)
                for c, v in row.items()} for row in test[cols].head(50).to_dict("records")]
    ex = PipelineExplainer(pipeline)
    a, b = ex.explain_records(records), ex.explain_frame(test.head(50))
    np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-12)


def test_aggregated_to_raw_columns(fitted, data):
    _, pipeline, test = fitted
    contract = data[0]
    ex = PipelineExplainer(pipeline).explain_frame(test.head(200))
    assert set(ex.columns) == set(contract.feature_columns)  # raw columns only: no "plan=pro", no recipe
    assert "plan" in ex.columns and not any("=" in c or c.startswith("days_since") for c in ex.columns)
    # The one-hot block of `plan` sums to the `plan` column exactly.
    plan = [i for i, n in enumerate(ex.feature_names) if n.startswith("plan=")]
    assert len(plan) == 4  # basic, pro, team + <other> (legacy is too rare to get a column)
    np.testing.assert_allclose(ex.features[:, plan].sum(axis=1), ex.contributions[:, ex.columns.index("plan")])
    reasons = ex.reasons(3)
    assert all(len(r) == 3 and all(":" in s for s in r) for r in reasons)
    name, value = ex.top(0, 1)[0]
    assert reasons[0][0] == f"{name}:{value:+.2f}"


def test_engineered_features_split_equally_among_their_raw_columns(fitted):
    _, pipeline, _ = fitted
    builder, encoder = pipeline.named_steps["features"], pipeline.named_steps["encode"]
    src = raw_sources(builder)
    assert src["support_burden"] == ["support_tickets", "customer_lifetime_months", "support_resolution_time"]
    assert src["days_since_last_login"] == ["last_login_date"]
    W, _cols = column_mapping(builder, encoder)
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    row = W[encoder.feature_names_.index("support_burden")]
    assert sorted(np.round(row[row > 0], 12)) == [round(1 / 3, 12)] * 3


def _brute_force_shapley(tree, x, n_features):
    """Shapley values of the path-dependent game, by enumerating every coalition (Algorithm 1's EXPVALUE)."""
    t = tree.tree_

    def value(S, node=0):
        if t.children_left[node] < 0:
            return t.value[node, 0, 1]
        f, l, r = t.feature[node], t.children_left[node], t.children_right[node]
        if f in S:
            return value(S, l if np.float32(x[f]) <= t.threshold[node] else r)
        wl, wr = t.weighted_n_node_samples[l], t.weighted_n_node_samples[r]
        return (wl * value(S, l) + wr * value(S, r)) / (wl + wr)

    phi = np.zeros(n_features)
    for i in range(n_features):
        others = [j for j in range(n_features) if j != i]
        for k in range(len(others) + 1):
            w = math.factorial(k) * math.factorial(n_features - k - 1) / math.factorial(n_features)
            for S in itertools.combinations(others, k):
                phi[i] += w * (value(set(S) | {i}) - value(set(S)))
    return phi, value(set())


def test_tree_shap_equals_brute_force_shapley():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[:, 4] = rng.integers(0, 3, 400)  # ties at thresholds
    y = (X[:, 0] * X[:, 1] + X[:, 2] + rng.normal(0, 0.5, 400) > 0).astype(int)
    tree = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y)  # features reused along paths
    shap = TreeShap(forest_trees(type("F", (), {"estimators_": [tree]})()), 5, float32_inputs=True)
    probe = np.vstack([X[:5], rng.normal(size=(3, 5))])
    got = shap.shap_values(probe)
    for row, x in enumerate(probe):
        want, base = _brute_force_shapley(tree, x, 5)
        np.testing.assert_allclose(got[row], want, atol=1e-12)
        assert shap.base_value == pytest.approx(base, abs=1e-12)


def test_forest_and_boosting_matrices_additive_with_missing_values():
    """TreeSHAP on raw matrices with NaNs (sklearn's missing-value routing) stays exact."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 8))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) > 0).astype(int)
    from churn_assets.model.tree_shap import boosting_trees

    hgb = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    base = float(np.asarray(hgb._baseline_prediction).ravel()[0])
    s = TreeShap(boosting_trees(hgb), 8, offset=base)
    np.testing.assert_allclose(s.base_value + s.shap_values(X[:300]).sum(1), hgb.decision_function(X[:300]),
                               atol=1e-9)
    rf = RandomForestClassifier(20, max_depth=7, random_state=0).fit(X, y)
    s = TreeShap(forest_trees(rf), 8, scale=1 / 20, float32_inputs=True)
    np.testing.assert_allclose(s.base_value + s.shap_values(X[:300]).sum(1), rf.predict_proba(X[:300])[:, 1],
                               atol=1e-9)


def test_rows_split_over_threads_give_the_same_values(fitted, monkeypatch):
    """Batch scoring splits TreeSHAP's rows over the cores: identical values, and the threads are used."""
    import threading

    family, pipeline, test = fitted
    if family == "logistic_regression":
        pytest.skip("linear contributions have no TreeSHAP pass")
    one = PipelineExplainer(pipeline).explain_frame(test)
    names, values = set(), TreeShap._values

    def recording(self, X):
        names.add(threading.current_thread().name)
        return values(self, X)

    monkeypatch.setattr(TreeShap, "_values", recording)
    split = PipelineExplainer(pipeline, threads=3).explain_frame(test)
    # The pool ran every chunk (which pool thread takes which chunk is the scheduler's choice).
    assert len(test) >= 3 * 64 and names and all(n.startswith("tree-shap") for n in names)
    assert np.array_equal(one.features, split.features) and np.array_equal(one.contributions, split.contributions)
