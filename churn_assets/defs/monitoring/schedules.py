"""Nightly drift of the previous day's live traffic."""

import dagster as dg


@dg.schedule(cron_schedule="30 1 * * *", job_name="churn_live_monitoring", execution_timezone="UTC")
def live_monitoring_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every night at 01:30 UTC: the whole previous UTC day of served traffic."""
    import datetime as dt

    day = (context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"live-{day}", partition_key=day)
