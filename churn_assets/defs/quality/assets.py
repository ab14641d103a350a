"""Validation: clean_customers, quarantined_customers and the resolved data_contract."""


import dagster as dg
import pandas as pd

from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import column_schema, number, preview
from churn_assets.model.contract import DataContract

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.multi_asset(
    group_name="quality",
    outs={
        "data_contract": dg.AssetOut(description="Resolved schema: every column's role, rules and why "
                                     "(drives validation, features and the serving schema).", kinds={"json"},
                                     code_version=CODE_VERSION),
        "clean_customers": dg.AssetOut(description="Typed, de-duplicated, pandera-validated customers.",
                                       kinds={"pandas", "pandera"}, code_version=CODE_VERSION),
        "quarantined_customers": dg.AssetOut(description="Every rejected raw row with its reason(s).",
                                             kinds={"pandas"}, code_version=CODE_VERSION),
    },
)
def validated_customers(context: dg.AssetExecutionContext, raw_customers: pd.DataFrame,
                        dataset: DatasetResource):
    release_memory()  # the previous step's data is garbage now (core/training/memory.py)
    from churn_assets.core.data.contract_inference import positive_share_warning, resolve_contract, source_name
    from churn_assets.core.data.validation import validate

    with data_failures(source_name(dataset.spec())):  # a non-binary target, a typed column of the wrong type: one clear message
        contract = resolve_contract(dataset.spec(), raw_customers)
        result = validate(raw_customers, contract)
    clean, bad = result.clean, result.quarantined
    assert len(clean) + len(bad) == result.raw_rows, "row accounting broken"
    roles = pd.DataFrame([{"column": c.name, "role": c.role, "why": c.reason, "missing": f"{c.missing_share:.1%}",
                           "min": c.min, "max": c.max} for c in contract.columns])
    context.log.info(f"{len(clean):,} clean, {len(bad):,} quarantined "
                     f"({result.duplicate_rows} duplicates) of {result.raw_rows:,}")
    warnings = [w for w in [positive_share_warning(clean[contract.target_column])] if w]
    for w in warnings:
        context.log.warning(w)
    yield dg.Output(contract, output_name="data_contract", metadata={
        "dataset": contract.dataset,
        "as_of": contract.as_of or "n/a (no date columns)",
        "roles": dg.MetadataValue.md(roles.to_markdown(index=False)),
        "missing_share": dg.MetadataValue.json({c.name: c.missing_share for c in contract.columns}),
        "null_values": dg.MetadataValue.json(contract.null_values),
        "warnings": dg.MetadataValue.json(warnings),
        "contract": dg.MetadataValue.json(_json(contract)),
    })
    yield dg.Output(clean, output_name="clean_customers", metadata={
        "dagster/row_count": len(clean),
        "raw_rows": result.raw_rows,
        "quarantined_rows": len(bad),
        "duplicate_rows": result.duplicate_rows,
        "bad_share": number(result.bad_share),
        "churn_rate": number(clean[contract.target_column].mean()) if len(clean) else 0.0,
        "warnings": dg.MetadataValue.json(warnings),
        "dagster/column_schema": column_schema(clean),
        "preview": preview(clean, hide=(contract.id_column,)),
    })
    reasons = pd.DataFrame(sorted(result.reasons.items(), key=lambda kv: -kv[1]), columns=["reason", "rows"])
    yield dg.Output(bad, output_name="quarantined_customers", metadata={
        "dagster/row_count": len(bad),
        "reasons": dg.MetadataValue.md(reasons.to_markdown(index=False) if len(reasons) else "none"),
        "examples": preview(bad[["_row", "_reason"]], 10) if len(bad) else "none",
    })


def _json(contract: DataContract) -> dict:
    import json

    return json.loads(contract.to_json())
