"""campaign_outcomes_sensor: reads out each day's campaign once the outcomes of its list arrive."""

import json

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.retention.resources import RetentionPolicy


def campaign_outcomes_sensor(interval_s: int = 60) -> dg.SensorDefinition:
    """The sensor, ticking at most every ``interval_s`` seconds (CHURN_SENSOR_INTERVAL_S)."""

    @dg.sensor(name="campaign_outcomes_sensor", job_name="churn_campaign_readout", minimum_interval_seconds=interval_s,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Reads out each day's campaign (campaign_readout) once the outcomes of the day's contact list "
                           "arrive: the spec's `campaign_outcomes`, else its `labels`; on the synthetic default, the "
                           "simulated world's outcomes under the retention folder. One run per day (run key "
                           "`campaign-readout-<day>`).")
    def _campaign_outcomes(context: dg.SensorEvaluationContext, dataset: DatasetResource, retention: RetentionPolicy):
        from churn_assets.core.data.batches import outcomes_arrived
        from churn_assets.core.retention.campaign import outcomes_source

        done = set(json.loads(context.cursor)) if context.cursor else set()
        listed = context.instance.get_materialized_partitions(dg.AssetKey("retention_targets"))
        source = outcomes_source(dataset.spec(), retention.csv_dir, retention.campaign)
        ready = sorted(p for p in listed - done if outcomes_arrived(source, p, ""))
        if not ready:
            return dg.SkipReason(f"no contact list with newly arrived outcomes ({len(listed)} list(s), "
                                 f"{len(done)} read out)")
        context.update_cursor(json.dumps(sorted(done | set(ready))))
        return [dg.RunRequest(run_key=f"campaign-readout-{p}", partition_key=p) for p in ready]

    return _campaign_outcomes


def build(b: Build) -> list[dg.SensorDefinition]:
    return [campaign_outcomes_sensor(b.settings.sensor_interval_s)]
