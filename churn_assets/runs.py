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


class TrainingRun:
    """A finished training run: its status and events, and its assets' values loaded on demand."""

    def __init__(self, result, instance):
        self._result, self._instance = result, instance

    def __getattr__(self, name: str):  # success, run_id, all_events, get_*_events ...
        return getattr(self._result, name)

    def output_for_node(self, node: str, output_name: str = "result") -> Any:
        """The value of asset ``node`` (or of output ``output_name`` of a multi-asset), from the IO manager."""
        return load_defs().load_asset_value(node if output_name == "result" else output_name,
                                            instance=self._instance)


def train(trials: int, instance, tags: dict | None = None, rows: int | None = None, **scoring: Any) -> TrainingRun:
    """Run the training job in this process (visible later in `dagster dev`).

    Through ``dagster.execute_job`` with the in-process executor rather than
    ``JobDefinition.execute_in_process``: the latter keeps every step's output alive until the run
    ends (its output capture, always on), so memory grew step by step to 3.5 GB at 1M customers.
    Here an output lives in the IO manager's storage and is loaded when a step (or
    ``output_for_node``) asks for it.
    """
    import dagster as dg

    from churn_assets.reconstructable import churn_training_job

    cfg = {**training(trials, rows=rows, **scoring), "execution": {"config": {"in_process": {}}}}
    return TrainingRun(dg.execute_job(dg.reconstructable(churn_training_job), instance=instance,
                                      tags=tags or {}, run_config=cfg), instance)
