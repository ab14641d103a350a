"""What a tuned model must reach on the test split (CHURN_MIN_ROC_AUC), how model_evaluation
segments the test split and how the model card computes its intervals."""

import dagster as dg


class EvaluationPolicy(dg.ConfigurableResource):
    """``min_roc_auc``: the `roc_auc_above_floor` check fails (red) below it. It does not block the run:
    the registry gate, not this floor, decides what serves (a first model on hard data may still be
    the best there is); the red check is what a person must look at."""

    min_roc_auc: float = 0.6
    segment_numeric: str = ""  # comma-separated extra numeric columns bucketed by quartile
    bootstrap: int = 200  # resamples behind the model card's confidence intervals (0: none)
    seed: int = 42

    def extra_numeric(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.segment_numeric.split(",") if c.strip())
