"""Sensors that close the loop: drift or degradation retrains; arriving outcomes get labelled and measured,
and read out against the champion/challenger experiment of the day they belong to.

`retrain_sensor` is one sensor over drift_report, live_drift_report and model_performance, so that
every trigger for the same day coalesces into one run (Dagster's run keys are unique per sensor). It
reads *every* new materialization since its cursor (a storage id per asset), not only the latest one
as `@asset_sensor` does. The training job never contains those assets, so a retrain cannot trigger
itself. The run queue runs one training run at a time (tag `churn/training`).
"""

import json

import dagster as dg

from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.jobs import churn_experiment, churn_outcomes, churn_training
from churn_assets.defs.monitoring.resources import ExperimentPolicy, ScoringSource
from churn_assets.defs.monitoring.triggers import flagged_events, retrain_request, training_in_flight


def evaluate_retrain(instance: dg.DagsterInstance, cursor: str | None,
                     champion: str | None = None) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """``champion``: the champion version when the request is made; the run is pinned to it."""
    events, new_cursor = flagged_events(instance, cursor)
    if not events:
        return dg.SkipReason("no new drift or degradation"), json.dumps(new_cursor)
    queued = training_in_flight(instance, queued_only=True)
    if queued:  # it has not read its window yet: the new events are covered by it
        return dg.SkipReason(f"{len(events)} trigger(s) coalesced into queued training run {queued}"), \
            json.dumps(new_cursor)
    return retrain_request(events, champion), json.dumps(new_cursor)


@dg.sensor(job=churn_training, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Retrains when drift_report / live_drift_report says drift_detected or model_performance "
                       "says degraded; all triggers for one day coalesce into one run.")
def retrain_sensor(context: dg.SensorEvaluationContext, mlflow: MlflowResource):
    from churn_assets.core.registry.model_registry import champion_version

    result, cursor = evaluate_retrain(context.instance, context.cursor,
                                      champion_version(mlflow.client(), mlflow.model_name))
    context.update_cursor(cursor)
    return result


@dg.sensor(job=churn_outcomes, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Labels and measures each scored day once its outcomes arrive (the spec's `labels`: a file "
                       "template or a SQL query; CHURN_LABELS_DIR/<day>.csv on the synthetic default).")
def outcomes_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, scoring: ScoringSource):
    from churn_assets.core.data.batches import outcomes_arrived

    done = set(json.loads(context.cursor)) if context.cursor else set()
    scored = context.instance.get_materialized_partitions(dg.AssetKey("churn_predictions"))
    spec = dataset.spec()
    ready = sorted(p for p in scored - done if outcomes_arrived(spec.labels, p, scoring.labels_dir))
    if not ready:
        return dg.SkipReason("no new outcomes")
    context.update_cursor(json.dumps(sorted(done | set(ready))))
    return [dg.RunRequest(run_key=f"outcomes-{p}", partition_key=p) for p in ready]


def readout_requests(cursor: str | None, today: str, lookback_days: int, ready) -> tuple[list[dg.RunRequest], str]:
    """One experiment_readout run per day of the last ``lookback_days`` (today included) that is not
    done yet and ``ready(day)`` (its outcomes arrived and it had challenger traffic)."""
    import datetime as dt

    from churn_assets.defs.monitoring.partitions import live_daily

    done = set(json.loads(cursor)) if cursor else set()
    first = live_daily.start.strftime("%Y-%m-%d")
    end = dt.date.fromisoformat(today)
    days = [(end - dt.timedelta(days=i)).isoformat() for i in range(lookback_days)]
    new = sorted(d for d in days if d >= first and d not in done and ready(d))
    keep = sorted(d for d in done | set(new) if d >= days[-1])  # the cursor stays bounded by the lookback
    return [dg.RunRequest(run_key=f"readout-{d}", partition_key=d) for d in new], json.dumps(keep)


@dg.sensor(job=churn_experiment, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads out the champion/challenger experiment of a day (experiment_readout) once the day had "
                       "challenger traffic in the prediction log and its outcomes arrived (the spec's `labels`).")
def readout_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, scoring: ScoringSource,
                   experiment: ExperimentPolicy):
    import datetime as dt

    from churn_assets.core.data.batches import outcomes_arrived
    from churn_assets.core.experiment.replay import challenger_rows

    spec = dataset.spec()

    def ready(day: str) -> bool:  # the file check first: the log is only queried for days with outcomes
        return outcomes_arrived(spec.labels, day, scoring.labels_dir) and \
            challenger_rows(experiment.prediction_log_url, day) > 0

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    requests, cursor = readout_requests(context.cursor, today, experiment.lookback_days, ready)
    context.update_cursor(cursor)
    return requests or dg.SkipReason("no day with challenger traffic and new outcomes")
