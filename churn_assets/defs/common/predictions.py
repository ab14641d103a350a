"""The predictions table: written by scoring (churn_predictions), read by monitoring (drift scores,
realized performance)."""

import dagster as dg


class PredictionsStore(dg.ConfigurableResource):
    predictions_url: str = ""  # SQLAlchemy URL (CHURN_PREDICTIONS_URL)

    def safe_url(self) -> str:
        """The URL without its password, for metadata and messages."""
        import sqlalchemy as sa

        try:
            return sa.make_url(self.predictions_url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001  (any parse error: show the part after the credentials)
            return self.predictions_url.split("@")[-1]


class PredictionLogStore(dg.ConfigurableResource):
    """The Bento's prediction log: every served answer with its arm (read by live monitoring and the readout)."""

    prediction_log_url: str = ""  # SQLAlchemy URL (CHURN_PREDICTION_LOG_URL)
