"""customer_features: the engineered features, computed against the contract's as-of date."""


import dagster as dg
import pandas as pd

from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.metadata import preview
from churn_assets.model.contract import DataContract

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="features", kinds={"pandas", "scikit-learn"}, code_version=CODE_VERSION,
          description="Clean customers plus engineered features (recency, frequency, monetary, engagement, "
                      "flags, crosses). The same FeatureBuilder is a step of the served Pipeline; there it "
                      "is refitted on the training split only.")
def customer_features(context: dg.AssetExecutionContext, training_data: pd.DataFrame,
                      data_contract: DataContract) -> dg.Output[pd.DataFrame]:
    release_memory()  # the previous step's data is garbage now (core/training/memory.py)
    from churn_assets.core.training.modeling import feature_steps

    builder, _ = feature_steps(data_contract)
    feats = builder.fit(training_data).transform(training_data)
    engineered = [c for c in feats.columns if c not in training_data.columns]
    table = pd.concat([training_data, feats[engineered]], axis=1, copy=False)  # no third copy at 10M rows
    del feats
    stats = table[builder.numeric_features_].describe().T[["mean", "std", "min", "max"]].round(3)
    context.log.info(f"{len(engineered)} engineered features as of {data_contract.as_of or 'n/a'}")
    return dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "as_of": data_contract.as_of or "n/a",
        "n_features": len(builder.get_feature_names_out()),
        "engineered": dg.MetadataValue.json(engineered),
        "feature_stats": dg.MetadataValue.md(stats.to_markdown()),
        "preview": preview(table[engineered]),
    })
