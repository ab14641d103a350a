"""model_performance: realized ROC-AUC/F1 of a scored day on the outcomes that arrived for it.

Degradation is a statistical statement (core/monitoring/performance.py): the drop below the model's
test figures with a seeded bootstrap interval, flagged only when the interval lies wholly above the
tolerance, with a minimum number of outcomes (a small day is pooled with earlier unflagged days of the
same model). It is an asset check (WARN: yellow in the UI) as well as the metadata flag `degraded`
that the retrain sensor reads.
"""

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.monitoring.resources import MonitoringPolicy

CODE_VERSION = "3"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)
WARN = dg.AssetCheckSeverity.WARN


def build(b: Build) -> list[dg.AssetsDefinition]:
    s = b.settings
    knobs = {"confidence": s.degradation_confidence, "min_outcomes": s.degradation_min_outcomes,
             "pool_days": s.degradation_pool_days, "resamples": s.degradation_resamples, "seed": s.seed}

    @dg.asset(partitions_def=b.daily, group_name="monitoring", kinds={"scikit-learn"},
              deps=["labelled_outcomes", "churn_predictions"], code_version=CODE_VERSION,
              check_specs=[dg.AssetCheckSpec("performance_within_tolerance", asset="model_performance",
                                             description="WARN when the drop of realized ROC-AUC or F1 below the "
                                                         "model's test figures is significantly larger than the "
                                                         "tolerance (its bootstrap interval lies above it); the "
                                                         "retrain sensor reacts to it.")],
              description="Realized ROC-AUC/F1/precision/recall of the day's scores on the outcomes that arrived "
                          "(labelled_outcomes), against the scoring model's test figures; `degraded` when the drop's "
                          f"{s.degradation_confidence:.0%} bootstrap interval lies above the tolerance (at least "
                          f"{s.degradation_min_outcomes} outcomes, pooling earlier unflagged days when a day is "
                          "smaller).",
              retry_policy=b.retry)
    @explains_outages
    def model_performance(context: dg.AssetExecutionContext, mlflow: MlflowResource, monitoring: MonitoringPolicy,
                          predictions_store: PredictionsStore, notifier: Notifier, labelled: LabelledStore):  # value + check
        from churn_assets.core.monitoring import performance

        day = context.partition_key
        champion = mlflow.champion(context)
        contract = champion.contract

        def outcomes(when: str):
            return _day_outcomes(predictions_store.predictions_url, labelled.root, contract, when)

        scored = outcomes(day)
        versions = set(scored["model_version"]) if len(scored) else set()
        version = versions.pop() if len(versions) == 1 else champion.version  # the model that scored the day
        tags = mlflow.client().get_model_version(champion.name, version).tags
        training_f1, training_auc = float(tags.get("test_f1", "nan")), float(tags.get("test_roc_auc", "nan"))
        policy = performance.DegradationPolicy(f1_tolerance=monitoring.f1_tolerance,
                                               auc_tolerance=monitoring.auc_tolerance, **knobs)
        earlier = []
        if len(scored) < policy.min_outcomes:
            for when in _unflagged_days_before(context.instance, day, version, policy.pool_days):
                earlier.append((when, outcomes(when)))
                if len(scored) + sum(len(f) for _, f in earlier) >= policy.min_outcomes:
                    break
        perf = performance.judge(scored, training_f1, training_auc, policy, earlier)
        if perf.degraded:
            notifier.send("degradation", f"model v{version} degraded on {day}: {perf.why}", partition=day,
                          model_version=version)
        result = {"partition": day, **perf.__dict__}
        intervals = {"roc_auc_drop_ci_low": perf.roc_auc_drop_interval[0],
                     "roc_auc_drop_ci_high": perf.roc_auc_drop_interval[1],
                     "f1_drop_ci_low": perf.f1_drop_interval[0], "f1_drop_ci_high": perf.f1_drop_interval[1]}
        check = dg.AssetCheckResult(check_name="performance_within_tolerance", passed=not perf.degraded, severity=WARN,
                                    description=perf.decision,
                                    metadata={"f1_drop": perf.f1_drop, "roc_auc_drop": perf.roc_auc_drop, **intervals})
        return dg.MaterializeResult(value=result, check_results=[check], metadata={
            "degraded": dg.MetadataValue.bool(perf.degraded),
            "decision": perf.decision,
            "roc_auc": perf.roc_auc, "f1": perf.f1, "precision": perf.precision, "recall": perf.recall,
            "training_f1": training_f1, "f1_drop": perf.f1_drop, "tolerance": monitoring.f1_tolerance,
            "training_roc_auc": perf.training_roc_auc, "roc_auc_drop": perf.roc_auc_drop,
            "auc_tolerance": monitoring.auc_tolerance, "why_degraded": perf.why or "not degraded",
            **intervals, "confidence": policy.confidence,
            "rows_with_outcome": perf.rows, "day_n": perf.rows, "pooled_n": perf.pooled_rows,
            "pooled_days": dg.MetadataValue.json(perf.pooled_days), "min_outcomes": policy.min_outcomes,
            "model_version": version,
        })

    return [model_performance]


def _day_outcomes(predictions_url: str, labelled_root: str, contract, day: str):
    """A scored day's customers that have an outcome (core/monitoring/performance.join_outcomes)."""
    from churn_assets.core.data import window
    from churn_assets.core.monitoring import performance
    from churn_assets.core.scoring import predictions_table as predictions

    scored = predictions.read_partition(  # only what realized metrics use
        predictions_url, day, ["customer_id", "churn_probability", "will_churn", "model_version"])
    labels = window.read_days(labelled_root, contract.dataset, [day], [contract.id_column, contract.target_column])
    return performance.join_outcomes(scored, labels, contract.id_column, contract.target_column)


def _unflagged_days_before(instance: dg.DagsterInstance, day: str, version: str, most: int) -> list[str]:
    """Earlier measured days, newest first (at most ``most``), that were not flagged and were scored by
    ``version``: what a day with too few outcomes may be pooled with."""
    if most <= 0:
        return []
    key = dg.AssetKey("model_performance")
    candidates = sorted((p for p in instance.get_materialized_partitions(key) if p < day), reverse=True)[:most]
    out = []
    for when in candidates:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[when]),
                                                  limit=1).records
        meta = records[0].asset_materialization.metadata if records else {}
        if "degraded" in meta and not meta["degraded"].value and str(meta["model_version"].value) == str(version):
            out.append(when)
    return out
