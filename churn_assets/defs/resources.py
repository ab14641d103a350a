"""Every resource of the code location, configured from environment variables.

Unset variables get the embedded defaults of ``core/settings.py`` (SQLite, local folders).
Floats have no ``EnvVar`` form in Dagster, so they are read from the environment here.
"""


import os

import dagster as dg

from churn_assets.core.settings import apply_defaults
from churn_assets.defs.ingest.resources import DatasetResource
from churn_assets.defs.monitoring.resources import Notifier
from churn_assets.defs.quality.resources import QualityPolicy
from churn_assets.defs.registry.policy import PromotionPolicy
from churn_assets.defs.registry.resources import MlflowResource
from churn_assets.defs.training.resources import OptunaStorage

ENV_DEFAULTS = {"CHURN_DATASET": "", "CHURN_SYNTHETIC_ROWS": "100000", "CHURN_SEED": "42",
                "CHURN_WEBHOOK_URL": "", "MLFLOW_UI_URL": "http://127.0.0.1:5000"}


def build_resources() -> dict:
    apply_defaults()
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return {
        "dataset": DatasetResource(spec_path=dg.EnvVar("CHURN_DATASET"),
                                   synthetic_rows=dg.EnvVar.int("CHURN_SYNTHETIC_ROWS"),
                                   seed=dg.EnvVar.int("CHURN_SEED")),
        "quality": QualityPolicy(max_bad_share=float(os.environ.get("CHURN_MAX_BAD_SHARE", "0.05"))),
        "mlflow": MlflowResource(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
                                 experiment=dg.EnvVar("CHURN_MLFLOW_EXPERIMENT"),
                                 artifact_root=dg.EnvVar("CHURN_MLFLOW_ARTIFACTS"),
                                 model_name=dg.EnvVar("CHURN_MODEL_NAME"),
                                 ui_url=dg.EnvVar("MLFLOW_UI_URL")),
        "optuna_storage": OptunaStorage(url=dg.EnvVar("CHURN_OPTUNA_STORAGE")),
        "promotion": PromotionPolicy(metric=os.environ.get("CHURN_PROMOTION_METRIC", "roc_auc"),
                                     margin=float(os.environ.get("CHURN_PROMOTION_MARGIN", "0.0"))),
        "notifier": Notifier(webhook_url=dg.EnvVar("CHURN_WEBHOOK_URL")),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
