"""raw_customers: the configured source, as it arrived."""


import dagster as dg
import pandas as pd

from churn_assets.core.sources import load_raw
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import column_schema, preview
from churn_assets.defs.common.mlflow import MlflowResource

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="ingest", kinds={"pandas"}, code_version=CODE_VERSION,
          description="Customers from the configured source (synthetic generator, CSV/Parquet file or SQL table).")
def raw_customers(context: dg.AssetExecutionContext, dataset: DatasetResource,
                  mlflow: MlflowResource) -> dg.Output[pd.DataFrame]:
    champion = mlflow.pinned_champion(context)  # the run's champion, pinned once at its start
    spec = dataset.spec()
    df = load_raw(spec)
    src = spec.source
    where = {"synthetic": f"synthetic (n={src.rows}, seed={src.seed})", "file": src.path,
             "sql": f"{src.url} / {src.table or 'query'}"}[src.kind]
    context.log.info(f"loaded {len(df):,} rows x {df.shape[1]} columns from {where}")
    return dg.Output(df, metadata={
        "dagster/row_count": len(df),
        "dataset": spec.name,
        "champion_at_start": champion or "none",
        "source": where,
        "dagster/column_schema": column_schema(df),
        "preview": preview(df),
    })
