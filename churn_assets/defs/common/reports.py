"""Where evaluation plots and drift reports are written (CHURN_REPORTS_DIR)."""

from pathlib import Path

import dagster as dg


class Reports(dg.ConfigurableResource):
    root: str

    def folder(self, *parts: str) -> Path:
        path = Path(self.root, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
