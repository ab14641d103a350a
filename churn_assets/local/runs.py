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
        self._result, self._instance, self._defs = result, instance, None

    def __getattr__(self, name: str):  # success, run_id, all_events, get_*_events ...
        return getattr(self._result, name)

    def output_for_node(self, node: str, output_name: str = "result") -> Any:
        """The value of asset ``node`` (or of output ``output_name`` of a multi-asset), from the IO manager."""
        self._defs = self._defs or load_defs()  # built once per run, not per value
        return self._defs.load_asset_value(node if output_name == "result" else output_name,
                                           instance=self._instance)


EXECUTORS = ("in_process", "multiprocess")


def train(trials: int, instance, tags: dict | None = None, rows: int | None = None,
          executor: str = "in_process", **scoring: Any) -> TrainingRun:
    """Run the training job from this process (visible later in `dagster dev`).

    ``in_process`` (the default): every step in this process, through ``dagster.execute_job`` rather
    than ``JobDefinition.execute_in_process``, whose output capture (always on) kept every step's
    output alive until the run ended (1M customers: 3.5 GB peak, now 2.9 GB). ``multiprocess``: each
    step in its own process, one at a time, as `dagster dev` and the daemon run it; the peak is then
    one step's working set, whatever the steps before it left behind (the 10M-customer graph).
    """
    import dagster as dg

    from churn_assets.local.reconstructable import churn_training_job

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    mode = {"in_process": {}} if executor == "in_process" else {"multiprocess": {"max_concurrent": 1}}
    cfg = {**training(trials, rows=rows, **scoring), "execution": {"config": mode}}
    return TrainingRun(dg.execute_job(dg.reconstructable(churn_training_job), instance=instance,
                                      tags=tags or {}, run_config=cfg), instance)
