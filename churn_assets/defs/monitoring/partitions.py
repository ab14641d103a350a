"""The day partitions shared by scoring, outcomes and the training window."""

import dagster as dg

from churn_assets.core.config import Settings

# Daily batches of current customers; the synthetic default starts the day after its as-of date.
daily = dg.DailyPartitionsDefinition(start_date=Settings().scoring_start)

# Live traffic is partitioned by UTC day like batch scoring, but today's partition exists already
# (end_offset=1): it fills as requests arrive and can be reported on before the day is over.
live_daily = dg.DailyPartitionsDefinition(start_date=daily.start.strftime("%Y-%m-%d"), end_offset=1)
