"""Daily scoring of the new partition (stopped by default: turn it on in the UI or with `dg`)."""

import dagster as dg

from churn_assets.defs.common.build import Build


def build(b: Build, churn_scoring) -> list[dg.ScheduleDefinition]:
    return [dg.build_schedule_from_partitioned_job(churn_scoring, hour_of_day=b.settings.scoring_hour,
                                                   default_status=dg.DefaultScheduleStatus.STOPPED)]
