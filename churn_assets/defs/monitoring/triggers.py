"""What the retrain sensor and schedule need to know: flagged events since a cursor, runs in flight.

Kept apart from the sensor definitions so the demo and tests evaluate exactly the same logic."""

import json

import dagster as dg

from churn_assets.core.data.window import WINDOW_TAG, parse_window_tag, window_tag
from churn_assets.defs.common.mlflow import CHAMPION_TAG
from churn_assets.defs.jobs import IN_FLIGHT, TRAINING_TAG, training_in_flight  # noqa: F401  (re-exported)

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


def labelled_days(instance: dg.DagsterInstance) -> list[str]:
    """The labelled days there are now: what a retrain requested now trains on (its window)."""
    return sorted(instance.get_materialized_partitions(dg.AssetKey("labelled_outcomes")))


def outcomes_in_flight(instance: dg.DagsterInstance) -> list[str]:
    """The days of the churn_outcomes runs queued or running (the labelled days about to exist)."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="churn_outcomes", statuses=IN_FLIGHT), limit=100)
    return sorted(r.tags.get("dagster/partition", r.run_id[:8]) for r in runs)


def covering_run(instance: dg.DagsterInstance, days: list[str]) -> tuple[str, str] | None:
    """A queued or running training run whose window already holds every one of ``days``, as (run id,
    why), or None. A run's window is its tag ``churn/window_days``; a run without it reads the labelled
    days when its training_window step runs, so it covers whatever is labelled now."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRAINING_TAG: "true"}, statuses=IN_FLIGHT), limit=20)
    for run in runs:
        status = run.status.value.lower()
        if WINDOW_TAG not in run.tags:
            return run.run_id, f"{status} training run {run.run_id} reads the labelled days when it builds its window"
        window = set(parse_window_tag(run.tags[WINDOW_TAG]))
        if set(days) <= window:
            return run.run_id, (f"{status} training run {run.run_id} already trains on every labelled day "
                                f"({len(window)} day(s) up to {max(window) if window else 'none'})")
    return None


def retrain_request(events: list[dict], champion: str | None = None, window: list[str] | None = None,
                    run_config: dict | None = None) -> dg.RunRequest:
    """One request for all the events of a tick. Its run key names the newest flagged partition, so a
    later event for the same day (drift, then degradation once outcomes arrive) coalesces into it;
    when the window reaches past that day (or a day labelled since), the key names the window's last
    day too, so a request with new labelled days is not taken for the old one. ``window``: the
    labelled days when the request is made, recorded as the run tag ``churn/window_days`` that
    training_window reads (what the retrain trains on is decided here, by the data, not by the queue).
    ``run_config``: the champion's training configuration, which the retrain repeats."""
    latest = max(e["partition"] for e in events)
    triggers = sorted({e["trigger"] for e in events})
    by_trigger = {t: sorted({e["partition"] for e in events if e["trigger"] == t}) for t in triggers}
    last = max(window) if window else None
    key = f"retrain-{latest}" + (f"-w{last}" if last and last != latest else "")
    return dg.RunRequest(
        run_key=key, run_config=run_config or {},
        tags={"churn/trigger": "+".join(triggers), "churn/partition": latest,
              "churn/events": json.dumps(by_trigger)[:200],
              **({WINDOW_TAG: window_tag(window)} if window is not None else {}),
              **({CHAMPION_TAG: champion} if champion else {})})
