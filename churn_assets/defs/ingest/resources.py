"""Which data set the graph runs on: the synthetic default or a user's spec (CHURN_DATASET)."""


import dagster as dg

from churn_assets.core.spec import DatasetSpec, load_spec, synthetic_spec


class DatasetResource(dg.ConfigurableResource):
    """``spec_path`` empty means the synthetic default of ``synthetic_rows`` customers."""

    spec_path: str = ""
    synthetic_rows: int = 100_000
    seed: int = 42

    def spec(self) -> DatasetSpec:
        if self.spec_path:
            return load_spec(self.spec_path)
        return synthetic_spec(rows=self.synthetic_rows, seed=self.seed)
