"""Sensors that close the loop: drift or degradation retrains; arriving outcomes get labelled and measured.
(The readout of a day's champion/challenger experiment has its own sensor: defs/experiment/sensors.py.)

`retrain_sensor` is one sensor over drift_report, live_drift_report and model_performance, so that
every trigger for the same day coalesces into one run (Dagster's run keys are unique per sensor). It
reads *every* new materialization since its cursor (a storage id per asset), not only the latest one
as `@asset_sensor` does. The training job never contains those assets, so a retrain cannot trigger
itself. The run queue runs one training run at a time (tag `churn/training`). A request records the
labelled days it is for (run tag `churn/window_days`), and one whose days a queued or running retrain
already trains on coalesces into it (a skip with the reason). While outcomes runs are in flight the
request waits (its cursor stays), so that the days being labelled are in its window.
"""

import json

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.jobs import churn_training
from churn_assets.defs.monitoring.triggers import (
    covering_run,
    flagged_events,
    labelled_days,
    outcomes_in_flight,
    retrain_request,
)


def evaluate_retrain(instance: dg.DagsterInstance, cursor: str | None, champion: str | None = None,
                     run_config: dict | None = None) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """``champion``: the champion version when the request is made; the run is pinned to it. The
    labelled days now are the request's window (run tag ``churn/window_days``). A queued or running
    retrain whose window already holds them all covers the request: it is skipped, with the reason
    (a retrain on the same days would train the same model). ``run_config``: the champion's training
    configuration, repeated by the retrain (champion_run_config)."""
    events, new_cursor = flagged_events(instance, cursor)
    if not events:
        return dg.SkipReason("no new drift or degradation"), json.dumps(new_cursor)
    labelling = outcomes_in_flight(instance)
    if labelling:  # the window is decided by the data: wait until the days being labelled are there
        return dg.SkipReason(f"{len(events)} trigger(s) wait for {len(labelling)} churn_outcomes run(s) in flight "
                             f"({', '.join(labelling[:5])}): the retrain's window is decided when they end"), \
            cursor or json.dumps({})
    window = labelled_days(instance)
    covered = covering_run(instance, window)
    if covered:
        return dg.SkipReason(f"{len(events)} trigger(s) coalesced into {covered[1]}"), json.dumps(new_cursor)
    return retrain_request(events, champion, window, run_config), json.dumps(new_cursor)


def retrain_sensor(interval_s: int = 60) -> dg.SensorDefinition:
    """The sensor, ticking at most every ``interval_s`` seconds (CHURN_SENSOR_INTERVAL_S)."""

    @dg.sensor(name="retrain_sensor", job=churn_training, minimum_interval_seconds=interval_s,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Retrains when drift_report / live_drift_report says drift_detected or model_performance "
                           "says degraded; all triggers for one day coalesce into one run.")
    def _retrain(context: dg.SensorEvaluationContext, mlflow: MlflowResource):
        from churn_assets.core.registry.model_registry import champion_version

        client = mlflow.client()
        champion = champion_version(client, mlflow.model_name)
        result, cursor = evaluate_retrain(context.instance, context.cursor, champion,
                                          champion_run_config(context.instance, client, mlflow.model_name, champion))
        context.update_cursor(cursor)
        return result

    return _retrain


def champion_run_config(instance: dg.DagsterInstance, client, name: str, version: str | None) -> dict | None:
    """The run config (ops, resources, execution) of the run that trained the champion, when it is in
    this instance: a retrain repeats it, so challenger and champion differ by their data only."""
    if version is None:
        return None
    run_id = client.get_model_version(name, version).tags.get("dagster_run_id")
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None:
        return None
    cfg = {k: v for k, v in (run.run_config or {}).items() if k in ("ops", "resources", "execution")}
    return cfg or None


def outcomes_sensor(interval_s: int = 60) -> dg.SensorDefinition:
    """The sensor, ticking at most every ``interval_s`` seconds (CHURN_SENSOR_INTERVAL_S)."""

    @dg.sensor(name="outcomes_sensor", job_name="churn_outcomes", minimum_interval_seconds=interval_s,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Labels and measures each scored day once its outcomes arrive (the spec's `labels`: a "
                           "file template or a SQL query; CHURN_LABELS_DIR/<day>.csv on the synthetic default).")
    def _outcomes(context: dg.SensorEvaluationContext, dataset: DatasetResource):
        from churn_assets.core.data.batches import outcomes_arrived

        done = set(json.loads(context.cursor)) if context.cursor else set()
        scored = context.instance.get_materialized_partitions(dg.AssetKey("churn_predictions"))
        spec = dataset.spec()
        ready = sorted(p for p in scored - done if outcomes_arrived(spec.labels, p, dataset.labels_dir))
        if not ready:
            return dg.SkipReason("no new outcomes")
        context.update_cursor(json.dumps(sorted(done | set(ready))))
        return [dg.RunRequest(run_key=f"outcomes-{p}", partition_key=p) for p in ready]

    return _outcomes


def build(b: Build) -> list[dg.SensorDefinition]:
    return [retrain_sensor(b.settings.sensor_interval_s), outcomes_sensor(b.settings.sensor_interval_s)]
