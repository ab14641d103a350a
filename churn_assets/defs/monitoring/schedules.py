"""Daily scoring and drift of the new partition; weekly retraining (cron configurable)."""

import dagster as dg

from churn_assets.core.config import Settings
from churn_assets.defs.jobs import churn_scoring, churn_training

_settings = Settings()

daily_scoring_schedule = dg.build_schedule_from_partitioned_job(
    churn_scoring, hour_of_day=_settings.scoring_hour, default_status=dg.DefaultScheduleStatus.STOPPED)


@dg.schedule(job=churn_training, cron_schedule=_settings.retrain_cron, default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Retrain weekly (CHURN_RETRAIN_CRON) unless a training run is already queued or running; "
                         "the registry gate decides promotion.")
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
    from churn_assets.defs.monitoring.triggers import training_in_flight

    busy = training_in_flight(context.instance)
    if busy:
        return dg.SkipReason(f"training run {busy} is already queued or running; it uses the same window")
    return dg.RunRequest(tags={"churn/trigger": "schedule"})
