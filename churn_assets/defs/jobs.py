"""Jobs: the main training graph, and the retrain job the sensors and schedules launch."""


import dagster as dg

TRAINING_GROUPS = ["ingest", "quality", "features", "training", "evaluation", "registry", "serving"]

# The main job: source to registered champion and its Bento.
churn_training = dg.define_asset_job(
    "churn_training",
    selection=dg.AssetSelection.groups(*TRAINING_GROUPS),
    description="raw_customers -> ... -> registered_model -> churn_bento",
)

# Retraining never contains monitoring assets, so a retrain cannot re-trigger itself.
churn_retrain = dg.define_asset_job(
    "churn_retrain",
    selection=dg.AssetSelection.groups(*TRAINING_GROUPS),
    description="Retrain and pass the champion/challenger gate (launched by drift and degradation sensors "
                "and the weekly schedule).",
    tags={"churn/trigger": "retrain"},
)
