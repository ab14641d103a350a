"""churn_forget: forget customers everywhere the platform keeps them (core/privacy/forget.py).

`churn-assets forget --customer ID` runs it with the ids hashed (pseudonyms), so no clear id is stored
with the run; from the Dagster UI, give pseudonyms too (`churn-assets forget --pseudonym-of ID` prints
one) or clear ids (then the run's configuration holds them).
"""

from pathlib import Path

import dagster as dg

from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.predictions import PredictionLogStore, PredictionsStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.privacy.resources import PrivacyPolicy
from churn_assets.model.pseudonym import IdHashing


class ForgetConfig(dg.Config):
    customers: list[str]  # pseudonyms (p:...) or customer ids


@dg.op(description="Deletes the customers' rows from every store (databases, Parquet/CSV/text files, Dagster's "
                   "asset values), puts them on the suppression list that ingestion applies, and writes an "
                   "audit row with the stores touched, the rows removed and the models trained on them.")
def forget_customers(context: dg.OpExecutionContext, config: ForgetConfig, dataset: DatasetResource,
                     predictions_store: PredictionsStore, prediction_log: PredictionLogStore, privacy: PrivacyPolicy,
                     labelled: LabelledStore, reports: Reports, mlflow: MlflowResource,
                     id_hashing: dg.ResourceParam[IdHashing]) -> dg.Output[dict]:
    from churn_assets.core.privacy.forget import Stores, forget, registered_models_trained_on

    spec = dataset.spec()
    folders = [privacy.scoring_batches_dir, labelled.root, dataset.labels_dir, privacy.retention_dir, reports.root]
    if mlflow.artifact_root and "://" not in mlflow.artifact_root:
        folders.append(mlflow.artifact_root)  # a local artifact store; a server's keeps no customer rows
    stores = Stores(spec.id_column, [predictions_store.predictions_url, prediction_log.prediction_log_url],
                    [Path(f) for f in folders if f], Path(context.instance.storage_directory()))
    try:
        done = forget(config.customers, stores, id_hashing.ring(),
                      registered_models_trained_on(mlflow.client(), mlflow.model_name), run_id=context.run_id)
    except ValueError as err:
        raise dg.Failure(str(err), allow_retries=False) from err
    context.log.info(f"forgot {done.customers} customer(s): {done.rows_removed:,} rows in {len(done.stores)} "
                     f"store(s); {done.newly_suppressed} newly suppressed; trained on them: {done.models or 'no model'}")
    return dg.Output({"customers": done.customers, "rows_removed": done.rows_removed, "stores": done.stores,
                      "models": done.models}, metadata={
        "customers": done.customers,
        "rows_removed": done.rows_removed,
        "stores": dg.MetadataValue.md("\n".join(f"| {k} | {v:,} |" for k, v in done.stores.items()).join(
            ("| store | rows removed |\n|---|---|\n", "")) if done.stores else "nothing held them"),
        "files_rewritten": len(done.files),
        "newly_suppressed": done.newly_suppressed,
        "models_trained_on_them": dg.MetadataValue.json(done.models),
        "note": "the next retrain is the first without them" if done.models else "no registered model learned from them",
    })


@dg.job(description="Forget customers everywhere (the right to erasure): give pseudonyms or ids in the config; "
                    "`churn-assets forget --customer ID` runs it with the ids hashed.")
def churn_forget():
    forget_customers()
