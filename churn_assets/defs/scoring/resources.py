"""How a day is scored: reasons per customer, and where validated batches are kept."""

import dagster as dg


class ScoringPolicy(dg.ConfigurableResource):
    reasons: int = 3  # top reasons per customer in the predictions table (model/explain.py); 0: none
    reasons_rows: int = 100_000  # most customers per partition given reasons (the riskiest at-risk ones)
    batches_dir: str = ""  # validated batches as Parquet (default: a temporary folder)

    def batch_path(self, dataset: str, day: str):
        import tempfile
        from pathlib import Path

        return Path(self.batches_dir or Path(tempfile.gettempdir(), "churn_scoring_batches"), dataset, f"{day}.parquet")
