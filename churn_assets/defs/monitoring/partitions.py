"""The day partitions shared by scoring, outcomes and the training window, and the freshness
expected of the daily scoring."""

import datetime as dt

import dagster as dg

from churn_assets.model.settings import Settings

_settings = Settings()

# Daily batches of current customers; the synthetic default starts the day after its as-of date.
daily = dg.DailyPartitionsDefinition(start_date=_settings.scoring_start)

# The daily schedule scores at CHURN_SCORING_HOUR; by two hours later there must be a scoring run of
# the last 24 hours, or the asset shows as stale in the UI (and in freshness alerts). The policy is
# per asset, not per partition: a backfill of an old day counts as fresh (Dagster 1.13 semantics).
SCORING_DEADLINE_HOURS = 2
scoring_freshness = dg.FreshnessPolicy.cron(
    deadline_cron=f"0 {(_settings.scoring_hour + SCORING_DEADLINE_HOURS) % 24} * * *",
    lower_bound_delta=dt.timedelta(hours=24))

# Live traffic is partitioned by UTC day like batch scoring, but today's partition exists already
# (end_offset=1): it fills as requests arrive and can be reported on before the day is over.
live_daily = dg.DailyPartitionsDefinition(start_date=daily.start.strftime("%Y-%m-%d"), end_offset=1)
