"""The Dagster idioms the code location promises (docs/ARCHITECTURE.md), read from the loaded
definitions: every asset has a code version, external idempotent steps retry, the daily scoring has
a freshness policy, the checks exist."""

import dagster as dg
import pytest

from churn_assets.definitions import defs

RETRIED = {"scoring_batch", "churn_predictions", "drift_report", "model_performance", "model_evaluation",
           "churn_bento", "registered_model", "labelled_outcomes"}
NOT_RETRIED = {"training_data", "customer_features"}  # local work: a retry cannot heal it


@pytest.fixture(scope="module")
def graph():
    return defs().resolve_asset_graph()


def test_every_asset_has_a_code_version(graph):
    missing = sorted(k.to_user_string() for k in graph.materializable_asset_keys if not graph.get(k).code_version)
    assert not missing, f"assets without code_version (a CODE_VERSION constant per module): {missing}"


def test_retry_policies(graph):
    def policy(name):
        return graph.assets_def_for_key(dg.AssetKey(name)).node_def.retry_policy

    for name in RETRIED:
        p = policy(name)
        assert p and p.max_retries >= 1 and p.backoff == dg.Backoff.EXPONENTIAL, name
    assert all(policy(name) is None for name in NOT_RETRIED)


def test_daily_scoring_has_a_freshness_policy(graph):
    for name in ("scoring_batch", "churn_predictions", "drift_report"):
        assert isinstance(graph.get(dg.AssetKey(name)).freshness_policy, dg.FreshnessPolicy), name


def test_checks_and_external_storage(graph):
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert {("model_evaluation", "roc_auc_above_floor"), ("drift_report", "no_data_drift"),
            ("model_performance", "performance_within_tolerance")} <= checks
    # consumers of the predictions table depend on it without loading it through the IO manager
    for name in ("drift_report", "model_performance"):
        assets_def = graph.assets_def_for_key(dg.AssetKey(name))
        assert dg.AssetKey("churn_predictions") in assets_def.asset_deps[dg.AssetKey(name)]
        assert assets_def.node_def.input_dict["churn_predictions"].dagster_type.is_nothing
