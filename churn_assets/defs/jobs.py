"""Every job of the code location, in one place.

There is one training job: a retrain is a run of it with a `churn/trigger` tag (drift, degradation,
schedule). Every training run carries `churn/training`, on which the run queue allows one run at a
time (dagster.yaml `tag_concurrency_limits`), so retrains are serialized whoever asked for them.
"""

import dagster as dg

from churn_assets.defs.monitoring.partitions import daily, live_daily

TRAINING_GROUPS = ["ingest", "quality", "features", "training", "evaluation", "registry", "serving"]
TRAINING_TAG = "churn/training"

# Source (plus the labelled window) to registered champion and its Bento. It never contains the
# monitoring assets, so a retrain cannot re-trigger itself.
churn_training = dg.define_asset_job(
    "churn_training",
    selection=dg.AssetSelection.groups(*TRAINING_GROUPS),
    description="raw_customers + labelled outcomes window -> ... -> registered_model -> churn_bento "
                "(also the retrain launched by sensors and the weekly schedule).",
    tags={TRAINING_TAG: "true"},
)

churn_scoring = dg.define_asset_job(
    "churn_scoring", selection=["scoring_batch", "churn_predictions", "drift_report"], partitions_def=daily,
    description="Score a day's customers with the champion and check drift.")

churn_outcomes = dg.define_asset_job(
    "churn_outcomes", selection=["labelled_outcomes", "model_performance"], partitions_def=daily,
    description="Join a scored day with the outcomes that arrived, then measure realized performance.")

churn_live_monitoring = dg.define_asset_job(
    "churn_live_monitoring", selection=["served_predictions", "live_drift_report"], partitions_def=live_daily,
    description="served_predictions -> live_drift_report for one day of served traffic")

churn_experiment = dg.define_asset_job(
    "churn_experiment", selection=["experiment_readout"], partitions_def=live_daily,
    description="Champion vs challenger on the outcomes that arrived for a day of served traffic (launched by "
                "readout_sensor when they arrive).")
