"""Demo step: the loop that learns, on the real sensors.

Score a clean day and shifted days, let their outcomes arrive, label and measure them (the real
`outcomes_sensor`), tick the real `retrain_sensor`, run the one retrain it asks for (trained on the
base plus the labelled window, judged on the newest labelled day), and serve the new champion.
Runs carry the sensor's name and run key, the same tags the Dagster daemon gives the runs it
launches, so `dagster dev` on this instance afterwards recognizes them and launches no duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from churn_assets.local import runs
from churn_assets.model.settings import Settings

SHIFT_FROM = "2025-07-02"
DAYS = [(dt.date(2025, 7, 1) + dt.timedelta(days=i)).isoformat() for i in range(6)]
SENSOR_TAGS = ("dagster/sensor_name", "dagster/run_key")


def _tick(sensor, instance, resources: dict | None = None) -> list:
    import dagster as dg

    path = Path(instance.root_directory, f"demo_{sensor.name}.cursor")
    cursor = path.read_text().strip() or None if path.exists() else None
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(ctx)
    path.write_text(ctx.cursor or "")
    items = result if isinstance(result, list) else [result]
    return [r for r in items if isinstance(r, dg.RunRequest)], [r for r in items if isinstance(r, dg.SkipReason)]


def _as_sensor_run(sensor_name: str, request) -> dict:
    return {**request.tags, SENSOR_TAGS[0]: sensor_name, SENSOR_TAGS[1]: request.run_key}


def monitoring_loop(instance, settings: Settings, trials: int = 20, rows: int | None = None,
                    serve: bool = True, echo=print) -> dict:
    from churn_assets.core.data.batches import BatchSettings, write_synthetic_labels
    from churn_assets.defs.monitoring.sensors import outcomes_sensor, retrain_sensor

    defs = runs.load_defs(settings)
    loop_cfg = {"shift_from": SHIFT_FROM}
    cfg = {**runs.QUIET, **runs.resources(defs=defs, **loop_cfg)}
    echo(f"\nThe loop that learns (batches from {SHIFT_FROM} on carry the documented '{settings.shift}' shift: "
          "covariate shift plus a learnable change of the churn mechanism):")
    for day in DAYS:
        res = runs.execute("churn_scoring", instance, settings, run_config=cfg, partition=day)
        report = res.output_for_node("drift_report")
        echo(f"  {day}: scored {settings.batch_rows:,} with v{report['model_version']}; drift "
              f"{'DETECTED' if report['drift_detected'] else 'none'} ({report['drifted_share']:.0%} of features)")
    echo(f"  drift reports: {Path(report['html']).parent}")

    # Outcomes arrive for every scored day (the generator's labels); the real sensor labels and measures them.
    batch = BatchSettings(rows=settings.batch_rows, seed=settings.seed, shift=settings.shift, shift_from=SHIFT_FROM,
                          intensity=settings.shift_intensity)
    for day in DAYS:
        write_synthetic_labels(day, batch, str(settings.labels_dir))
    resources = dict(defs.resources)
    resources["dataset"] = resources["dataset"].model_copy(update=loop_cfg)
    requests, _ = _tick(outcomes_sensor(), instance, {"dataset": resources["dataset"]})
    for req in requests:
        res = runs.execute("churn_outcomes", instance, settings, run_config=cfg, partition=req.partition_key,
                           tags=_as_sensor_run("outcomes_sensor", req))
        perf = res.output_for_node("model_performance")
        echo(f"  outcomes {req.partition_key}: ROC-AUC {perf['roc_auc']:.3f}, F1 {perf['f1']:.3f} vs training "
              f"{perf['training_f1']:.3f}{'  -> DEGRADED (' + perf['why'] + ')' if perf['degraded'] else ''}")

    requests, skips = _tick(retrain_sensor(), instance, {"mlflow": resources["mlflow"]})
    if not requests:
        echo(f"  retrain_sensor: {skips[0].skip_message if skips else 'nothing to do'}")
        return {"retrained": False}
    req = requests[0]
    events = json.loads(req.tags["churn/events"])
    echo(f"  retrain_sensor: 1 run for {sum(len(v) for v in events.values())} trigger(s) "
          f"({', '.join(f'{k} on {len(v)} day(s)' for k, v in events.items())}), run key {req.run_key}")
    res = runs.train(trials, instance, tags=_as_sensor_run("retrain_sensor", req), rows=rows, settings=settings,
                     **loop_cfg)
    reg = res.output_for_node("registered_model")
    echo(f"  retrain run {res.run_id[:8]}: trained on the base + labelled days {reg['training_days']}, "
          f"judged on {reg['time_holdout_days']} (time holdout)")
    if "recent_champion" in reg:
        echo(f"    post-shift holdout ROC-AUC: stale champion v{reg['previous_champion']} {reg['recent_champion']:.4f}, "
              f"challenger v{reg['version']} {reg['recent_challenger']:.4f} "
              f"({reg['recent_challenger'] - reg['recent_champion']:+.4f})")
    echo(f"    random test split ROC-AUC: champion {reg.get('test_champion', float('nan')):.4f}, challenger "
          f"{reg.get('test_challenger', float('nan')):.4f}")
    verdict = "PROMOTED to champion" if reg["promoted"] else "stays challenger"
    echo(f"    {reg['name']} v{reg['version']} {verdict} ({reg['basis']} decides): {reg['reason']}")
    again, skips = _tick(retrain_sensor(), instance, {"mlflow": resources["mlflow"]})
    echo(f"  retrain_sensor ticked again: {len(again)} new request(s) "
          f"({skips[0].skip_message if skips else ''})")
    if serve and reg["promoted"]:
        from churn_assets.sim.serving import served_sample

        served_sample(title="The rebuilt Bento serves the new champion")
    return {"retrained": True, "decision": reg}
