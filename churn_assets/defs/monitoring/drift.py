"""drift_report: Evidently data drift of a scored day and prediction drift of its scores.

Drift is an asset check (WARN: yellow in the UI) as well as the metadata flag `drift_detected` that the
retrain sensor reads.
"""

import dagster as dg
import pandas as pd

from churn_assets.core.scoring.parquet_store import StoredBatch
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.monitoring.resources import MonitoringPolicy

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)
WARN = dg.AssetCheckSeverity.WARN


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="monitoring", kinds={"evidently"}, deps=["churn_predictions"],
              code_version=CODE_VERSION, freshness_policy=b.scoring_freshness,
              check_specs=[dg.AssetCheckSpec("no_data_drift", asset="drift_report",
                                             description="WARN when the share of drifted features reaches "
                                                         "CHURN_DRIFT_SHARE (the retrain sensor reacts to it).")],
              description="Evidently data drift of the day's features and prediction drift of its scores (read from "
                          "the predictions table), against the champion's training reference. The HTML report is kept "
                          "and linked.",
              retry_policy=b.retry)
    @explains_outages
    def drift_report(context: dg.AssetExecutionContext, scoring_batch: StoredBatch, mlflow: MlflowResource,
                     monitoring: MonitoringPolicy, predictions_store: PredictionsStore,
                     notifier: Notifier, reports: Reports):  # value + check
        from churn_assets.core.monitoring import drift
        from churn_assets.core.scoring import predictions_table as predictions

        champion = mlflow.champion(context)
        reference = champion.reference()
        # A sample of the partition (row groups read one at a time) and its stored scores: bounded at any size.
        sample = scoring_batch.sample(monitoring.drift_sample_rows, seed=42)
        scores = predictions.scores_of(predictions_store.predictions_url, context.partition_key, sample[scoring_batch.id_column])
        current = drift.features_with_scores(champion.pipeline, sample, scores=scores)
        html = reports.folder("drift") / f"{context.partition_key}.html"
        res = drift.detect(reference, current, drift.drift_columns(champion.pipeline), drift_share=monitoring.drift_share,
                           sample_rows=monitoring.drift_sample_rows, html_path=html)
        per_column = {c.column: {"method": c.method, "score": round(c.score, 6), "threshold": c.threshold,
                                 "drifted": c.drifted} for c in res.columns}
        table = pd.DataFrame([{"column": c.column, "method": c.method, "score": round(c.score, 4),
                               "threshold": c.threshold, "drifted": c.drifted} for c in res.columns])
        pred = res.prediction_drift
        if res.drift_detected:
            notifier.send("drift", f"data drift in partition {context.partition_key}: "
                          f"{res.drifted_share:.0%} of features drifted", partition=context.partition_key,
                          drifted_columns=res.drifted_columns, model_version=champion.version)
        summary = {"partition": context.partition_key, "drift_detected": res.drift_detected,
                   "drifted_share": res.drifted_share, "drifted_columns": res.drifted_columns,
                   "per_column": per_column, "html": str(html), "model_version": champion.version}
        check = dg.AssetCheckResult(
            check_name="no_data_drift", passed=not res.drift_detected, severity=WARN,
            description=f"{res.drifted_share:.0%} of features drifted (flag at {res.drift_share:.0%})",
            metadata={"drifted_share": float(res.drifted_share),
                      "drifted_columns": dg.MetadataValue.json(res.drifted_columns)})
        return dg.MaterializeResult(value=summary, check_results=[check], metadata={
            "drift_detected": dg.MetadataValue.bool(res.drift_detected),
            "drifted_share": float(res.drifted_share),
            "drifted_columns": dg.MetadataValue.json(res.drifted_columns),
            "drift_share_threshold": float(res.drift_share),
            "prediction_drift": dg.MetadataValue.bool(bool(pred and pred.drifted)),
            "prediction_drift_score": float(pred.score) if pred else float("nan"),
            "per_column_scores": dg.MetadataValue.json(per_column),
            "columns": dg.MetadataValue.md(table.to_markdown(index=False)),
            "report": dg.MetadataValue.path(str(html)),
            "report_url": dg.MetadataValue.url(html.resolve().as_uri()),
            "rows_reference": res.rows_reference,
            "rows_current": res.rows_current,
            "model_version": champion.version,
        })

    return [drift_report]
