"""The monitoring loop's assets: scoring_batch -> churn_predictions -> drift_report, model_performance.

churn_predictions lives in the predictions table (CHURN_PREDICTIONS_URL), not in Dagster's IO manager:
it returns a MaterializeResult, and drift_report / model_performance declare it as a dependency and
read the partition from the table. Drift and degradation are asset checks (WARN: yellow in the UI)
as well as the metadata flags `drift_detected` / `degraded` that the retrain sensor reads.
"""

import dagster as dg
import pandas as pd

from churn_assets.core.scoring.parquet_store import StoredBatch
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.metadata import column_schema, preview
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import SERVICE_RETRY, explains_outages
from churn_assets.defs.monitoring.partitions import daily, scoring_freshness
from churn_assets.defs.monitoring.resources import ScoringSource

# Bump by hand when what these assets compute changes (defs/common/policies.py).
# 2: scoring_batch's value is a Parquet manifest (core/scoring/parquet_store.py), no longer a DataFrame.
CODE_VERSION = "2"
WARN = dg.AssetCheckSeverity.WARN


# Monitoring uses the registry's champion: declared (the external asset `champion_model`), so the
# lineage graph shows it. Each run pins the champion version once (MlflowResource.pinned_champion)
# and every step uses that version.
CHAMPION_DEP = dg.AssetDep("champion_model", partition_mapping=dg.AllPartitionMapping())


@dg.asset(partitions_def=daily, group_name="monitoring", kinds={"parquet", "pandera"}, deps=[CHAMPION_DEP],
          code_version=CODE_VERSION, freshness_policy=scoring_freshness,
          description="The day's current customers, validated chunk by chunk against the champion's data contract "
                      "(bad rows are dropped from scoring and reported) and stored as Parquet, one row group per "
                      "chunk; the value is the file's manifest (core/scoring/parquet_store.py).",
          retry_policy=SERVICE_RETRY)
@explains_outages
def scoring_batch(context: dg.AssetExecutionContext, dataset: DatasetResource, scoring: ScoringSource,
                  mlflow: MlflowResource) -> dg.Output[StoredBatch]:
    from churn_assets.core.data.batches import iter_batch
    from churn_assets.core.scoring.parquet_store import validate_to_parquet
    from churn_assets.core.training.memory import release_memory

    release_memory()
    day = context.partition_key
    champion = mlflow.champion(context)
    spec = dataset.spec()
    if spec.source.kind != "synthetic" and not spec.scoring:
        raise dg.Failure(f"dataset spec '{spec.name}' has no `scoring` section: say where each day's customers "
                         "are, e.g. `scoring: {path: \"batches/{date}.csv\"}`", allow_retries=False)
    path = scoring.batch_path(spec.name, day)
    with data_failures(f"scoring batch {day}"):
        batch = validate_to_parquet(iter_batch(spec.scoring, day, scoring.settings()), champion.contract, path,
                                    as_of=day, extra={"as_of": pd.Timestamp(day)})
    shifted = bool(scoring.shift_from) and day >= scoring.shift_from and scoring.shift != "none"
    examples = pd.DataFrame(batch.rejected_examples, columns=["_row", "_reason"])
    return dg.Output(batch, metadata={
        "dagster/row_count": batch.rows,
        "raw_rows": batch.raw_rows,
        "rejected_rows": batch.rejected_rows,
        "rejected_examples": preview(examples, 5) if len(examples) else "none",
        "chunks": batch.chunks,
        "path": dg.MetadataValue.path(batch.path),
        "synthetic_shift": scoring.shift if shifted else "none",
        "preview": preview(batch.head(5)),
    })


@dg.asset(partitions_def=daily, group_name="monitoring", kinds={"sql", "scikit-learn"},
          code_version=CODE_VERSION, freshness_policy=scoring_freshness,
          description="The champion's scores for the day, chunk by chunk, bulk-written to the predictions table "
                      "(PostgreSQL COPY; re-running a partition replaces its rows in one transaction).",
          retry_policy=SERVICE_RETRY)
@explains_outages
def churn_predictions(context: dg.AssetExecutionContext, scoring_batch: StoredBatch, mlflow: MlflowResource,
                      scoring: ScoringSource) -> dg.MaterializeResult:
    from churn_assets.core.scoring import predictions_table as predictions
    from churn_assets.core.scoring.batch import score_partition
    from churn_assets.core.training.memory import release_memory

    release_memory()
    champion = mlflow.champion(context)
    with predictions.BackgroundWriter(scoring.predictions_url, context.partition_key) as writer:
        res = score_partition(scoring_batch, champion.pipeline, threshold=champion.threshold,
                              model_name=champion.name, version=champion.version, writer=writer,
                              reasons=scoring.reasons, reasons_rows=scoring.reasons_rows)
    written = writer.rows
    schema = res.last if res.last is not None else pd.DataFrame(columns=predictions.PartitionWriter.COLUMNS)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "dagster/table_name": predictions.TABLE,
        "dagster/column_schema": column_schema(schema.assign(partition=context.partition_key)),
        "model_version": champion.version,
        "threshold": champion.threshold,
        "predicted_churn_share": res.churners / written if written else 0.0,
        "mean_probability": res.prob_sum / written if written else 0.0,
        "risk_counts": dg.MetadataValue.json(dict(res.risk)),
        "reasons_per_customer": scoring.reasons if written else 0,
        "customers_with_reasons": res.explained,
        "table": f"{predictions.TABLE} @ {_safe_url(scoring.predictions_url)}",
    })


@dg.asset(partitions_def=daily, group_name="monitoring", kinds={"evidently"}, deps=["churn_predictions"],
          code_version=CODE_VERSION, freshness_policy=scoring_freshness,
          check_specs=[dg.AssetCheckSpec("no_data_drift", asset="drift_report",
                                         description="WARN when the share of drifted features reaches "
                                                     "CHURN_DRIFT_SHARE (the retrain sensor reacts to it).")],
          description="Evidently data drift of the day's features and prediction drift of its scores (read from "
                      "the predictions table), against the champion's training reference. The HTML report is kept "
                      "and linked.",
          retry_policy=SERVICE_RETRY)
@explains_outages
def drift_report(context: dg.AssetExecutionContext, scoring_batch: StoredBatch, mlflow: MlflowResource,
                 scoring: ScoringSource, notifier: Notifier, reports: Reports):  # value + check
    from churn_assets.core.monitoring import drift
    from churn_assets.core.scoring import predictions_table as predictions

    champion = mlflow.champion(context)
    reference = champion.reference()
    # A sample of the partition (row groups read one at a time) and its stored scores: bounded at any size.
    sample = scoring_batch.sample(scoring.drift_sample_rows, seed=42)
    scores = predictions.scores_of(scoring.predictions_url, context.partition_key, sample[scoring_batch.id_column])
    current = drift.features_with_scores(champion.pipeline, sample, scores=scores)
    html = reports.folder("drift") / f"{context.partition_key}.html"
    res = drift.detect(reference, current, drift.drift_columns(champion.pipeline), drift_share=scoring.drift_share,
                       sample_rows=scoring.drift_sample_rows, html_path=html)
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


@dg.asset(partitions_def=daily, group_name="monitoring", kinds={"scikit-learn"},
          deps=["labelled_outcomes", "churn_predictions"], code_version=CODE_VERSION,
          check_specs=[dg.AssetCheckSpec("performance_within_tolerance", asset="model_performance",
                                         description="WARN when realized F1 or ROC-AUC fall below the model's test "
                                                     "figures by more than the tolerances (the retrain sensor "
                                                     "reacts to it).")],
          description="Realized ROC-AUC/F1/precision/recall of the day's scores on the outcomes that arrived "
                      "(labelled_outcomes), against the scoring model's test figures; `degraded` when F1 falls "
                      "more than the tolerance.",
          retry_policy=SERVICE_RETRY)
@explains_outages
def model_performance(context: dg.AssetExecutionContext, mlflow: MlflowResource, scoring: ScoringSource,
                      notifier: Notifier, labelled: LabelledStore):  # value + check
    from churn_assets.core.data import window
    from churn_assets.core.monitoring import performance
    from churn_assets.core.scoring import predictions_table as predictions

    day = context.partition_key
    churn_predictions = predictions.read_partition(  # only what realized metrics use
        scoring.predictions_url, day, ["customer_id", "churn_probability", "will_churn", "model_version"])
    versions = set(churn_predictions["model_version"].astype(str))
    champion = mlflow.champion(context)
    version = versions.pop() if len(versions) == 1 else champion.version  # the model that scored the day
    contract = champion.contract
    labels = window.read_days(labelled.root, contract.dataset, [day], [contract.id_column, contract.target_column])
    tags = mlflow.client().get_model_version(champion.name, version).tags
    training_f1 = float(tags.get("test_f1", "nan"))
    perf = performance.realized(churn_predictions, labels, contract.id_column, contract.target_column,
                                training_f1, scoring.f1_tolerance, float(tags.get("test_roc_auc", "nan")),
                                scoring.auc_tolerance)
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
        "training_f1": training_f1, "f1_drop": perf.f1_drop, "tolerance": scoring.f1_tolerance,
        "training_roc_auc": perf.training_roc_auc, "roc_auc_drop": perf.roc_auc_drop,
        "auc_tolerance": scoring.auc_tolerance, "why_degraded": perf.why or "not degraded",
        "rows_with_outcome": perf.rows, "model_version": version,
    })


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (any parse error: show the part after the credentials)
        return url.split("@")[-1]
