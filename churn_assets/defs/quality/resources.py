
import dagster as dg


class QualityPolicy(dg.ConfigurableResource):
    """How much bad data a run tolerates before the blocking check stops it."""

    max_bad_share: float = 0.05
