"""Every job of the code location, in one place.

There is one training job: a retrain is a run of it with a `churn/training` tag (drift, degradation,
schedule). Every training run carries `churn/training`, on which the run queue allows one run at a
time (dagster.yaml `tag_concurrency_limits`), so retrains are serialized whoever asked for them.
The partitioned jobs share the day partitions of the build (``Build.daily``, ``Build.live_daily``).
"""

from __future__ import annotations

import dagster as dg

from churn_assets.defs.common.build import Build

TRAINING_GROUPS = ["ingest", "quality", "features", "training", "evaluation", "registry", "serving"]
TRAINING_TAG = "churn/training"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]

# Source (plus the labelled window) to registered champion and its Bento. It never contains the
# monitoring assets, so a retrain cannot re-trigger itself.
churn_training = dg.define_asset_job(
    "churn_training",
    selection=dg.AssetSelection.groups(*TRAINING_GROUPS),
    description="raw_customers + labelled outcomes window -> ... -> registered_model -> churn_bento "
                "(also the retrain launched by sensors and the weekly schedule).",
    tags={TRAINING_TAG: "true"},
)


def partitioned_jobs(b: Build) -> dict:
    """The day-partitioned jobs, by name (what `dg.define_asset_job` returns)."""
    jobs = [
        dg.define_asset_job(
            "churn_scoring", selection=["scoring_batch", "churn_predictions", "drift_report"], partitions_def=b.daily,
            description="Score a day's customers with the champion and check drift."),
        dg.define_asset_job(
            "churn_outcomes", selection=["labelled_outcomes", "model_performance"], partitions_def=b.daily,
            description="Join a scored day with the outcomes that arrived, then measure realized performance."),
        dg.define_asset_job(
            "churn_live_monitoring", selection=["served_predictions", "live_drift_report"],
            partitions_def=b.live_daily,
            description="served_predictions -> live_drift_report for one day of served traffic"),
        dg.define_asset_job(
            "churn_experiment", selection=["experiment_readout"], partitions_def=b.live_daily,
            description="Champion vs challenger on the outcomes that arrived for a day of served traffic (launched "
                        "by readout_sensor when they arrive)."),
        dg.define_asset_job(
            "churn_retention", selection=["retention_targets"], partitions_def=b.daily,
            description="The day's contact list under the capacity, its holdout and the CRM delivery "
                        "(docs/RETENTION.md)."),
        dg.define_asset_job(
            "churn_campaign_readout", selection=["campaign_readout"], partitions_def=b.daily,
            description="Treated vs control once the campaign's outcomes arrived."),
    ]
    return {j.name: j for j in jobs}


# Not partitioned: the uplift model is trained on every campaign outcome so far.
churn_uplift = dg.define_asset_job("churn_uplift", selection=["uplift_model"],
                                   description="Uplift model from treated and control outcomes, and its gate.")


def training_in_flight(instance: dg.DagsterInstance, queued_only: bool = False) -> str | None:
    """The id of a training run that is queued (or also running), if any."""
    statuses = IN_FLIGHT[:2] if queued_only else IN_FLIGHT
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRAINING_TAG: "true"}, statuses=statuses), limit=1)
    return runs[0].run_id if runs else None
