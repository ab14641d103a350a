"""Which data set the graph runs on (the synthetic default or a user's spec, CHURN_DATASET), and how its
daily batches and outcomes are read: the one source every domain (training, scoring, monitoring,
experiment) reads customers from."""

from pathlib import Path

import dagster as dg

from churn_assets.core.data.spec import DatasetSpec, load_spec, synthetic_spec


class DatasetResource(dg.ConfigurableResource):
    """``spec_path`` empty means the synthetic default of ``synthetic_rows`` customers. With the synthetic
    default, daily batches have ``batch_rows`` customers, and those from ``shift_from`` on carry the
    documented ``shift`` (see core/data/synthetic.py SHIFTS) so the loop can be shown; their outcomes
    arrive in ``labels_dir``."""

    spec_path: str = ""
    synthetic_rows: int = 100_000
    seed: int = 42
    batch_rows: int = 5_000
    shift: str = "engagement_drop"
    shift_from: str = ""  # ISO date; empty: no shift
    shift_intensity: float = 1.0
    labels_dir: str = ""
    chunk_rows: int = 200_000  # rows per chunk read, validated, scored and written

    def spec(self) -> DatasetSpec:
        if self.spec_path:
            return load_spec(self.spec_path)
        return synthetic_spec(rows=self.synthetic_rows, seed=self.seed)

    def batches(self):
        """How a day's batch is read (core/data/batches.py)."""
        from churn_assets.core.data.batches import BatchSettings

        return BatchSettings(rows=self.batch_rows, seed=self.seed, shift=self.shift, shift_from=self.shift_from,
                             intensity=self.shift_intensity, chunk_rows=self.chunk_rows,
                             personal=tuple(self.spec().pii_columns))

    def shifted(self, day: str) -> bool:
        """Whether the synthetic batch of ``day`` carries the shift."""
        return bool(self.shift_from) and day >= self.shift_from and self.shift != "none"


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
