"""What the retrain sensor and schedule need to know: flagged events since a cursor, runs in flight.

Kept apart from the sensor definitions so the demo and tests evaluate exactly the same logic."""

import json

import dagster as dg

from churn_assets.defs.common.mlflow import CHAMPION_TAG
from churn_assets.defs.jobs import training_in_flight  # noqa: F401  (re-exported for the sensors)

# asset -> the boolean metadata flag that asks for a retrain, and the trigger name it gets.
FLAGS = {"drift_report": ("drift_detected", "drift"), "live_drift_report": ("drift_detected", "live_drift"),
         "model_performance": ("degraded", "degradation")}


def flagged_events(instance: dg.DagsterInstance, cursor: str | None) -> tuple[list[dict], dict]:
    """Every flagged materialization after the cursor (a storage id per asset), and the new cursor."""
    after = json.loads(cursor) if cursor else {}
    events, new = [], dict(after)
    for key, (flag, trigger) in FLAGS.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), after_storage_id=after.get(key)), limit=1000,
            ascending=True).records
        for rec in records:
            mat = rec.event_log_entry.asset_materialization
            meta = mat.metadata if mat else {}
            if flag in meta and bool(meta[flag].value):
                events.append({"trigger": trigger, "partition": mat.partition or "", "storage_id": rec.storage_id})
        if records:
            new[key] = records[-1].storage_id
    return events, new


def retrain_request(events: list[dict], champion: str | None = None) -> dg.RunRequest:
    """One request for all the events of a tick. Its run key names the newest flagged partition, so a
    later event for the same day (drift, then degradation once outcomes arrive) coalesces into it."""
    latest = max(e["partition"] for e in events)
    triggers = sorted({e["trigger"] for e in events})
    by_trigger = {t: sorted({e["partition"] for e in events if e["trigger"] == t}) for t in triggers}
    return dg.RunRequest(
        run_key=f"retrain-{latest}",
        tags={"churn/trigger": "+".join(triggers), "churn/partition": latest,
              "churn/events": json.dumps(by_trigger)[:200],
              **({CHAMPION_TAG: champion} if champion else {})})
