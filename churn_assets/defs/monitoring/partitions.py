"""The day partitions shared by scoring, outcomes and the training window."""

import dagster as dg

from churn_assets.core.config import Settings

# Daily batches of current customers; the synthetic default starts the day after its as-of date.
daily = dg.DailyPartitionsDefinition(start_date=Settings().scoring_start)
