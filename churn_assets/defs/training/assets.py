"""training_splits: stratified, deterministic 70/15/15, disjoint by customer."""


import dagster as dg
import pandas as pd

from churn_assets.core.training.asset_values import Splits
from churn_assets.core.training.memory import release_memory
from churn_assets.defs.training.config import SplitConfig
from churn_assets.model.contract import DataContract

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="training", kinds={"scikit-learn"}, code_version=CODE_VERSION,
          description="Train/validation/test splits, stratified on the target; no customer in two splits.")
def training_splits(context: dg.AssetExecutionContext, config: SplitConfig,
                    customer_features: pd.DataFrame, data_contract: DataContract) -> dg.Output[Splits]:
    release_memory()  # the previous step's data is garbage now (core/training/memory.py)
    from churn_assets.core.training.splits import split

    s = split(customer_features, data_contract.target_column, data_contract.id_column, seed=config.seed,
              val_share=config.val_share, test_share=config.test_share)
    ids = [set(part[data_contract.id_column]) for part in (s.train, s.val, s.test)]
    overlap = len(ids[0] & ids[1]) + len(ids[0] & ids[2]) + len(ids[1] & ids[2])
    if overlap:
        raise dg.Failure(f"{overlap} customers appear in two splits")
    rates = {name: float(part[data_contract.target_column].mean())
             for name, part in (("train", s.train), ("val", s.val), ("test", s.test))}
    return dg.Output(s, metadata={
        **{f"{k}_rows": v for k, v in s.sizes().items()},
        **{f"{k}_churn_rate": v for k, v in rates.items()},
        "overlapping_customers": overlap,
        "seed": config.seed,
    })
