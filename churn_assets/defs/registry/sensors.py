"""When any run fails: its MLflow run(s) are marked FAILED and an alert goes out."""

import dagster as dg

from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier


@dg.run_failure_sensor(name="run_failure_alerts", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Marks the failed run's MLflow runs FAILED (even when the failing step never "
                                   "touched MLflow) and sends a `run_failed` alert.")
def run_failure_alerts(context: dg.RunFailureSensorContext, mlflow: MlflowResource, notifier: Notifier):
    from churn_assets.core.training import tracking

    run = context.dagster_run
    marked = tracking.mark_failed(mlflow.client(), mlflow.experiment, run.run_id)
    notifier.send("run_failed", f"Dagster run {run.run_id[:8]} of {run.job_name} failed",
                  run_id=run.run_id, job=run.job_name, mlflow_runs=marked,
                  error=context.failure_event.message)
