"""Every resource of the code location, built from the settings read once by churn_assets/definitions.py.

Each domain's resource class sits beside its assets with only its own fields; the common ones
(the data set, MLflow, the predictions table, the prediction log, alerts, reports, the labelled
store) are here in defs/common.
"""


from churn_assets.defs.common.dataset import DatasetResource, dataset_name
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionLogStore, PredictionsStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.evaluation.resources import EvaluationPolicy
from churn_assets.defs.experiment.resources import ExperimentPolicy
from churn_assets.defs.monitoring.resources import MonitoringPolicy
from churn_assets.defs.privacy.resources import PrivacyPolicy
from churn_assets.defs.quality.resources import QualityPolicy
from churn_assets.defs.registry.policy import CardPolicy, PromotionPolicy
from churn_assets.defs.retention.resources import RetentionPolicy
from churn_assets.defs.scoring.resources import ScoringPolicy
from churn_assets.defs.training.resources import OptunaStorage
from churn_assets.model.settings import ServingSettings, Settings


def build_resources(s: Settings, serving: ServingSettings) -> dict[str, object]:
    from churn_assets.core.registry.model_registry import default_model_name
    from churn_assets.model.pseudonym import IdHashing

    return {
        # common
        "dataset": DatasetResource(spec_path=s.dataset, synthetic_rows=s.synthetic_rows, seed=s.seed,
                                   batch_rows=s.batch_rows, shift=s.shift, shift_from=s.shift_from,
                                   shift_intensity=s.shift_intensity, labels_dir=str(s.labels_dir),
                                   chunk_rows=s.scoring_chunk_rows),
        "mlflow": MlflowResource(tracking_uri=s.mlflow_tracking_uri, experiment=s.mlflow_experiment,
                                 artifact_root=s.mlflow_artifacts, ui_url=s.mlflow_ui_url,
                                 model_name=s.model_name or default_model_name(dataset_name(s.dataset))),
        "predictions_store": PredictionsStore(predictions_url=s.predictions_url),
        "prediction_log": PredictionLogStore(prediction_log_url=serving.prediction_log_url),
        "notifier": Notifier(webhook_url=s.webhook_url),
        "reports": Reports(root=str(s.reports_dir)),
        "labelled": LabelledStore(root=str(s.labelled_dir), window_days=s.window_days, holdout_days=s.holdout_days),
        # by domain
        "quality": QualityPolicy(max_bad_share=s.max_bad_share),
        "optuna_storage": OptunaStorage(url=s.optuna_storage),
        "evaluation": EvaluationPolicy(min_roc_auc=s.min_roc_auc, segment_numeric=s.segment_numeric,
                                       bootstrap=s.card_bootstrap, seed=s.seed),
        "promotion": PromotionPolicy(metric=s.promotion_metric, margin=s.promotion_margin, basis=s.promotion_basis),
        "card_policy": CardPolicy(bootstrap=s.card_bootstrap, seed=s.seed),
        "scoring": ScoringPolicy(reasons=s.batch_reasons, reasons_rows=s.batch_reasons_rows,
                                 batches_dir=str(s.scoring_batches_dir)),
        "monitoring": MonitoringPolicy(f1_tolerance=s.f1_tolerance, auc_tolerance=s.auc_tolerance,
                                       drift_share=s.drift_share, drift_sample_rows=s.drift_sample_rows),
        "experiment": ExperimentPolicy(metric=s.readout_metric, confidence=s.readout_confidence,
                                       resamples=s.readout_resamples, min_outcomes=s.readout_min_outcomes,
                                       seed=s.seed, lookback_days=s.readout_lookback_days,
                                       promotion_basis=s.promotion_basis, first_day=s.scoring_start),
        "id_hashing": IdHashing(s.id_hash_keys.get_secret_value(), s.home),  # the key: never in config or UI
        "privacy": PrivacyPolicy(keep_prediction_log_days=s.keep_prediction_log_days,
                                 keep_scoring_batches_days=s.keep_scoring_batches_days,
                                 scoring_batches_dir=str(s.scoring_batches_dir), retention_dir=str(s.retention_dir)),
        "retention": RetentionPolicy(campaign=s.retention_campaign, capacity=s.retention_capacity,
                                     budget=s.retention_budget, cost_per_contact=s.retention_cost_per_contact,
                                     save_rate=s.retention_save_rate, control_share=s.retention_control_share,
                                     cooldown_days=s.retention_cooldown_days, csv_dir=str(s.retention_dir),
                                     min_outcomes=s.retention_min_outcomes, confidence=s.readout_confidence,
                                     resamples=s.readout_resamples, seed=s.seed, crm_webhook_url=s.crm_webhook_url,
                                     crm_batch_size=s.crm_batch_size, crm_retries=s.crm_retries),
    }
