"""Weekly retraining (CHURN_RETRAIN_CRON), stopped by default; the registry gate decides promotion."""

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.mlflow import CHAMPION_TAG, MlflowResource
from churn_assets.defs.jobs import churn_training, training_in_flight


def build(b: Build) -> list[dg.ScheduleDefinition]:
    @dg.schedule(job=churn_training, cron_schedule=b.settings.retrain_cron,
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Retrain weekly (CHURN_RETRAIN_CRON) unless a training run is already queued or "
                             "running; the registry gate decides promotion.")
    def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext, mlflow: MlflowResource):
        from churn_assets.core.registry.model_registry import champion_version

        busy = training_in_flight(context.instance)
        if busy:
            return dg.SkipReason(f"training run {busy} is already queued or running; it uses the same window")
        champion = champion_version(mlflow.client(), mlflow.model_name)
        return dg.RunRequest(tags={"churn/trigger": "schedule", **({CHAMPION_TAG: champion} if champion else {})})

    return [weekly_retrain_schedule]
