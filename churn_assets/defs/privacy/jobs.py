"""churn_purge: removes served requests and scoring batches older than the retention period, daily."""

import datetime as dt

import dagster as dg

from churn_assets.defs.common.predictions import PredictionLogStore
from churn_assets.defs.privacy.resources import PrivacyPolicy


class PurgeConfig(dg.Config):
    as_of: str = ""  # ISO day the periods count back from (the schedule sets its own date); empty: today (UTC)


@dg.op(description="Deletes prediction-log rows and scoring-batch files older than the configured periods "
                   "(CHURN_KEEP_PREDICTION_LOG_DAYS, CHURN_KEEP_SCORING_BATCHES_DAYS); the counts are its output's "
                   "metadata.")
def purge_expired(context: dg.OpExecutionContext, config: PurgeConfig, privacy: PrivacyPolicy,
                  prediction_log: PredictionLogStore) -> dg.Output[dict]:
    from churn_assets.core.privacy.purge import purge

    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else dt.datetime.now(dt.UTC).date()
    done = purge(as_of, prediction_log.prediction_log_url, privacy.keep_prediction_log_days,
                 privacy.scoring_batches_dir, privacy.keep_scoring_batches_days)
    context.log.info(f"purged {done.log_rows:,} prediction-log rows served before {done.cutoff_log} and "
                     f"{len(done.batch_files)} scoring batch file(s) of days before {done.cutoff_batches}")
    return dg.Output(vars(done), metadata={
        "as_of": as_of.isoformat(),
        "prediction_log_rows_deleted": done.log_rows,
        "prediction_log_kept_from": done.cutoff_log,
        "scoring_batch_files_deleted": len(done.batch_files),
        "scoring_batch_bytes_deleted": done.batch_bytes,
        "scoring_batches_kept_from": done.cutoff_batches,
        "files": dg.MetadataValue.json([p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in done.batch_files]),
    })


@dg.job(description="Personal-data retention: prediction-log rows and scoring batches older than their periods.")
def churn_purge():
    purge_expired()


@dg.schedule(job=churn_purge, cron_schedule="30 4 * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Daily at 04:30 UTC: the retention periods count back from the schedule's own date.")
def churn_purge_schedule(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=f"purge-{day}", run_config={"ops": {"purge_expired": {"config": {"as_of": day}}}})
