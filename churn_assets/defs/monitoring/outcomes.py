"""labelled_outcomes: a scored day joined with the outcomes that arrived for it (training data of retrains)."""

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.metadata import counts, partitions_note, preview
from churn_assets.defs.common.mlflow import CHAMPION_DEP, MlflowResource
from churn_assets.defs.common.services import explains_outages

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="monitoring", kinds={"pandas", "pandera", "parquet"},
              deps=["scoring_batch", CHAMPION_DEP],
              code_version=CODE_VERSION,
              description="The day's scored customers joined with the outcomes that arrived for them (spec `labels`: "
                          "a file template or SQL; the generator on the synthetic default), validated against the "
                          "scoring model's contract like any other data. Stored as Parquet; the training window reads it."
                          + partitions_note(b.settings.scoring_start, "a scored day joined with its outcomes",
                                            "days before your data begins never get outcomes"),
              retry_policy=b.retry)
    @explains_outages
    def labelled_outcomes(context: dg.AssetExecutionContext, dataset: DatasetResource,
                          mlflow: MlflowResource, labelled: LabelledStore) -> dg.MaterializeResult:
        from churn_assets.core.data import window
        from churn_assets.core.data.batches import iter_batch, load_labels
        from churn_assets.core.monitoring import outcomes

        day = context.partition_key
        spec = dataset.spec()
        contract = mlflow.champion(context).contract
        labels = load_labels(spec.labels, day, dataset.batches(), dataset.labels_dir)
        if labels is None:
            raise dg.Failure(f"no outcomes for {day} yet ({_where(spec.labels, dataset.labels_dir)}); the outcomes "
                             "sensor materializes this partition when they arrive")
        path = window.partition_path(labelled.root, contract.dataset, day)
        with data_failures(f"outcomes of {day}"):  # the day in chunks: memory bounded at ten million customers
            res = outcomes.join_to_parquet(iter_batch(spec.scoring, day, dataset.batches()), labels, contract, path, day)
        rate = res.positives / res.rows if res.rows else 0.0
        context.log.info(f"{day}: {res.rows:,} labelled customers ({res.quarantined} quarantined, "
                         f"{res.awaiting:,} awaiting an outcome), churn rate {rate:.1%}")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": res.rows,
            "batch_rows": res.batch_rows,
            "awaiting_outcome": res.awaiting,
            "unmatched_outcomes": res.unmatched,
            "duplicate_outcomes": res.duplicate_outcomes,
            "quarantined_rows": res.quarantined,
            "quarantine_reasons": counts(dict(res.reasons), "reason") if res.reasons else "none",
            # Unrounded: test_spec_outcomes compares it with the outcomes' mean to 1e-6.
            "churn_rate": rate,
            "contract": contract.dataset,
            "path": dg.MetadataValue.path(str(path)),
            "preview": preview(res.head, hide=(contract.id_column,)),
        })
    return [labelled_outcomes]



def _where(labels: dict | None, labels_dir: str) -> str:
    if labels and labels.get("url"):
        return f"query on {labels['url'].split('@')[-1]}"
    if labels and labels.get("path"):
        return f"looked for {labels['path']}"
    return f"looked in {labels_dir}"
