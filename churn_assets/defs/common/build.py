"""What the code location is built from.

``churn_assets/definitions.py`` reads the settings once and builds every domain's definitions with
one ``Build``. Definitions whose arguments depend on a setting are made by a ``build(b)`` function
in their module (an asset factory); the rest stay module-level. Nothing under ``defs/`` reads the
environment: everything comes from here, or from resources built from the same settings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from churn_assets.model.settings import ServingSettings, Settings

# The daily schedule scores at CHURN_SCORING_HOUR; by two hours later there must be a scoring run of
# the last 24 hours, or the asset shows as stale in the UI (and in freshness alerts). The policy is
# per asset, not per partition: a backfill of an old day counts as fresh (Dagster 1.13 semantics).
SCORING_DEADLINE_HOURS = 2


@dataclass(frozen=True)
class Build:
    settings: Settings
    serving: ServingSettings

    @cached_property
    def daily(self) -> dg.DailyPartitionsDefinition:
        """Daily batches of current customers, shared by scoring, outcomes and the training window."""
        return dg.DailyPartitionsDefinition(start_date=self.settings.scoring_start)

    @cached_property
    def live_daily(self) -> dg.DailyPartitionsDefinition:
        """Live traffic, by UTC day like batch scoring; today's partition exists already (end_offset=1):
        it fills as requests arrive and can be reported on before the day is over."""
        return dg.DailyPartitionsDefinition(start_date=self.daily.start.strftime("%Y-%m-%d"), end_offset=1)

    @cached_property
    def scoring_freshness(self) -> dg.FreshnessPolicy:
        hour = (self.settings.scoring_hour + SCORING_DEADLINE_HOURS) % 24
        return dg.FreshnessPolicy.cron(deadline_cron=f"0 {hour} * * *", lower_bound_delta=dt.timedelta(hours=24))

    @cached_property
    def retry(self) -> dg.RetryPolicy:
        """Steps that talk to a service retry with exponential backoff (defs/common/services.py)."""
        from churn_assets.defs.common.services import service_retry

        return service_retry(self.settings.service_retries, self.settings.service_retry_delay_s)
