"""Sensors that close the loop: drift or degradation retrains; arriving outcomes get measured.

The retrain job (`churn_retrain`) selects training assets only, never `drift_report` or
`model_performance`, so a retrain cannot trigger itself. The retrain sensors read *every*
new materialization since their cursor (a storage id), not only the latest one as
`@asset_sensor` does: a backfill of ten partitions between two ticks still gets each drifted
partition seen. Each request's run key is the event's storage id, so one event launches at
most one run even if a cursor update were lost.
"""

import os
from pathlib import Path

import dagster as dg

RETRAIN_JOB = "churn_retrain"
PERFORMANCE_JOB = "churn_performance"


def _flagged_events(context: dg.SensorEvaluationContext, key: str, flag: str, trigger: str):
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), after_storage_id=after), limit=500, ascending=True
    ).records
    if not records:
        return dg.SkipReason(f"no new {key} materializations")
    requests = []
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        meta = mat.metadata if mat else {}
        if flag in meta and bool(meta[flag].value):
            requests.append(dg.RunRequest(
                run_key=f"{trigger}-{rec.storage_id}",
                tags={"churn/trigger": trigger, "churn/partition": mat.partition or "",
                      "churn/event": str(rec.storage_id)}))
    context.update_cursor(str(records[-1].storage_id))
    return requests or dg.SkipReason(f"{len(records)} new {key} materialization(s), none with {flag}")


@dg.sensor(job_name=RETRAIN_JOB, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Retrain when a drift_report materialization says drift_detected.")
def drift_retrain_sensor(context: dg.SensorEvaluationContext):
    return _flagged_events(context, "drift_report", "drift_detected", "drift")


@dg.sensor(job_name=RETRAIN_JOB, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Retrain when a model_performance materialization says degraded.")
def degradation_retrain_sensor(context: dg.SensorEvaluationContext):
    return _flagged_events(context, "model_performance", "degraded", "degradation")


@dg.sensor(job_name=PERFORMANCE_JOB, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Measures model_performance for each scored partition whose outcomes file has arrived.")
def outcomes_sensor(context: dg.SensorEvaluationContext):
    labels_dir = Path(os.environ.get("CHURN_LABELS_DIR", ""))
    done = set(filter(None, (context.cursor or "").split(",")))
    scored = context.instance.get_materialized_partitions(dg.AssetKey("churn_predictions"))
    ready = sorted(p for p in scored if p not in done and (labels_dir / f"{p}.csv").is_file())
    if not ready:
        return dg.SkipReason("no new outcomes")
    context.update_cursor(",".join(sorted(done | set(ready))))
    return [dg.RunRequest(run_key=f"outcomes-{p}", partition_key=p) for p in ready]
