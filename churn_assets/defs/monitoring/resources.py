"""Where daily batches come from and how the loop judges them."""

import dagster as dg


class ScoringSource(dg.ConfigurableResource):
    """Where daily batches come from. With the synthetic default, batches from ``shift_from`` on
    carry the documented ``shift`` (see core/data/synthetic.py SHIFTS) so the loop can be shown."""

    rows: int = 5_000
    seed: int = 42
    shift: str = "engagement_drop"
    shift_from: str = ""  # ISO date; empty: no shift
    intensity: float = 1.0
    labels_dir: str = ""
    predictions_url: str = ""
    f1_tolerance: float = 0.10  # degraded when realized F1 falls more than this share below training
    auc_tolerance: float = 0.03  # ... or realized ROC-AUC more than this below the test ROC-AUC
    drift_share: float = 0.3  # share of drifted feature columns that flags data drift
    drift_sample_rows: int = 10_000
    reasons: int = 3  # top reasons per customer in the predictions table (model/explain.py); 0: none
    reasons_rows: int = 100_000  # most customers per partition given reasons (the riskiest at-risk ones)
    chunk_rows: int = 200_000  # rows per chunk read, validated, scored and written
    batches_dir: str = ""  # validated batches as Parquet (default: a temporary folder)

    def batch_path(self, dataset: str, day: str):
        import tempfile
        from pathlib import Path

        return Path(self.batches_dir or Path(tempfile.gettempdir(), "churn_scoring_batches"), dataset, f"{day}.parquet")

    def settings(self):
        from churn_assets.core.data.batches import BatchSettings

        return BatchSettings(rows=self.rows, seed=self.seed, shift=self.shift, shift_from=self.shift_from,
                             intensity=self.intensity, chunk_rows=self.chunk_rows)


class ExperimentPolicy(dg.ConfigurableResource):
    """How experiment_readout compares champion and challenger, and whether it promotes."""

    prediction_log_url: str = ""  # the Bento's prediction log (CHURN_PREDICTION_LOG_URL)
    metric: str = "roc_auc"
    confidence: float = 0.95
    resamples: int = 1_000
    min_outcomes: int = 200
    seed: int = 42
    lookback_days: int = 14
    promotion_basis: str = "time_holdout"  # "readout": a `better` readout promotes the challenger

    def config(self):
        from churn_assets.core.experiment.readout import ReadoutConfig

        return ReadoutConfig(metric=self.metric, confidence=self.confidence, resamples=self.resamples,
                             min_outcomes=self.min_outcomes, seed=self.seed)
