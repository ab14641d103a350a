"""The Dagster code location: everything under ``churn_assets/defs`` is discovered by domain.

The embedded default (SQLite instance, local MLflow, synthetic data) needs no configuration:
every setting is read once, with its default, by ``churn_assets.model.settings.Settings``.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
