"""Where labelled days are kept and which of them a retrain uses (the training window policy)."""

import dagster as dg


class LabelledStore(dg.ConfigurableResource):
    root: str  # CHURN_LABELLED_DIR: <root>/<dataset>/<day>.parquet
    window_days: int = 90
    holdout_days: int = 1

    def policy(self):
        from churn_assets.core.data.window import WindowPolicy

        return WindowPolicy(days=self.window_days, holdout_days=self.holdout_days)
