"""The Dagster code location: everything under ``churn_assets/defs`` is discovered by domain."""

from pathlib import Path

import dagster as dg

from churn_assets.core.settings import apply_defaults

# The embedded default (SQLite instance, local MLflow, synthetic data) needs no configuration:
# unset environment variables get project-local values before any resource reads them.
apply_defaults()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
