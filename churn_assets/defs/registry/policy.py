
import dagster as dg


class PromotionPolicy(dg.ConfigurableResource):
    """A challenger becomes champion only when ``metric`` beats the champion's by more than ``margin``."""

    metric: str = "roc_auc"
    # ROC-AUC noise between two fits on the same data is ~0.001: a smaller lead is not "better".
    margin: float = 0.002
    # "time_holdout": this gate promotes; "readout": it only registers a challenger (a first model is
    # still promoted) and experiment_readout promotes it when live outcomes show it better.
    basis: str = "time_holdout"


class CardPolicy(dg.ConfigurableResource):
    """The model card's intervals: ``bootstrap`` seeded resamples of the test rows (0: none)."""

    bootstrap: int = 200
    seed: int = 42
