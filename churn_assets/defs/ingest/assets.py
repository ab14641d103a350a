"""raw_customers: the configured source, as it arrived."""


import dagster as dg
import pandas as pd

from churn_assets.core.data.sources import load_raw
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import column_schema, preview

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="ingest", kinds={"pandas"}, code_version=CODE_VERSION,
          description="Customers from the configured source (synthetic generator, CSV/Parquet file or SQL table).")
def raw_customers(context: dg.AssetExecutionContext, dataset: DatasetResource) -> dg.Output[pd.DataFrame]:
    with data_failures():  # an empty file, duplicate columns, a bad spec: one clear message
        spec = dataset.spec()
        df = load_raw(spec)
    dialect = df.attrs.get("csv_dialect")
    src = spec.source
    where = {"synthetic": f"synthetic (n={src.rows}, seed={src.seed})", "file": src.path,
             "sql": f"{src.url} / {src.table or 'query'}"}[src.kind]
    context.log.info(f"loaded {len(df):,} rows x {df.shape[1]} columns from {where}"
                     + (f" ({dialect})" if dialect else ""))
    return dg.Output(df, metadata={
        "dagster/row_count": len(df),
        "dataset": spec.name,
        "source": where,
        **({"csv_dialect": dg.MetadataValue.json(dialect)} if dialect else {}),
        "dagster/column_schema": column_schema(df),
        "preview": preview(df),
    })
