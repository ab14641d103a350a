"""The predictions table: written by scoring (churn_predictions), read by monitoring (drift scores,
realized performance)."""

import dagster as dg


class PredictionsStore(dg.ConfigurableResource):
    predictions_url: str = ""  # SQLAlchemy URL (CHURN_PREDICTIONS_URL)

    def safe_url(self) -> str:
        """The URL without its password, for metadata and messages."""
        from churn_assets.defs.common.services import safe_url

        return safe_url(self.predictions_url)

class PredictionLogStore(dg.ConfigurableResource):
    """The Bento's prediction log: every served answer with its arm (read by live monitoring and the readout)."""

    prediction_log_url: str = ""  # SQLAlchemy URL (CHURN_PREDICTION_LOG_URL)
