"""Distributed tuning: two trial workers in parallel processes share one Optuna study on Postgres."""


import dagster as dg
import mlflow
import optuna
import pytest

from churn_assets.core.training import tracking
from churn_assets.local.runs import multiprocess
from churn_assets_tests.conftest import settings
from churn_assets_tests.pg import requires_pg, temp_database

pytestmark = pytest.mark.integration


@requires_pg
def test_two_workers_share_one_study_and_count_every_trial_once(isolated, instance):
    n_trials = 8
    with temp_database("churn_optuna") as optuna_url:
        from churn_assets.local.reconstructable import job

        s = settings(isolated, optuna_storage=optuna_url, synthetic_rows=3000)  # carried to the step processes
        with dg.execute_job(
            job("churn_training", s), instance=instance,
            run_config={"ops": {"tuned_model": {"config": {"n_trials": n_trials, "workers": 2,
                                                           "threads_per_worker": 1}}},
                        "execution": {"config": multiprocess(max_concurrent=2)}},
            asset_selection=[dg.AssetKey(k) for k in ("raw_customers", "data_contract", "clean_customers",
                                                      "quarantined_customers", "training_data", "time_holdout",
                                                      "customer_features",
                                                      "training_splits", "tuned_model")]) as result:
            assert result.success
        run_id = result.run_id
        study = optuna.load_study(study_name=f"churn-{run_id}", storage=optuna_url)
        numbers = sorted(t.number for t in study.trials)
        assert numbers == list(range(n_trials))  # every trial exactly once, none lost
        mats = instance.fetch_materializations(dg.AssetKey("tuned_model"), limit=1).records
        assert mats[0].event_log_entry.asset_materialization.metadata["trials_total"].value == n_trials
        # Each worker ran its share; together exactly the study's trials (Optuna's worker tag).
        per_worker = {}
        for t in study.trials:
            per_worker.setdefault(t.user_attrs["worker"], []).append(t.number)
        assert sorted(len(v) for v in per_worker.values()) == [n_trials // 2, n_trials // 2]

        # Both workers ran at the same time (real parallelism, not one after the other).
        spans = {}
        for rec in instance.all_logs(run_id):
            ev = rec.dagster_event
            if ev and ev.step_key and ev.step_key.startswith("tuned_model.tune_worker["):
                if ev.event_type_value == "STEP_START":
                    spans.setdefault(ev.step_key, [None, None])[0] = rec.timestamp
                elif ev.event_type_value == "STEP_SUCCESS":
                    spans.setdefault(ev.step_key, [None, None])[1] = rec.timestamp
        (a0, a1), (b0, b1) = spans.values()
        assert max(a0, b0) < min(a1, b1), spans

        # MLflow: one child run per trial under the Dagster run's MLflow run, none twice.
        client = mlflow.tracking.MlflowClient(s.mlflow_tracking_uri)
        exp_id = client.get_experiment_by_name("churn_assets").experiment_id
        parent = tracking.find_run(client, exp_id, run_id)
        assert client.get_run(parent).info.status == "FINISHED"
        children = client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent}'")
        assert sorted(c.info.run_name for c in children) == sorted(f"trial-{n}" for n in range(n_trials))
        assert {c.data.tags["optuna.worker"] for c in children} == {"0", "1"}
