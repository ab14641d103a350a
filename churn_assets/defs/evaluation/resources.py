"""What a tuned model must reach on the test split (CHURN_MIN_ROC_AUC)."""

import dagster as dg


class EvaluationPolicy(dg.ConfigurableResource):
    """``min_roc_auc``: the `roc_auc_above_floor` check fails (red) below it. It does not block the run:
    the registry gate, not this floor, decides what serves (a first model on hard data may still be
    the best there is); the red check is what a person must look at."""

    min_roc_auc: float = 0.6
