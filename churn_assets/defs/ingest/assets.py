"""raw_customers: the configured source, as it arrived."""


import dagster as dg
import pandas as pd

from churn_assets.core.data.contract_inference import source_name
from churn_assets.core.data.sources import load_raw
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import column_schema, preview, table
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.model.pseudonym import IdHashing

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="ingest", kinds={"pandas"}, code_version=CODE_VERSION,
          check_specs=[dg.AssetCheckSpec(
              "personal_columns_declared", asset="raw_customers",
              description="No column looks personal (a name, an e-mail, a phone number...) unless the spec says what "
                          "it is: `pii_columns` (dropped as it is read) or `not_pii` (kept). WARN otherwise.")],
          description="Customers from the configured source (synthetic generator, CSV/Parquet file or SQL table), "
                      "without the spec's personal columns (`pii_columns`: dropped as the source is read, stored "
                      "nowhere).")
def raw_customers(context: dg.AssetExecutionContext, dataset: DatasetResource, predictions_store: PredictionsStore,
                  id_hashing: dg.ResourceParam[IdHashing]):
    from churn_assets.core.data.personal import drop_personal, guess_personal
    from churn_assets.core.privacy.forget import drop_suppressed

    with data_failures():  # an empty file, duplicate columns, a bad spec: one clear message
        spec = dataset.spec()
        df = load_raw(spec)
        df, dropped = drop_personal(df, spec.pii_columns, where=source_name(spec), strict=True)
    # Forgotten customers stay forgotten: a source that still holds them does not bring them back.
    df, forgotten = drop_suppressed(df, spec.id_column, predictions_store.predictions_url, id_hashing.ring)
    if forgotten:
        context.log.info(f"{forgotten:,} forgotten customer(s) dropped (the suppression list of churn_forget)")
    dialect = df.attrs.get("csv_dialect")
    src = spec.source
    where = {"synthetic": f"synthetic (n={src.rows}, seed={src.seed})", "file": src.path,
             "sql": f"{src.url} / {src.table or 'query'}"}[src.kind]
    context.log.info(f"loaded {len(df):,} rows x {df.shape[1]} columns from {where}"
                     + (f" ({dialect})" if dialect else "") + (f"; personal columns dropped: {dropped}" if dropped else ""))
    guessed = guess_personal(df, skip=(spec.id_column, spec.target_column, *spec.not_pii))
    likely = pd.DataFrame([{"column": c, "why": why} for c, why in guessed.items()], columns=["column", "why"])
    check = dg.AssetCheckResult(
        check_name="personal_columns_declared", passed=not guessed, severity=dg.AssetCheckSeverity.WARN,
        description=("no undeclared column looks personal" if not guessed else
                     f"{len(guessed)} column(s) look personal: {', '.join(guessed)}. Add them to the spec's "
                     "`pii_columns` (dropped as read) or `not_pii` (kept)"),
        metadata={"likely_personal": dg.MetadataValue.json(sorted(guessed))})
    yield dg.Output(df, metadata={
        "dagster/row_count": len(df),
        "dataset": spec.name,
        "source": where,
        "personal_columns_dropped": dg.MetadataValue.json(dropped),
        "forgotten_customers_dropped": forgotten,
        "likely_personal": table(likely) if len(likely) else "none",
        **({"csv_dialect": dg.MetadataValue.json(dialect)} if dialect else {}),
        "dagster/column_schema": column_schema(df),
        "preview": preview(df, hide=(spec.id_column,)),
    })
    yield check
