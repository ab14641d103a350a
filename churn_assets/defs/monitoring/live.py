"""Monitoring of live traffic: the Bento's prediction log -> served_predictions -> live_drift_report.

``live_drift_report`` runs the same drift code (core/monitoring/drift.py) as ``drift_report`` does on batch
scoring, against the same champion reference, and carries the same ``drift_detected`` metadata
flag, so a sensor can react to drift in what the service actually answers.
"""

import dagster as dg
import pandas as pd

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.metadata import counts, number, partitions_note
from churn_assets.defs.common.mlflow import CHAMPION_DEP, MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionLogStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import safe_url
from churn_assets.defs.monitoring.drift import drift_metadata
from churn_assets.defs.monitoring.resources import MonitoringPolicy

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)

# Below this many served predictions a day, drift statistics are noise: the report says so and
# flags nothing (a quiet day must not trigger a retrain).
MIN_ROWS = 50
LOG_COLUMNS = ("id", "request_id", "served_at", "transport", "model_version", "churn_probability", "arm", "served")


def _bounded(current: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Clip the current side's numeric features to 10 reference ranges around the reference.

    Anything a client may send is served (validation bounds only what a field means), so live
    traffic can hold values like 1e300 whose features overflow Evidently's histograms (NaN bin
    widths). Clipped far outside the reference they still count as drifted, as they should.
    """
    import numpy as np

    out = current.copy()
    for c in out.columns:
        if c in reference.columns and pd.api.types.is_numeric_dtype(out[c]) and \
                pd.api.types.is_numeric_dtype(reference[c]) and not pd.api.types.is_bool_dtype(out[c]):
            lo, hi = float(reference[c].min()), float(reference[c].max())
            span = (hi - lo) or 1.0
            out[c] = out[c].astype(float).replace([np.inf, -np.inf], np.nan).clip(lo - 10 * span, hi + 10 * span)
    return out


def _live_note(b: Build) -> str:
    return partitions_note(b.settings.scoring_start, "the requests served that day (today's fills as they arrive)",
                           "days before the service answered its first request have none")


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.live_daily, group_name="monitoring", kinds={"sql", "bentoml"}, code_version=CODE_VERSION,
              description="The predictions the served Bento answered on the day (UTC), read from its prediction "
                          "log (CHURN_PREDICTION_LOG_URL): request id, time, model version, validated record, "
                          "probability." + _live_note(b))
    def served_predictions(context: dg.AssetExecutionContext, prediction_log: PredictionLogStore) -> dg.Output[pd.DataFrame]:
        from churn_assets.model import prediction_log as plog

        url = prediction_log.prediction_log_url
        df = plog.read_day(url, context.partition_key)
        n = len(df)
        return dg.Output(df, metadata={
            "dagster/row_count": n,
            "requests": int(df["request_id"].nunique()) if n else 0,
            "by_transport": counts(df["transport"].value_counts().to_dict() if n else {}, "transport", "predictions"),
            "by_arm": counts({f"{arm}{'' if served else ' (shadow)'}": int(k) for (arm, served), k
                              in df.groupby(["arm", "served"]).size().items()} if n else {}, "arm", "predictions"),
            "model_versions": ", ".join(sorted(df["model_version"].astype(str).unique())) if n else "none",
            "mean_probability": number(df["churn_probability"].mean()) if n else 0.0,
            "log": f"{plog.TABLE} @ {safe_url(url)}",
        })

    @dg.asset(partitions_def=b.live_daily, group_name="monitoring", kinds={"evidently"}, deps=[CHAMPION_DEP],
              code_version=CODE_VERSION,
              description="Evidently data drift of the day's served requests and prediction drift of the served "
                          "scores, against the champion's training reference (the same code and metadata as "
                          "drift_report)." + _live_note(b))
    def live_drift_report(context: dg.AssetExecutionContext, served_predictions: pd.DataFrame, mlflow: MlflowResource,
                          monitoring: MonitoringPolicy, notifier: Notifier, reports: Reports) -> dg.Output[dict]:
        from churn_assets.core.monitoring import drift
        from churn_assets.model.scorer import records_to_frame

        # One row per answer a client received: shadow predictions (served=False) are not traffic.
        served_predictions = served_predictions[served_predictions["served"]].reset_index(drop=True) \
            if "served" in served_predictions else served_predictions
        day, n = context.partition_key, len(served_predictions)
        champion = mlflow.champion(context)
        if n < MIN_ROWS:
            summary = {"partition": day, "drift_detected": False, "rows_current": n,
                       "skipped": f"only {n} served predictions (< {MIN_ROWS}): no drift statistics"}
            return dg.Output(summary, metadata={"drift_detected": dg.MetadataValue.bool(False), "rows_current": n,
                                                "skipped": summary["skipped"], "model_version": champion.version})
        records = served_predictions.drop(columns=[c for c in LOG_COLUMNS if c in served_predictions.columns])
        if "as_of" in records.columns and records["as_of"].isna().all():
            records = records.drop(columns=["as_of"])  # the model's as-of date applies, as when served
        if champion.contract.id_column not in records.columns and "customer_id" in served_predictions.columns:
            records[champion.contract.id_column] = served_predictions["customer_id"]
        for c in [*champion.contract.by_role("date"), "as_of"]:  # valid but extreme dates (year 16) are NaT to pandas
            if c in records.columns:
                records[c] = pd.to_datetime(records[c], errors="coerce", format="ISO8601")
        if "as_of" in records.columns and champion.contract.as_of:  # unset: the model's as-of date, as when served
            records["as_of"] = records["as_of"].fillna(pd.Timestamp(champion.contract.as_of))
        frame = records_to_frame(records.to_dict("records"), champion.contract)
        current = drift.features_with_scores(champion.pipeline, frame,
                                             scores=served_predictions["churn_probability"].to_numpy())
        reference = champion.reference()
        current = _bounded(current, reference)
        html = reports.folder("drift") / f"live-{day}.html"
        res = drift.detect(reference, current, drift.drift_columns(champion.pipeline),
                           drift_share=monitoring.drift_share, sample_rows=monitoring.drift_sample_rows, html_path=html)
        per_column = {c.column: {"method": c.method, "score": round(c.score, 6), "threshold": c.threshold,
                                 "drifted": c.drifted} for c in res.columns}
        if res.drift_detected:
            notifier.send("drift", f"data drift in live traffic on {day}: {res.drifted_share:.0%} of features drifted",
                          partition=day, source="served", drifted_columns=res.drifted_columns,
                          model_version=champion.version)
        versions = sorted(served_predictions["model_version"].astype(str).unique())
        summary = {"partition": day, "source": "served", "drift_detected": res.drift_detected,
                   "drifted_share": res.drifted_share, "drifted_columns": res.drifted_columns,
                   "per_column": per_column, "html": str(html), "model_version": champion.version,
                   "served_model_versions": versions, "rows_current": res.rows_current}
        return dg.Output(summary, metadata={
            **drift_metadata(res, html), "model_version": champion.version,
            "served_model_versions": ", ".join(versions),
        })

    return [served_predictions, live_drift_report]
