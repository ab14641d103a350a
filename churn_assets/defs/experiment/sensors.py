"""readout_sensor: reads out a day's champion/challenger experiment once its outcomes arrive."""

import json

import dagster as dg

from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.predictions import PredictionLogStore
from churn_assets.defs.experiment.resources import ExperimentPolicy


def readout_requests(cursor: str | None, today: str, lookback_days: int, ready,
                     first: str) -> tuple[list[dg.RunRequest], str]:
    """One experiment_readout run per day of the last ``lookback_days`` (today included) that is not
    done yet and ``ready(day)`` (its outcomes arrived and it had challenger traffic), from the first day of the partitions on."""
    import datetime as dt

    done = set(json.loads(cursor)) if cursor else set()
    end = dt.date.fromisoformat(today)
    days = [(end - dt.timedelta(days=i)).isoformat() for i in range(lookback_days)]
    new = sorted(d for d in days if d >= first and d not in done and ready(d))
    keep = sorted(d for d in done | set(new) if d >= days[-1])  # the cursor stays bounded by the lookback
    return [dg.RunRequest(run_key=f"readout-{d}", partition_key=d) for d in new], json.dumps(keep)


@dg.sensor(job_name="churn_experiment", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads out the champion/challenger experiment of a day (experiment_readout) once the day had "
                       "challenger traffic in the prediction log and its outcomes arrived (the spec's `labels`).")
def readout_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, prediction_log: PredictionLogStore,
                   experiment: ExperimentPolicy):
    import datetime as dt

    from churn_assets.core.data.batches import outcomes_arrived
    from churn_assets.core.experiment.replay import challenger_rows

    spec = dataset.spec()

    def ready(day: str) -> bool:  # the file check first: the log is only queried for days with outcomes
        return outcomes_arrived(spec.labels, day, dataset.labels_dir) and \
            challenger_rows(prediction_log.prediction_log_url, day) > 0

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    requests, cursor = readout_requests(context.cursor, today, experiment.lookback_days, ready, experiment.first_day)
    context.update_cursor(cursor)
    return requests or dg.SkipReason("no day with challenger traffic and new outcomes")
