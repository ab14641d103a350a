"""How the loop judges a scored day: drift and realized performance."""

import dagster as dg


class MonitoringPolicy(dg.ConfigurableResource):
    f1_tolerance: float = 0.10  # degraded when realized F1 falls more than this share below training
    auc_tolerance: float = 0.03  # ... or realized ROC-AUC more than this below the test ROC-AUC
    drift_share: float = 0.3  # share of drifted feature columns that flags data drift
    drift_sample_rows: int = 10_000
