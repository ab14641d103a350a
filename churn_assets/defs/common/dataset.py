"""Which data set the graph runs on: the synthetic default or a user's spec (CHURN_DATASET)."""

from pathlib import Path

import dagster as dg

from churn_assets.core.data.spec import DatasetSpec, load_spec, synthetic_spec


class DatasetResource(dg.ConfigurableResource):
    """``spec_path`` empty means the synthetic default of ``synthetic_rows`` customers."""

    spec_path: str = ""
    synthetic_rows: int = 100_000
    seed: int = 42

    def spec(self) -> DatasetSpec:
        if self.spec_path:
            return load_spec(self.spec_path)
        return synthetic_spec(rows=self.synthetic_rows, seed=self.seed)


def dataset_name(spec_path: str) -> str:
    """The spec's `name` (its file stem when unset) without validating the spec: the code location
    must load even while a spec is broken; the run that reads it reports the error."""
    if not spec_path:
        return "synthetic"
    import yaml

    try:
        raw = yaml.safe_load(Path(spec_path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        raw = {}
    return str(raw.get("name") or Path(spec_path).stem) if isinstance(raw, dict) else Path(spec_path).stem
