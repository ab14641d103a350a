"""Blocking check: a run stops when too much of the raw data was bad."""


import dagster as dg
import pandas as pd

from churn_assets.defs.common.metadata import counts, number
from churn_assets.defs.quality.resources import QualityPolicy


@dg.asset_check(asset="clean_customers", blocking=True,
                additional_ins={"quarantined_customers": dg.AssetIn()},
                description="Fails (and blocks downstream) when the quarantined share exceeds max_bad_share.")
def bad_row_share_within_limit(clean_customers: pd.DataFrame, quarantined_customers: pd.DataFrame,
                               quality: QualityPolicy) -> dg.AssetCheckResult:
    total = len(clean_customers) + len(quarantined_customers)
    share = len(quarantined_customers) / total if total else 1.0
    by_column = (quarantined_customers["_reason"].str.split("; ").explode().str.split(":").str[0]
                 .value_counts().to_dict()) if len(quarantined_customers) else {}
    examples = quarantined_customers[["_row", "_reason"]].head(5).to_dict("records")
    passed = share <= quality.max_bad_share
    text = (f"{len(quarantined_customers):,} of {total:,} rows ({share:.2%}) quarantined; limit "
            f"{quality.max_bad_share:.2%}. By column: {by_column}. Examples: {examples}")
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=text if not passed else f"{share:.2%} quarantined (limit {quality.max_bad_share:.2%})",
        metadata={"bad_share": number(share), "limit": number(quality.max_bad_share),
                  "quarantined_rows": len(quarantined_customers),
                  "by_column": counts(by_column, "column", "rows") if by_column else "none"},
    )


@dg.asset_check(asset="clean_customers", additional_ins={"data_contract": dg.AssetIn()},
                description="Both classes present, churn rate within 0.5%-95%.")
def target_is_learnable(clean_customers: pd.DataFrame, data_contract) -> dg.AssetCheckResult:
    rate = float(clean_customers[data_contract.target_column].mean()) if len(clean_customers) else 0.0
    return dg.AssetCheckResult(passed=0.005 <= rate <= 0.95, metadata={"churn_rate": number(rate)},
                               description=f"churn rate {rate:.2%}")
