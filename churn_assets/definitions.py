"""The Dagster code location: the one place that reads the settings.

``defs()`` reads ``Settings`` and ``ServingSettings`` once and builds everything from them:
module-level definitions under ``churn_assets/defs`` are discovered by domain, and those whose
arguments depend on a setting (the day partitions, the retry policy, schedule times) are made by
their module's ``build(b)``. Tests and tools call ``build_defs`` with settings objects of their own.
The embedded default (SQLite instance, local MLflow, synthetic data) needs no configuration.
"""

from pathlib import Path

import dagster as dg

from churn_assets.model.settings import ServingSettings, Settings, warn_unknown


def build_defs(settings: Settings, serving: ServingSettings | None = None) -> dg.Definitions:
    from churn_assets.defs import jobs
    from churn_assets.defs.common.build import Build
    from churn_assets.defs.common.resources import build_resources
    from churn_assets.defs.evaluation import assets as evaluation
    from churn_assets.defs.experiment import assets as experiment
    from churn_assets.defs.monitoring import drift, live, outcomes, performance
    from churn_assets.defs.monitoring import sensors as monitoring_sensors
    from churn_assets.defs.registry import assets as registry
    from churn_assets.defs.retention import assets as retention
    from churn_assets.defs.retention import sensors as retention_sensors
    from churn_assets.defs.scoring import assets as scoring
    from churn_assets.defs.scoring import schedules as scoring_schedules
    from churn_assets.defs.serving import assets as serving_assets
    from churn_assets.defs.training import schedules as training_schedules
    from churn_assets.defs.training import tuning

    serving = serving or ServingSettings(home=settings.home)
    b = Build(settings, serving)
    partitioned = jobs.partitioned_jobs(b)
    built = dg.Definitions(
        assets=[*tuning.build(b), *evaluation.build(b), *registry.build(b), *serving_assets.build(b),
                *scoring.build(b), *drift.build(b), *performance.build(b), *outcomes.build(b), *live.build(b),
                *experiment.build(b), *retention.build(b)],
        jobs=list(partitioned.values()),
        schedules=[*scoring_schedules.build(b, partitioned["churn_scoring"]), *training_schedules.build(b)],
        sensors=[*monitoring_sensors.build(b), *retention_sensors.build(b)],
        resources=build_resources(settings, serving),
    )
    return dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=Path(__file__).parent), built)


def read_settings() -> tuple[Settings, ServingSettings]:
    """The settings as this process sees them now (environment, .env)."""
    warn_unknown()
    return Settings(), ServingSettings()


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(*read_settings())
