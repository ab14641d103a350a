"""Demo step: the monitoring loop. Score a clean day and a drifted day, detect drift, tick the
drift sensor, run the retrain it requests, and print the registry gate's decision."""

from __future__ import annotations

import os
from pathlib import Path

DAY_CLEAN, DAY_DRIFTED = "2025-07-01", "2025-07-02"


def monitoring_loop(trials: int = 20) -> dict:
    import dagster as dg

    from churn_assets.defs.monitoring.sensors import drift_retrain_sensor
    from churn_assets.demo import QUIET, _defs, train

    os.environ.setdefault("CHURN_SHIFT", "engagement_drop")
    os.environ["CHURN_SHIFT_FROM"] = DAY_DRIFTED
    instance = dg.DagsterInstance.get()
    scoring = _defs().resolve_job_def("churn_scoring")
    print(f"\nMonitoring loop (batches from {DAY_DRIFTED} on carry the documented '{os.environ['CHURN_SHIFT']}' "
          "shift):")
    for day in (DAY_CLEAN, DAY_DRIFTED):
        res = scoring.execute_in_process(instance=instance, partition_key=day, run_config=QUIET)
        report = res.output_for_node("drift_report")
        preds = res.output_for_node("churn_predictions")
        print(f"  {day}: scored {len(preds):,} customers with v{report['model_version']}; drift "
              f"{'DETECTED' if report['drift_detected'] else 'none'} ({report['drifted_share']:.0%} of features"
              f"{', e.g. ' + ', '.join(report['drifted_columns'][:3]) if report['drifted_columns'] else ''}); "
              f"report {report['html']}")
    # Tick the sensor as the daemon would (its cursor is kept next to the instance).
    ctx = dg.build_sensor_context(instance=instance, cursor=_cursor(instance))
    result = drift_retrain_sensor(ctx)
    requests = [r for r in (result if isinstance(result, list) else []) if isinstance(r, dg.RunRequest)]
    _save_cursor(instance, ctx.cursor)
    print(f"  drift_retrain_sensor ticked: {len(requests)} retrain request(s) "
          f"{[r.tags['churn/partition'] for r in requests]}")
    if not requests:
        return {"retrained": False}
    req = requests[0]
    res = train(trials, instance=instance, job_name="churn_retrain", tags=req.tags)
    reg = res.output_for_node("registered_model")
    verdict = "PROMOTED to champion" if reg["promoted"] else "stays challenger"
    print(f"  retrain run {res.run_id[:8]} (trigger={req.tags['churn/trigger']}): {reg['name']} v{reg['version']} "
          f"{verdict}: {reg['reason']}")
    return {"retrained": True, "decision": reg}


_CURSOR_FILE = "demo_drift_sensor.cursor"


def _cursor(instance) -> str | None:
    path = Path(instance.root_directory, _CURSOR_FILE)
    return (path.read_text().strip() or None) if path.exists() else None


def _save_cursor(instance, cursor: str | None) -> None:
    Path(instance.root_directory, _CURSOR_FILE).write_text(cursor or "")
