"""Champion/challenger in a real MLflow registry: better promoted, worse not, rollback in one command."""

import os
import subprocess
import sys

import mlflow
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.registry import model_registry as registry
from churn_assets.core.training import tracking, tuning
from churn_assets.core.training.model_logging import log_pipeline
from churn_assets.core.training.modeling import assemble, feature_steps
from churn_assets.core.training.splits import split
from churn_assets_tests.conftest import env_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data():
    spec = synthetic_spec(rows=4000)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    return contract, split(validate(raw, contract).clean, contract.target_column, contract.id_column)


def _register(client, name, contract, splits, estimator, label):
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(splits.train).transform(splits.train)).transform(builder.transform(splits.train))
    pipe = assemble(builder, encoder, estimator.fit(X, splits.train[contract.target_column]))
    model = tuning.TunedModel(pipe, label, {}, 0.5, contract, {"f1": 0.0}, "s", 0.0, {})
    exp = tracking.ensure_experiment(client, "registry-test")
    run_id = client.create_run(exp).info.run_id
    with tracking.active(run_id):
        uri = log_pipeline(model, splits.val)
    return registry.register(client, name, uri, run_id, {"family": label})


def test_promotion_gate_and_rollback(isolated, data):
    contract, splits = data
    client = tracking.client(isolated.mlflow_tracking_uri)
    name, target = isolated.model_name, contract.target_column

    def gate(version):
        d = registry.decide(client, name, version, splits.test, target, "roc_auc", margin=0.0)
        if d.promoted:
            registry.promote(client, name, version)
        return d

    weak = HistGradientBoostingClassifier(max_iter=3, max_depth=2, random_state=0)
    v1 = _register(client, name, contract, splits, weak, "hgb-weak")
    d1 = gate(v1)
    assert d1.promoted and "first model" in d1.reason
    assert str(client.get_model_version_by_alias(name, "challenger").version) == v1

    v2 = _register(client, name, contract, splits, DummyClassifier(strategy="prior"), "dummy")  # worse
    d2 = gate(v2)
    assert not d2.promoted and d2.challenger_score < d2.champion_score
    assert registry.champion_version(client, name) == v1  # a worse model is never promoted
    assert str(client.get_model_version_by_alias(name, "challenger").version) == v2

    v3 = _register(client, name, contract, splits, LogisticRegression(C=0.01, max_iter=500), "lr")
    d3 = gate(v3)
    assert d3.promoted and d3.challenger_score > d3.champion_score and d3.champion_version == v1
    assert registry.champion_version(client, name) == v3

    d3_again = registry.decide(client, name, v3, splits.test, target)
    assert not d3_again.promoted  # already champion: no-op

    # Rollback is one command (a process of its own: the store and model name reach it by its env).
    out = subprocess.run([sys.executable, "-m", "churn_assets.cli", "rollback"], capture_output=True, text=True,
                         env={**os.environ, **env_for(isolated, "mlflow_tracking_uri", "model_name")},
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert f"from v{v3} to v{v1}" in out.stdout
    assert registry.champion_version(client, name) == v1
    with pytest.raises(RuntimeError, match="no previous champion"):
        registry.rollback(client, name)


def test_margin_blocks_equal_or_marginal_models(isolated, data):
    contract, splits = data
    client = tracking.client(isolated.mlflow_tracking_uri)
    name = isolated.model_name
    v1 = _register(client, name, contract, splits, HistGradientBoostingClassifier(random_state=0), "hgb")
    registry.promote(client, name, v1)
    v2 = _register(client, name, contract, splits, HistGradientBoostingClassifier(random_state=0), "hgb")
    d = registry.decide(client, name, v2, splits.test, contract.target_column, margin=0.0)
    assert not d.promoted and np.isclose(d.challenger_score, d.champion_score)  # equal is not better
    d = registry.decide(client, name, v2, splits.test, contract.target_column, margin=-0.01)
    assert d.promoted  # a negative margin would allow it: the margin is what decides
    assert mlflow.sklearn.load_model(f"models:/{name}@champion") is not None


def test_a_champion_of_another_data_contract_is_never_replaced(isolated, data):
    import dataclasses

    contract, splits = data
    client = tracking.client(isolated.mlflow_tracking_uri)
    name = isolated.model_name
    v1 = _register(client, name, contract, splits, HistGradientBoostingClassifier(max_iter=5), "hgb")
    registry.promote(client, name, v1)
    kept = [c for c in contract.columns if c.name != "feature_usage_score"]
    other = dataclasses.replace(contract, dataset="other_shop", columns=kept)
    v2 = _register(client, name, other, splits, LogisticRegression(max_iter=300), "lr")
    with pytest.raises(registry.ContractMismatch) as err:
        registry.decide(client, name, v2, splits.test, contract.target_column)
    text = str(err.value)
    assert "'synthetic'" in text and "'other_shop'" in text and "feature_usage_score:numeric" in text
    assert registry.champion_version(client, name) == v1


def test_promotion_is_a_compare_and_set(isolated, data):
    contract, splits = data
    client = tracking.client(isolated.mlflow_tracking_uri)
    name = isolated.model_name
    v1 = _register(client, name, contract, splits, HistGradientBoostingClassifier(max_iter=3, max_depth=2), "weak")
    registry.promote(client, name, v1)
    v2 = _register(client, name, contract, splits, LogisticRegression(C=0.01, max_iter=500), "lr")
    decision = registry.decide(client, name, v2, splits.test, contract.target_column, pinned=v1)
    assert decision.promoted and decision.champion_version == v1
    v3 = _register(client, name, contract, splits, LogisticRegression(C=1.0, max_iter=500), "lr2")
    registry.promote(client, name, v3)  # another run promoted meanwhile
    with pytest.raises(registry.PromotionConflict, match=f"changed from v{v1} to v{v3}"):
        registry.promote(client, name, v2, expected=v1)
    assert registry.champion_version(client, name) == v3
    registry.promote(client, name, v2, expected=v3)  # judged against the right champion: allowed
    assert registry.champion_version(client, name) == v2


def test_the_time_holdout_decides_when_there_is_one(isolated, data):
    contract, splits = data
    client = tracking.client(isolated.mlflow_tracking_uri)
    name = isolated.model_name
    v1 = _register(client, name, contract, splits, LogisticRegression(C=0.01, max_iter=500), "lr")
    registry.promote(client, name, v1)
    v2 = _register(client, name, contract, splits, DummyClassifier(strategy="prior"), "dummy")
    recent = splits.val  # neither trained on it here: stands in for the newest labelled day
    d = registry.decide(client, name, v2, splits.test, contract.target_column, recent=recent, pinned=v1)
    assert d.basis == "time_holdout" and d.recent["rows"] == len(recent) and d.test["rows"] == len(splits.test)
    assert d.challenger_score == d.recent["challenger"] and not d.promoted
    tags = d.tags()
    assert tags["gate_basis"] == "time_holdout" and tags["gate_recent_rows"] == str(len(recent))
    empty = registry.decide(client, name, v2, splits.test, contract.target_column, recent=recent.iloc[0:0], pinned=v1)
    assert empty.basis == "test_split" and empty.recent is None
