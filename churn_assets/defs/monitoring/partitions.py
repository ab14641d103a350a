import os

import dagster as dg

# Daily batches of current customers; the synthetic default starts the day after its as-of date.
daily = dg.DailyPartitionsDefinition(start_date=os.environ.get("CHURN_SCORING_START", "2025-07-01"))
