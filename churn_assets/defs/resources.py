"""Every resource of the code location, configured from environment variables.

Unset variables get the embedded defaults of ``core/settings.py`` (SQLite, local folders).
Floats have no ``EnvVar`` form in Dagster, so they are read from the environment here.
"""


import os

import dagster as dg

from churn_assets.core.settings import apply_defaults
from churn_assets.defs.ingest.resources import DatasetResource
from churn_assets.defs.monitoring.resources import Notifier, ScoringSource
from churn_assets.defs.quality.resources import QualityPolicy
from churn_assets.defs.registry.policy import PromotionPolicy
from churn_assets.defs.registry.resources import MlflowResource
from churn_assets.defs.training.resources import OptunaStorage

ENV_DEFAULTS = {"CHURN_DATASET": "", "CHURN_SYNTHETIC_ROWS": "100000", "CHURN_SEED": "42",
                "CHURN_WEBHOOK_URL": "", "MLFLOW_UI_URL": "http://127.0.0.1:5000",
                "CHURN_BATCH_ROWS": "5000", "CHURN_SHIFT": "engagement_drop", "CHURN_SHIFT_FROM": ""}


def _float(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def build_resources() -> dict:
    apply_defaults()
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return {
        "dataset": DatasetResource(spec_path=dg.EnvVar("CHURN_DATASET"),
                                   synthetic_rows=dg.EnvVar.int("CHURN_SYNTHETIC_ROWS"),
                                   seed=dg.EnvVar.int("CHURN_SEED")),
        "quality": QualityPolicy(max_bad_share=_float("CHURN_MAX_BAD_SHARE", "0.05")),
        "mlflow": MlflowResource(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
                                 experiment=dg.EnvVar("CHURN_MLFLOW_EXPERIMENT"),
                                 artifact_root=dg.EnvVar("CHURN_MLFLOW_ARTIFACTS"),
                                 model_name=dg.EnvVar("CHURN_MODEL_NAME"),
                                 ui_url=dg.EnvVar("MLFLOW_UI_URL")),
        "optuna_storage": OptunaStorage(url=dg.EnvVar("CHURN_OPTUNA_STORAGE")),
        "promotion": PromotionPolicy(metric=os.environ.get("CHURN_PROMOTION_METRIC", "roc_auc"),
                                     margin=_float("CHURN_PROMOTION_MARGIN", "0.002")),
        "notifier": Notifier(webhook_url=dg.EnvVar("CHURN_WEBHOOK_URL")),
        "scoring": ScoringSource(rows=dg.EnvVar.int("CHURN_BATCH_ROWS"), seed=dg.EnvVar.int("CHURN_SEED"),
                                 shift=dg.EnvVar("CHURN_SHIFT"), shift_from=dg.EnvVar("CHURN_SHIFT_FROM"),
                                 intensity=_float("CHURN_SHIFT_INTENSITY", "1.0"),
                                 labels_dir=dg.EnvVar("CHURN_LABELS_DIR"),
                                 predictions_url=dg.EnvVar("CHURN_PREDICTIONS_URL"),
                                 reports_dir=dg.EnvVar("CHURN_REPORTS_DIR"),
                                 f1_tolerance=_float("CHURN_F1_TOLERANCE", "0.10"),
                                 drift_share=_float("CHURN_DRIFT_SHARE", "0.3"),
                                 drift_sample_rows=int(os.environ.get("CHURN_DRIFT_SAMPLE_ROWS", "10000"))),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
