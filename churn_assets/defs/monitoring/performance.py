"""model_performance: realized ROC-AUC/F1 of a scored day on the outcomes that arrived for it.

Degradation is an asset check (WARN: yellow in the UI) as well as the metadata flag `degraded` that
the retrain sensor reads.
"""

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.monitoring.resources import MonitoringPolicy

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)
WARN = dg.AssetCheckSeverity.WARN


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="monitoring", kinds={"scikit-learn"},
              deps=["labelled_outcomes", "churn_predictions"], code_version=CODE_VERSION,
              check_specs=[dg.AssetCheckSpec("performance_within_tolerance", asset="model_performance",
                                             description="WARN when realized F1 or ROC-AUC fall below the model's test "
                                                         "figures by more than the tolerances (the retrain sensor "
                                                         "reacts to it).")],
              description="Realized ROC-AUC/F1/precision/recall of the day's scores on the outcomes that arrived "
                          "(labelled_outcomes), against the scoring model's test figures; `degraded` when F1 falls "
                          "more than the tolerance.",
              retry_policy=b.retry)
    @explains_outages
    def model_performance(context: dg.AssetExecutionContext, mlflow: MlflowResource, monitoring: MonitoringPolicy,
                          predictions_store: PredictionsStore, notifier: Notifier, labelled: LabelledStore):  # value + check
        from churn_assets.core.data import window
        from churn_assets.core.monitoring import performance
        from churn_assets.core.scoring import predictions_table as predictions

        day = context.partition_key
        churn_predictions = predictions.read_partition(  # only what realized metrics use
            predictions_store.predictions_url, day, ["customer_id", "churn_probability", "will_churn", "model_version"])
        versions = set(churn_predictions["model_version"].astype(str))
        champion = mlflow.champion(context)
        version = versions.pop() if len(versions) == 1 else champion.version  # the model that scored the day
        contract = champion.contract
        labels = window.read_days(labelled.root, contract.dataset, [day], [contract.id_column, contract.target_column])
        tags = mlflow.client().get_model_version(champion.name, version).tags
        training_f1 = float(tags.get("test_f1", "nan"))
        perf = performance.realized(churn_predictions, labels, contract.id_column, contract.target_column,
                                    training_f1, monitoring.f1_tolerance, float(tags.get("test_roc_auc", "nan")),
                                    monitoring.auc_tolerance)
        if perf.degraded:
            notifier.send("degradation", f"model v{version} degraded on {day}: {perf.why}", partition=day,
                          model_version=version)
        result = {"partition": day, **perf.__dict__}
        check = dg.AssetCheckResult(check_name="performance_within_tolerance", passed=not perf.degraded, severity=WARN,
                                    description=perf.why or "within tolerance",
                                    metadata={"f1_drop": perf.f1_drop, "roc_auc_drop": perf.roc_auc_drop})
        return dg.MaterializeResult(value=result, check_results=[check], metadata={
            "degraded": dg.MetadataValue.bool(perf.degraded),
            "roc_auc": perf.roc_auc, "f1": perf.f1, "precision": perf.precision, "recall": perf.recall,
            "training_f1": training_f1, "f1_drop": perf.f1_drop, "tolerance": monitoring.f1_tolerance,
            "training_roc_auc": perf.training_roc_auc, "roc_auc_drop": perf.roc_auc_drop,
            "auc_tolerance": monitoring.auc_tolerance, "why_degraded": perf.why or "not degraded",
            "rows_with_outcome": perf.rows, "model_version": version,
        })

    return [model_performance]
