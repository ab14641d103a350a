"""Scoring a day: scoring_batch (validated customers as Parquet) -> churn_predictions (the predictions table).

churn_predictions lives in the predictions table (CHURN_PREDICTIONS_URL), not in Dagster's IO manager:
it returns a MaterializeResult, and monitoring's drift_report / model_performance declare it as a
dependency and read the partition from the table.
"""

import dagster as dg
import pandas as pd

from churn_assets.core.scoring.parquet_store import StoredBatch
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import column_schema, number, partitions_note, preview, table
from churn_assets.defs.common.mlflow import CHAMPION_DEP, MlflowResource
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.scoring.resources import ScoringPolicy
from churn_assets.model.pseudonym import IdHashing

# Bump by hand when what these assets compute changes (defs/common/policies.py).
# 2: scoring_batch's value is a Parquet manifest (core/scoring/parquet_store.py), no longer a DataFrame.
CODE_VERSION = "2"
RISK_BANDS = ("low", "medium", "high")  # model/scorer.py risk_bands: churn probability < 0.3, < 0.6, else


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="scoring", kinds={"parquet", "pandera"}, deps=[CHAMPION_DEP],
              code_version=CODE_VERSION, freshness_policy=b.scoring_freshness,
              description="The day's current customers, validated chunk by chunk against the champion's data contract "
                          "(bad rows are dropped from scoring and reported) and stored as Parquet, one row group per "
                          "chunk; the value is the file's manifest (core/scoring/parquet_store.py)."
                          + partitions_note(b.settings.scoring_start),
              retry_policy=b.retry)
    @explains_outages
    def scoring_batch(context: dg.AssetExecutionContext, dataset: DatasetResource, scoring: ScoringPolicy,
                      mlflow: MlflowResource, predictions_store: PredictionsStore,
                      id_hashing: dg.ResourceParam[IdHashing]) -> dg.Output[StoredBatch]:
        from churn_assets.core.data.batches import iter_batch
        from churn_assets.core.privacy.forget import without_forgotten
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
            chunks = without_forgotten(iter_batch(spec.scoring, day, dataset.batches()), spec.id_column,
                                       predictions_store.predictions_url, id_hashing.ring)  # forgotten: not scored
            batch = validate_to_parquet(chunks, champion.contract, path,
                                        as_of=day, extra={"as_of": pd.Timestamp(day)})
        examples = pd.DataFrame(batch.rejected_examples, columns=["_row", "_reason"])
        return dg.Output(batch, metadata={
            "dagster/row_count": batch.rows,
            "raw_rows": batch.raw_rows,
            "rejected_rows": batch.rejected_rows,
            "rejected_examples": preview(examples, 5, hide=(spec.id_column,)) if len(examples) else "none",
            "chunks": batch.chunks,
            "path": dg.MetadataValue.path(batch.path),
            "synthetic_shift": dataset.shift if dataset.shifted(day) else "none",
            "preview": preview(batch.head(5), hide=(spec.id_column,)),
        })

    @dg.asset(partitions_def=b.daily, group_name="scoring", kinds={"sql", "scikit-learn"},
              code_version=CODE_VERSION, freshness_policy=b.scoring_freshness,
              description="The champion's scores for the day, chunk by chunk, bulk-written to the predictions table "
                          "(PostgreSQL COPY; re-running a partition replaces its rows in one transaction)."
                          + partitions_note(b.settings.scoring_start),
              retry_policy=b.retry)
    @explains_outages
    def churn_predictions(context: dg.AssetExecutionContext, scoring_batch: StoredBatch, mlflow: MlflowResource,
                          scoring: ScoringPolicy, predictions_store: PredictionsStore) -> dg.MaterializeResult:
        from churn_assets.core.scoring import predictions_table as predictions
        from churn_assets.core.scoring.batch import score_partition
        from churn_assets.core.training.memory import release_memory

        release_memory()
        champion = mlflow.champion(context)
        with predictions.BackgroundWriter(predictions_store.predictions_url, context.partition_key) as writer:
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
            "threshold": number(champion.threshold),
            "predicted_churn_share": number(res.churners / written if written else 0.0),
            "mean_probability": number(res.prob_sum / written if written else 0.0),
            "risk_counts": table([{"risk band": band, "customers": int(res.risk.get(band, 0)),
                                   "share": number(res.risk.get(band, 0) / written if written else 0.0)}
                                  for band in RISK_BANDS]),
            "reasons_per_customer": scoring.reasons if written else 0,
            "customers_with_reasons": res.explained,
            "table": f"{predictions.TABLE} @ {predictions_store.safe_url()}",
        })

    return [scoring_batch, churn_predictions]
