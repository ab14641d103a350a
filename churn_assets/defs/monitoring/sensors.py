"""Sensors that close the loop: drift or degradation retrains; arriving outcomes get labelled and measured.
(The readout of a day's champion/challenger experiment has its own sensor: defs/experiment/sensors.py.)

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
from churn_assets.defs.jobs import churn_training
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


@dg.sensor(job_name="churn_outcomes", minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Labels and measures each scored day once its outcomes arrive (the spec's `labels`: a file "
                       "template or a SQL query; CHURN_LABELS_DIR/<day>.csv on the synthetic default).")
def outcomes_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource):
    from churn_assets.core.data.batches import outcomes_arrived

    done = set(json.loads(context.cursor)) if context.cursor else set()
    scored = context.instance.get_materialized_partitions(dg.AssetKey("churn_predictions"))
    spec = dataset.spec()
    ready = sorted(p for p in scored - done if outcomes_arrived(spec.labels, p, dataset.labels_dir))
    if not ready:
        return dg.SkipReason("no new outcomes")
    context.update_cursor(json.dumps(sorted(done | set(ready))))
    return [dg.RunRequest(run_key=f"outcomes-{p}", partition_key=p) for p in ready]
