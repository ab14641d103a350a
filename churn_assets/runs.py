"""Running the jobs in-process: run config and launchers shared by the demo, the benchmarks and the tests."""

from __future__ import annotations

from typing import Any

# Step-level DEBUG events stay in the run log (see `make dagster`); the console shows warnings only.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def training(trials: int, rows: int | None = None, quiet: bool = True, **scoring: Any) -> dict[str, Any]:
    """Run config of the training job: trials, optionally the synthetic row count and scoring settings."""
    cfg: dict[str, Any] = {"ops": {"tuned_model": {"config": {"n_trials": trials}}}, **(QUIET if quiet else {})}
    cfg.update(resources(rows=rows, **scoring))
    return cfg


def resources(rows: int | None = None, **scoring: Any) -> dict[str, Any]:
    """Per-run overrides of resource fields. Run config replaces a resource's whole config, so the
    other fields are carried over from the settings object."""
    from churn_assets.defs.common.resources import build_resources

    overrides = {"dataset": {"synthetic_rows": rows} if rows else {}, "scoring": scoring}
    current = build_resources()
    out = {key: {"config": {**_fields(current[key]), **values}} for key, values in overrides.items() if values}
    return {"resources": out} if out else {}


def _fields(resource) -> dict[str, Any]:
    return {name: getattr(resource, name) for name in type(resource).model_fields}


TRAINING_JOB = "churn_training"


def load_defs():
    from churn_assets.definitions import defs

    return defs()


def train(trials: int, instance, tags: dict | None = None, rows: int | None = None, **scoring: Any):
    """Run the training job in-process on ``instance`` (visible later in `dagster dev`)."""
    job = load_defs().resolve_job_def(TRAINING_JOB)
    return job.execute_in_process(instance=instance, tags=tags or {},
                                  run_config=training(trials, rows=rows, **scoring))
