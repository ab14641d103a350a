"""drift_report: Evidently data drift of a scored day and prediction drift of its scores.

Drift is an asset check (WARN: yellow in the UI) as well as the metadata flag `drift_detected` that the
retrain sensor reads.

One number for people: the share of drifted *features* (what the flag uses); the prediction's drift
is reported on its own. Evidently's HTML report counts the prediction as one more column (20 of 28
where the features are 19 of 27): the `summary` table shows both counts side by side.
"""

import dagster as dg

from churn_assets.core.scoring.parquet_store import StoredBatch
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.metadata import image, number, partitions_note, table
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.monitoring.resources import MonitoringPolicy

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)
WARN = dg.AssetCheckSeverity.WARN


def _short(method: str) -> str:
    """Evidently's method name, short enough for a table cell ("Wasserstein distance (normed)" -> "Wasserstein")."""
    m = " ".join(method.split())
    for long, short in ((" distance (normed)", ""), (" distance", ""), (" p_value", " (p-value)")):
        m = m.replace(long, short)
    return m


def drift_metadata(res, html) -> dict:
    """The metadata both drift reports show (batch and live): the headline, the report's summary table,
    a plot of the top drifted columns, per-column results as a table (`vs threshold`: the score on the
    scale of core/evaluation/plots.py drift_strength, above 1 drifted), and the HTML report's path.
    `drift_detected` (a bool) is what the retrain sensor reads; `drifted_columns` and
    `per_column_scores` stay JSON for the programs (tests, the sensor's run tags) that read them."""
    from churn_assets.core.evaluation.plots import drift_png, drift_strength

    pred = res.prediction_drift
    per_column = {c.column: {"method": c.method, "score": round(c.score, 6), "threshold": c.threshold,
                             "drifted": c.drifted} for c in res.columns}
    rows = sorted(({"column": c.column, "drifted": c.drifted, "method": _short(c.method), "score": number(c.score),
                    "threshold": number(c.threshold),
                    "vs threshold": number(drift_strength(c.method, c.score, c.threshold))}
                   for c in res.columns), key=lambda r: (not r["drifted"], -(r["vs threshold"] or 0.0)))
    return {
        "drift_detected": dg.MetadataValue.bool(res.drift_detected),
        "drifted_features": res.headline(),
        "drifted_share": number(res.drifted_share),
        "drift_share_threshold": number(res.drift_share),
        "prediction_drift": dg.MetadataValue.bool(bool(pred and pred.drifted)),
        "prediction_drift_score": number(pred.score) if pred else float("nan"),
        "summary": table(res.summary_rows()),
        "top_drifted_columns": image(drift_png([vars(c) for c in res.features]),
                                     f"top drifted features: {res.headline()}"),
        "drift_by_column": table(rows),
        "report": dg.MetadataValue.path(str(html)),
        "drifted_columns": dg.MetadataValue.json(res.drifted_columns),
        "per_column_scores": dg.MetadataValue.json(per_column),
        "rows_reference": res.rows_reference,
        "rows_current": res.rows_current,
    }


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="monitoring", kinds={"evidently"}, deps=["churn_predictions"],
              code_version=CODE_VERSION, freshness_policy=b.scoring_freshness,
              check_specs=[dg.AssetCheckSpec("no_data_drift", asset="drift_report",
                                             description="WARN when the share of drifted features reaches "
                                                         "CHURN_DRIFT_SHARE (the retrain sensor reacts to it).")],
              description="Evidently data drift of the day's features and prediction drift of its scores (read from "
                          "the predictions table), against the champion's training reference. `drifted_features` is "
                          "the one number (features only; the prediction's drift is its own line); `summary` also "
                          "shows Evidently's count, which includes the prediction. `report` is the path of the "
                          "Evidently HTML report on the machine that ran the step: copy it and open it in a browser "
                          "there (a web page cannot link to a local file)." + partitions_note(b.settings.scoring_start),
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
        if res.drift_detected:
            notifier.send("drift", f"data drift in partition {context.partition_key}: "
                          f"{res.drifted_share:.0%} of features drifted", partition=context.partition_key,
                          drifted_columns=res.drifted_columns, model_version=champion.version)
        summary = {"partition": context.partition_key, "drift_detected": res.drift_detected,
                   "drifted_features": res.headline(), "drifted_share": res.drifted_share,
                   "drifted_columns": res.drifted_columns,
                   "per_column": per_column, "html": str(html), "model_version": champion.version}
        check = dg.AssetCheckResult(
            check_name="no_data_drift", passed=not res.drift_detected, severity=WARN,
            description=f"{res.headline()} (flag at {res.drift_share:.0%} of features)",
            metadata={"drifted_share": number(res.drifted_share),
                      "drifted_columns": table([{"column": c} for c in res.drifted_columns])
                      if res.drifted_columns else "none"})
        return dg.MaterializeResult(value=summary, check_results=[check], metadata={
            **drift_metadata(res, html), "model_version": champion.version})

    return [drift_report]
