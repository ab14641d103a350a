"""Demo step: the champion/challenger readout of a day of shadow or A/B traffic, on synthetic outcomes.

The traffic of ``day`` is the synthetic batch of that day (``experiment_records``): send those
records to the Bento in shadow or A/B mode, let ``write_synthetic_labels(day, ...)`` make their
outcomes arrive (the generator's labels of the same customers), then ``print_readout(day)``
materializes ``experiment_readout`` (the real job, on the real instance) and prints its table and
decision. The prediction log is the Bento's (CHURN_PREDICTION_LOG_URL) unless ``log_url`` says
otherwise.
"""

from __future__ import annotations

from churn_assets.model.settings import Settings


def experiment_customers(day: str, rows: int, settings: Settings | None = None):
    """The customers whose outcomes ``write_synthetic_labels(day, batch_settings(rows))`` writes."""
    from churn_assets.core.data.batches import synthetic_batch

    return synthetic_batch(day, batch_settings(rows, settings))


def experiment_records(day: str, rows: int, contract, settings: Settings | None = None) -> list[dict]:
    """The day's customers as a client sends them (JSON values, ISO dates), each with ``as_of`` = day:
    their dates are relative to the day, so the served features equal batch scoring's for that day."""
    import json

    frame = experiment_customers(day, rows, settings)
    cols = [contract.id_column] + [c.name for c in contract.columns if c.role != "drop"]
    dates = set(contract.by_role("date"))
    records = json.loads(frame[cols].to_json(orient="records", date_format="iso"))
    return [{**{k: (v[:10] if k in dates and isinstance(v, str) else v) for k, v in r.items()}, "as_of": day}
            for r in records]


def batch_settings(rows: int, settings: Settings | None = None):
    from churn_assets.core.data.batches import BatchSettings

    seed = settings.seed if settings else Settings.model_fields["seed"].default
    return BatchSettings(rows=rows, seed=seed, shift="none")


def run_readout(day: str, instance, log_url: str | None = None, settings: Settings | None = None, **policy):
    """Materialize experiment_readout for ``day`` with the churn_experiment job; ``policy``
    overrides fields of the ``experiment`` resource (e.g. ``resamples``, ``promotion_basis``)."""
    from churn_assets.local import runs

    defs = runs.load_defs(settings)
    built = defs.resources  # every resource the asset uses, from these settings
    config = {key: {"config": {name: getattr(built[key], name) for name in type(built[key]).model_fields}}
              for key in ("dataset", "prediction_log", "experiment", "mlflow", "notifier", "reports")}
    config["experiment"]["config"] |= policy
    if log_url:
        config["prediction_log"]["config"]["prediction_log_url"] = log_url
    # Tagged as readout_sensor's own run of the day: the daemon, started later (`make dagster`), finds the
    # run key done and does not read the same day out again on its first tick.
    tags = {"churn/trigger": "demo", "dagster/sensor_name": "readout_sensor", "dagster/run_key": f"readout-{day}"}
    return runs.execute("churn_experiment", instance, settings, run_config={**runs.QUIET, "resources": config},
                        tags=tags, partition=day)


def format_readout(r: dict) -> list[str]:
    """A short table (one line per arm, then the difference) and the decision."""
    arms, metric = r["arms"], r["metric"]
    lines = [(f"Experiment readout {r['day']} ({r['design']} design; {r['resamples']:,} seeded bootstrap resamples, "
              f"{r['confidence']:.0%} intervals; decided on {metric}):"),
             (f"  {'arm':<11} {'version':<8} {'customers':>9} {'outcomes':>8} {'served':>6}  "
              f"{'ROC-AUC [interval]':<24} {'PR-AUC':>6} {'Brier':>6} {'ECE':>6}")]
    for name, a in arms.items():
        m, lo_hi = a["metrics"], a["ci"].get("roc_auc", (float("nan"),) * 2)
        lines.append(f"  {name:<11} {','.join(a['model_versions']) or '-':<8} {a['customers']:>9,} {a['outcomes']:>8,} "
                     f"{a['served_share']:>6.0%}  {m.get('roc_auc', float('nan')):.3f} [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"
                     f"{'':<4} {m.get('pr_auc', float('nan')):>6.3f} {m.get('brier', float('nan')):>6.3f} "
                     f"{m.get('ece', float('nan')):>6.3f}")
    if r["difference"]:
        d, (lo, hi) = r["difference"][metric], r["difference_ci"][metric]
        lines.append(f"  challenger - champion {metric}: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    lines.append(f"  decision: {r['decision'].upper().replace('_', ' ')} ({r['reason']})")
    lines.append(f"  promotion: {r['promotion']}")
    return lines


def print_readout(day: str, instance, log_url: str | None = None, settings: Settings | None = None, echo=print,
                  **policy) -> dict:
    """Run the readout of ``day`` and print it; returns the asset's value."""
    result = run_readout(day, instance, log_url, settings, **policy)
    value = result.output_for_node("experiment_readout")
    for line in format_readout(value):
        echo(line)
    return value
