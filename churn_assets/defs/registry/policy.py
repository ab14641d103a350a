
import dagster as dg


class PromotionPolicy(dg.ConfigurableResource):
    """A challenger becomes champion only when ``metric`` beats the champion's by more than ``margin``."""

    metric: str = "roc_auc"
    margin: float = 0.0
