"""labelled_outcomes: a scored day joined with the outcomes that arrived for it (training data of retrains)."""

import dagster as dg
import pandas as pd

from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.metadata import preview
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.services import SERVICE_RETRY, explains_outages
from churn_assets.defs.monitoring.partitions import daily
from churn_assets.defs.monitoring.resources import ScoringSource

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(partitions_def=daily, group_name="monitoring", kinds={"pandas", "pandera", "parquet"},
          deps=["scoring_batch", dg.AssetDep("champion_model", partition_mapping=dg.AllPartitionMapping())],
          code_version=CODE_VERSION,
          description="The day's scored customers joined with the outcomes that arrived for them (spec `labels`: "
                      "a file template or SQL; the generator on the synthetic default), validated against the "
                      "scoring model's contract like any other data. Stored as Parquet; the training window reads it.",
          retry_policy=SERVICE_RETRY)
@explains_outages
def labelled_outcomes(context: dg.AssetExecutionContext, dataset: DatasetResource, scoring: ScoringSource,
                      mlflow: MlflowResource, labelled: LabelledStore) -> dg.MaterializeResult:
    from churn_assets.core import outcomes, window
    from churn_assets.core.batches import load_batch, load_labels
    from churn_assets.core.quality import validate

    day = context.partition_key
    spec = dataset.spec()
    contract = mlflow.champion(context).contract
    labels = load_labels(spec.labels, day, scoring.settings(), scoring.labels_dir)
    if labels is None:
        raise dg.Failure(f"no outcomes for {day} yet ({_where(spec.labels, scoring.labels_dir)}); the outcomes "
                         "sensor materializes this partition when they arrive")
    with data_failures(f"outcomes of {day}"):
        batch = load_batch(spec.scoring, day, scoring.settings())
        joined = outcomes.join(batch, labels, contract.id_column, contract.target_column)
        res = validate(joined.rows, contract, with_target=True, as_of=day)
    clean = res.clean.assign(as_of=pd.Timestamp(day))
    path = window.write_partition(labelled.root, contract.dataset, day, clean)
    rate = float(clean[contract.target_column].mean()) if len(clean) else 0.0
    context.log.info(f"{day}: {len(clean):,} labelled customers ({len(res.quarantined)} quarantined, "
                     f"{joined.awaiting:,} awaiting an outcome), churn rate {rate:.1%}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(clean),
        "batch_rows": joined.batch_rows,
        "awaiting_outcome": joined.awaiting,
        "unmatched_outcomes": joined.unmatched,
        "duplicate_outcomes": joined.duplicate_outcomes,
        "quarantined_rows": len(res.quarantined),
        "quarantine_reasons": dg.MetadataValue.json(dict(res.reasons)),
        "churn_rate": rate,
        "contract": contract.dataset,
        "path": dg.MetadataValue.path(str(path)),
        "preview": preview(clean),
    })


def _where(labels: dict | None, labels_dir: str) -> str:
    if labels and labels.get("url"):
        return f"query on {labels['url'].split('@')[-1]}"
    if labels and labels.get("path"):
        return f"looked for {labels['path']}"
    return f"looked in {labels_dir}"
