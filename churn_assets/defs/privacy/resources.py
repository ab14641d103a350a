"""How long personal data is kept (core/privacy/purge.py), and where forget looks (core/privacy/forget.py)."""

import dagster as dg


class PrivacyPolicy(dg.ConfigurableResource):
    keep_prediction_log_days: int = 180  # served requests (the prediction log)
    keep_scoring_batches_days: int = 180  # validated daily scoring batches (Parquet)
    scoring_batches_dir: str = ""  # where they are (<dir>/<dataset>/<day>.parquet)
    retention_dir: str = ""  # the retention lists' CSV files (forget rewrites them too)
