"""Daily scoring and drift of the new partition; nightly live-traffic drift; weekly retraining."""

import dagster as dg

from churn_assets.defs.common.mlflow import CHAMPION_TAG, MlflowResource
from churn_assets.defs.jobs import churn_live_monitoring, churn_scoring, churn_training
from churn_assets.model.settings import Settings

_settings = Settings()

daily_scoring_schedule = dg.build_schedule_from_partitioned_job(
    churn_scoring, hour_of_day=_settings.scoring_hour, default_status=dg.DefaultScheduleStatus.STOPPED)


@dg.schedule(job=churn_training, cron_schedule=_settings.retrain_cron, default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Retrain weekly (CHURN_RETRAIN_CRON) unless a training run is already queued or running; "
                         "the registry gate decides promotion.")
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext, mlflow: MlflowResource):
    from churn_assets.core.registry.model_registry import champion_version
    from churn_assets.defs.monitoring.triggers import training_in_flight

    busy = training_in_flight(context.instance)
    if busy:
        return dg.SkipReason(f"training run {busy} is already queued or running; it uses the same window")
    champion = champion_version(mlflow.client(), mlflow.model_name)
    return dg.RunRequest(tags={"churn/trigger": "schedule", **({CHAMPION_TAG: champion} if champion else {})})


@dg.schedule(cron_schedule="30 1 * * *", job=churn_live_monitoring, execution_timezone="UTC")
def live_monitoring_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every night at 01:30 UTC: the whole previous UTC day of served traffic."""
    import datetime as dt

    day = (context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"live-{day}", partition_key=day)
