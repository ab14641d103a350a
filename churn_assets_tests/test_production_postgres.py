"""The production path for real: Dagster instance on PostgreSQL (deploy/dagster/dagster.yaml), an MLflow
tracking server with a PostgreSQL backend started on a free loopback port, Optuna and the predictions
table on PostgreSQL, the multiprocess executor with two parallel tuning workers."""

import shutil
from pathlib import Path

import dagster as dg
import mlflow
import optuna
import pytest
import sqlalchemy as sa

from churn_assets.core.scoring import predictions_table as predictions
from churn_assets.core.training import tracking
from churn_assets.local.runs import multiprocess
from churn_assets_tests.conftest import settings
from churn_assets_tests.pg import mlflow_server, requires_pg, temp_database

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.integration, requires_pg]


@pytest.fixture
def production(tmp_path, monkeypatch):
    """A Dagster instance on Postgres (Dagster's own DAGSTER_PG_* variables, read by dagster.yaml) and
    the settings of the code location on Postgres and an MLflow server (passed to each job)."""
    with temp_database("churn_dagster") as dagster_url, temp_database("churn_mlflow") as mlflow_url, \
            temp_database("churn_optuna") as optuna_url, temp_database("churn_app") as app_url:
        (tmp_path / "artifacts").mkdir()
        with mlflow_server(mlflow_url, str(tmp_path / "artifacts")) as tracking_uri:
            url = sa.make_url(dagster_url)
            home = tmp_path / "dagster_home"
            home.mkdir()
            shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", home / "dagster.yaml")
            monkeypatch.setenv("DAGSTER_HOME", str(home))  # DagsterInstance.get() and dagster.yaml read these
            monkeypatch.setenv("DAGSTER_PG_HOST", url.host)
            monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port))
            monkeypatch.setenv("DAGSTER_PG_USER", url.username)
            monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
            monkeypatch.setenv("DAGSTER_PG_DB", url.database)
            s = settings(home=tmp_path, mlflow_tracking_uri=tracking_uri, mlflow_artifacts="",
                         optuna_storage=optuna_url, predictions_url=app_url, model_name="churn-pg",
                         synthetic_rows=3000, batch_rows=2000, reports_dir=tmp_path / "reports",
                         labels_dir=tmp_path / "labels", dataset="", webhook_url="")
            with dg.DagsterInstance.get() as instance:
                yield {"instance": instance, "tracking_uri": tracking_uri, "optuna_url": optuna_url,
                       "app_url": app_url, "settings": s}


def _execute(instance, job_fn, run_config, **kwargs):
    with dg.execute_job(job_fn, instance=instance, run_config=run_config, **kwargs) as res:
        return res.success, res.run_id


def test_whole_graph_on_postgres_and_an_mlflow_server(production):
    from churn_assets.local.reconstructable import job

    instance = production["instance"]
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    ok, run_id = _execute(instance, job("churn_training", production["settings"]), {
        "ops": {"tuned_model": {"config": {"n_trials": 6, "workers": 2, "threads_per_worker": 1}}},
        "execution": {"config": multiprocess(max_concurrent=2)}})
    assert ok
    assert instance.get_run_by_id(run_id).is_success
    keys = {k.to_user_string() for k in instance.get_asset_keys()}
    assert {"raw_customers", "clean_customers", "tuned_model", "model_evaluation", "registered_model",
            "churn_bento"} <= keys

    # MLflow server (Postgres backend store): the run, its trials, artifacts and the registry.
    client = tracking.client(production["tracking_uri"])
    exp = client.get_experiment_by_name("churn_assets")
    parent = tracking.find_run(client, exp.experiment_id, run_id)
    assert client.get_run(parent).info.status == "FINISHED"
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 6
    assert "evaluation/roc.png" in {a.path for a in client.list_artifacts(parent, "evaluation")}
    assert client.get_model_version_by_alias("churn-pg", "champion").version == "1"

    # Optuna on Postgres: one study, every trial once, from both workers.
    study = optuna.load_study(study_name=f"churn-{run_id}", storage=production["optuna_url"])
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert {t.user_attrs["worker"] for t in study.trials} == {0, 1}

    # Scoring a day writes the predictions table on Postgres.
    ok, _ = _execute(instance, job("churn_scoring", production["settings"]), {}, tags={"dagster/partition": "2025-07-01"})
    assert ok
    counts = predictions.counts(production["app_url"])
    assert counts.to_dict("records") == [{"partition": "2025-07-01", "rows": 2000, "customers": 2000}]


def test_failed_multiprocess_run_marks_mlflow_failed(production):
    """Where dagster-mlflow leaves FINISHED (test_dagster_mlflow_defect), this project records FAILED."""
    from churn_assets.local.reconstructable import job

    ok, run_id = _execute(production["instance"], job("churn_training", production["settings"]), {
        "ops": {"tuned_model": {"config": {"n_trials": 2, "threshold_strategy": "bogus"}}}},
        asset_selection=[dg.AssetKey(k) for k in ("raw_customers", "data_contract", "clean_customers",
                                                  "quarantined_customers", "training_data", "time_holdout",
                                                  "customer_features",
                                                  "training_splits", "tuned_model")])
    assert not ok
    client = mlflow.tracking.MlflowClient(production["tracking_uri"])
    exp = client.get_experiment_by_name("churn_assets")
    parent = tracking.find_run(client, exp.experiment_id, run_id)
    assert client.get_run(parent).info.status == "FAILED"
