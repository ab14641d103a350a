"""Daily scoring and drift of the new partition; weekly retraining (cron configurable)."""

import os

import dagster as dg

from churn_assets.defs.monitoring.partitions import daily

churn_scoring = dg.define_asset_job(
    "churn_scoring", selection=["scoring_batch", "churn_predictions", "drift_report"], partitions_def=daily,
    description="Score a day's customers with the champion and check drift.")

churn_performance = dg.define_asset_job(
    "churn_performance", selection=["model_performance"], partitions_def=daily,
    description="Measure realized performance of a scored day once outcomes arrive.")

daily_scoring_schedule = dg.build_schedule_from_partitioned_job(
    churn_scoring, hour_of_day=int(os.environ.get("CHURN_SCORING_HOUR", "2")),
    default_status=dg.DefaultScheduleStatus.STOPPED)

weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule", job_name="churn_retrain",
    cron_schedule=os.environ.get("CHURN_RETRAIN_CRON", "0 3 * * 0"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrain weekly (CHURN_RETRAIN_CRON); the registry gate decides promotion.")
