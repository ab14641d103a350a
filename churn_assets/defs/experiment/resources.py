"""How experiment_readout compares champion and challenger, and whether it promotes."""

import dagster as dg


class ExperimentPolicy(dg.ConfigurableResource):
    metric: str = "roc_auc"
    confidence: float = 0.95
    resamples: int = 1_000
    min_outcomes: int = 200
    seed: int = 42
    lookback_days: int = 14
    promotion_basis: str = "time_holdout"  # "readout": a `better` readout promotes the challenger
    first_day: str = "2025-07-01"  # the first day of the live partitions (CHURN_SCORING_START)

    def config(self):
        from churn_assets.core.experiment.readout import ReadoutConfig

        return ReadoutConfig(metric=self.metric, confidence=self.confidence, resamples=self.resamples,
                             min_outcomes=self.min_outcomes, seed=self.seed)
