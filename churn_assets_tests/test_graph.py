"""The whole asset graph materialized in-process on small data, against a real Dagster instance
and a real MLflow store."""


import mlflow
import numpy as np
import pytest

from churn_assets.core.training import tracking
from churn_assets_tests.conftest import resources, run_training, settings

pytestmark = pytest.mark.slow

EXPECTED = {"raw_customers", "data_contract", "clean_customers", "quarantined_customers", "customer_features",
            "training_splits", "tuned_model", "model_evaluation", "registered_model"}


def _materializations(result):
    return {e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()}


def test_whole_graph_materializes(trained):
    mats = _materializations(trained["result"])
    assert EXPECTED <= set(mats)
    ev = mats["model_evaluation"]
    for key in ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "threshold"):
        assert isinstance(ev[key].value, float), key
    assert ev["roc_auc"].value > 0.75  # a real signal was learned on 4,000 customers
    for plot in ("plot_roc", "plot_pr", "plot_calibration", "plot_importance"):
        assert ev[plot].value.startswith("![")
    clean = mats["clean_customers"]
    assert clean["raw_rows"].value == clean["dagster/row_count"].value + clean["quarantined_rows"].value
    assert mats["training_splits"]["overlapping_customers"].value == 0
    tuned = mats["tuned_model"]
    assert tuned["trials_total"].value == 6 and tuned["family"].value in (
        "logistic_regression", "random_forest", "hist_gradient_boosting")


def test_asset_checks_ran(trained):
    checks = {e.asset_check_key.name: e.passed for e in trained["result"].get_asset_check_evaluations()}
    assert {k: checks[k] for k in ("bad_row_share_within_limit", "target_is_learnable", "roc_auc_above_floor")} == \
        {"bad_row_share_within_limit": True, "target_is_learnable": True, "roc_auc_above_floor": True}
    assert set(checks) == {"bad_row_share_within_limit", "target_is_learnable", "roc_auc_above_floor",
                           "personal_columns_declared",  # WARN: the synthetic file has no personal columns
                           "beats_plain_baselines"}  # may warn on a small run: WARN, not a gate


def test_evaluation_floor_check_goes_red_without_stopping_the_run(trained):
    import dagster as dg

    from churn_assets.definitions import build_defs

    job = build_defs(settings(trained["settings"], min_roc_auc=0.999)).resolve_job_def("churn_training")  # above any model of this data
    result = job.execute_in_process(instance=trained["instance"], asset_selection=[dg.AssetKey("model_evaluation")])
    assert result.success
    ev = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}["roc_auc_above_floor"]
    assert ev.asset_check_key.name == "roc_auc_above_floor" and not ev.passed
    assert ev.severity == dg.AssetCheckSeverity.ERROR
    assert ev.metadata["floor"].value == 0.999 and ev.metadata["roc_auc"].value < 0.999


def test_column_schema_is_the_standard_metadata(trained):
    mats = _materializations(trained["result"])
    schema = mats["clean_customers"]["dagster/column_schema"].value
    assert "columns" not in mats["clean_customers"]
    assert trained["splits"].test.columns.isin([c.name for c in schema.columns]).sum() >= 10


def test_mlflow_run_per_dagster_run_with_trials_as_children(trained):
    tuned = trained["tuned"]
    client = tracking.client(trained["tracking_uri"])  # mlflow's global URI may point elsewhere by now
    parent = client.get_run(tuned.mlflow_run_id)
    assert parent.data.tags[tracking.DAGSTER_RUN_TAG] == trained["result"].run_id
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 6
    assert {c.data.tags["optuna.state"] for c in children} <= {"COMPLETE", "PRUNED"}
    assert "test_roc_auc" in parent.data.metrics and "val_roc_auc" in parent.data.metrics
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")}
    assert {"evaluation/roc.png", "evaluation/pr.png", "evaluation/calibration.png",
            "evaluation/importance.png"} <= artifacts


def test_logged_model_loads_back_with_identical_probabilities(trained):
    tuned, test = trained["tuned"], trained["splits"].test
    mlflow.set_tracking_uri(trained["tracking_uri"])  # load_model resolves runs through the global URI
    loaded = mlflow.sklearn.load_model(tuned.model_uri)
    assert np.array_equal(loaded.predict_proba(test)[:, 1], tuned.pipeline.predict_proba(test)[:, 1])
    # The pyfunc flavour returns probabilities too (not labels).
    pyfunc = mlflow.pyfunc.load_model(tuned.model_uri)
    cols = tuned.contract.feature_columns
    got = np.asarray(pyfunc.predict(test[cols].head(20)))
    assert got.shape[-1] == 2 and np.allclose(got[:, 1], tuned.pipeline.predict_proba(test.head(20))[:, 1])


def test_failed_run_marks_its_mlflow_run_failed(isolated, instance):
    """A step that fails inside MLflow tracking leaves the MLflow run FAILED, not FINISHED."""
    result = run_training(instance, rows=1500, trials=2, raise_on_error=False,
                          extra_config={"threshold_strategy": "bogus"}, settings=isolated)
    assert not result.success
    client = tracking.client(isolated.mlflow_tracking_uri)
    exp = client.get_experiment_by_name("churn_assets")
    runs = client.search_runs([exp.experiment_id], f"tags.`dagster.run_id` = '{result.run_id}'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FAILED"


def test_failure_sensor_marks_mlflow_failed_for_steps_without_mlflow(isolated, instance):
    """A later step with no MLflow code fails: the run-failure sensor marks the MLflow run FAILED."""
    import dagster as dg

    from churn_assets.defs.registry.sensors import run_failure_alerts

    result = run_training(instance, rows=1500, trials=2, settings=isolated)
    client = tracking.client(isolated.mlflow_tracking_uri)
    exp = client.get_experiment_by_name("churn_assets")
    parent = tracking.find_run(client, exp.experiment_id, result.run_id)
    assert client.get_run(parent).info.status == "FINISHED"
    failure = dg.DagsterEvent(event_type_value="PIPELINE_FAILURE", job_name=result.dagster_run.job_name,
                              message="step churn_bento failed")
    ctx = dg.build_run_status_sensor_context(sensor_name="run_failure_alerts", dagster_instance=instance,
                                             dagster_run=result.dagster_run, dagster_event=failure,
                                             resources=resources(isolated)).for_run_failure()
    run_failure_alerts(ctx)
    assert client.get_run(parent).info.status == "FAILED"
