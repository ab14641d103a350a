"""Running the jobs in-process: run config and launchers shared by the demo, the benchmarks and the tests."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

# Step-level DEBUG events stay in the run log (see `make dagster`); the console shows warnings only.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@contextlib.contextmanager
def no_debug_console() -> Iterator[None]:
    """No DEBUG records while the block runs, whatever logger they go to.

    Loading an asset's value outside a run (``Definitions.load_asset_value``) logs the IO manager's
    "Loading file from ..." at DEBUG through a console logger that Dagster creates on each call
    (``build_input_context`` -> ``initialize_console_manager(None)``: level DEBUG, no run config, no
    instance setting applies), so QUIET cannot reach it. ``logging.disable`` is the one switch every
    ``logging.Logger`` obeys, including loggers outside the hierarchy such as that one."""
    before = logging.root.manager.disable
    logging.disable(max(before, logging.DEBUG))
    try:
        yield
    finally:
        logging.disable(before)


def quiet_console() -> None:
    """The console of a CLI run (`churn-assets demo`), however it is launched: no MLflow artifact
    progress bars unless MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR asks for them (the Makefile used to be the
    only place that turned them off), and no MLflow set-up chatter. This process only; the environment
    is not written."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.default = False  # an explicit variable still wins (.get())
    # MLflow's set-up chatter (schema creation, "Detected uv project", no pip in a uv venv) is noise here.
    for name in ("mlflow.store.db.utils", "mlflow.utils.uv_utils", "mlflow.utils.environment"):
        logging.getLogger(name).setLevel(logging.ERROR)


def training(trials: int, rows: int | None = None, quiet: bool = True, defs=None, **fields: Any) -> dict[str, Any]:
    """Run config of the training job: trials, optionally the synthetic row count and resource fields."""
    cfg: dict[str, Any] = {"ops": {"tuned_model": {"config": {"n_trials": trials}}}, **(QUIET if quiet else {})}
    cfg.update(resources(rows=rows, defs=defs, **fields))
    return cfg


def resources(rows: int | None = None, defs=None, **fields: Any) -> dict[str, Any]:
    """Per-run overrides of resource fields, each sent to the resource that has it (``shift_from`` to
    ``dataset``, ``drift_share`` to ``monitoring``, ...). Run config replaces a resource's whole config,
    so its other fields are carried over from the code location's resources (built from the settings
    by churn_assets/definitions.py)."""
    current = (defs or load_defs()).resources
    overrides: dict[str, dict[str, Any]] = {"dataset": {"synthetic_rows": rows} if rows else {}}
    for name, value in fields.items():
        owners = [key for key, r in current.items() if name in getattr(type(r), "model_fields", {})]
        if len(owners) != 1:
            raise ValueError(f"no single resource has a field {name!r} (found in {owners or 'none'})")
        overrides.setdefault(owners[0], {})[name] = value
    out = {key: {"config": {**_fields(current[key]), **values}} for key, values in overrides.items() if values}
    return {"resources": out} if out else {}


def _fields(resource) -> dict[str, Any]:
    return {name: getattr(resource, name) for name in type(resource).model_fields}


TRAINING_JOB = "churn_training"


def load_defs(settings=None, serving=None):
    """The code location's definitions: from ``settings`` (and ``serving``) when given, else as
    ``dagster dev`` builds them (churn_assets/definitions.py reads the settings)."""
    from churn_assets.definitions import build_defs, defs

    return build_defs(settings, serving) if settings is not None else defs()


class FinishedRun:
    """A finished run: its status and events, and its assets' values loaded on demand (of its
    partition, for a partitioned run)."""

    def __init__(self, result, instance, settings=None, serving=None, partition: str | None = None):
        self._result, self._instance, self._defs = result, instance, None
        self._settings, self._serving, self._partition = settings, serving, partition

    def __getattr__(self, name: str):  # success, run_id, all_events, get_*_events ...
        return getattr(self._result, name)

    def output_for_node(self, node: str, output_name: str = "result") -> Any:
        """The value of asset ``node`` (or of output ``output_name`` of a multi-asset), from the IO manager."""
        self._defs = self._defs or load_defs(self._settings, self._serving)  # once per run, not per value
        with no_debug_console():
            return self._defs.load_asset_value(node if output_name == "result" else output_name,
                                               instance=self._instance, partition_key=self._partition)


TrainingRun = FinishedRun


def execute(job_name: str, instance, settings=None, serving=None, run_config: dict | None = None,
            tags: dict | None = None, partition: str | None = None, raise_on_error: bool = True) -> FinishedRun:
    """Run job ``job_name`` in this process, every step in it, as an ordinary run of the code location
    (it carries workspace.yaml's origin: the UI's Overview and Jobs pages list it, as they list runs
    launched there; churn_assets/local/origin.py). ``settings``: what the job is built from (default,
    the settings as the code location reads them now)."""
    from churn_assets.definitions import read_settings
    from churn_assets.local.origin import execute as execute_with_origin
    from churn_assets.local.reconstructable import job

    if settings is None:
        settings, serving = read_settings()
    cfg = {**(run_config or {}), "execution": {"config": {"in_process": {}}}}
    tags = {**(tags or {}), **({"dagster/partition": partition} if partition else {})}
    result = execute_with_origin(job(job_name, settings, serving), instance, cfg, tags)
    if raise_on_error and not result.success:
        why = failures(result)
        raise RuntimeError(f"{job_name} run {result.run_id} failed: {why[0] if why else 'see its log'}")
    return FinishedRun(result, instance, settings, serving, partition)


def failures(result) -> list[str]:
    """Why the steps of a run failed, in their own words."""
    out = []
    for e in result.all_events:
        if e.is_step_failure and e.step_failure_data.error is not None:
            err = e.step_failure_data.error
            while err.cause is not None and err.cls_name in ("DagsterExecutionStepExecutionError",):
                err = err.cause
            out.append(f"{e.step_key}: {err.message.strip()}")
    return out


EXECUTORS = ("in_process", "multiprocess")
# The multiprocess executor's step processes fork from a server that imported the code location once,
# instead of each importing dagster, pandas, scikit-learn and MLflow again (spawn, Dagster's default):
# a two-worker tuning run took 22% less CPU and 19% less time (test_distributed_tuning, idle 2-core host).
FORKSERVER = {"forkserver": {"preload_modules": ["churn_assets.definitions"]}}


_forkserver_env: dict[str, str] | None = None


def multiprocess(**config) -> dict:
    """The multiprocess executor's run config (``max_concurrent``, ``retries``, ...), step processes forked.

    A forked step process has the environment of the fork server, which starts at this process's
    first multiprocess run and then lives on: it would not see variables set since (the instance's
    DAGSTER_PG_* that dagster.yaml reads in each step process, the id hash keys). Found in CI, where
    one pytest worker ran a Postgres test after another: the second run's steps dialled the first
    test's cluster and never started. So when the environment changed since the last call, the fork
    server is stopped and the run starts a fresh one."""
    from churn_assets.model.settings import environment_snapshot

    global _forkserver_env
    env = environment_snapshot()
    if _forkserver_env is not None and env != _forkserver_env:
        stop_forkserver()
    _forkserver_env = env
    return {"multiprocess": {**config, "start_method": FORKSERVER}}


def stop_forkserver() -> None:
    """Stop this process's multiprocessing fork server, if one runs (the next forked process starts
    another). multiprocessing has no public call for it: ``ForkServer._stop`` (CPython 3.8-3.13, used by
    CPython's own tests); test_step_processes checks that it still stops the server."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()


def train(trials: int, instance, tags: dict | None = None, rows: int | None = None,
          executor: str = "in_process", settings=None, serving=None, **fields: Any) -> TrainingRun:
    """Run the training job from this process (visible later in `dagster dev`).

    The run carries the code location's origin, like ``execute`` (above). ``in_process`` (the
    default): every step in this process, executed as ``dagster.execute_job`` does rather than as
    ``JobDefinition.execute_in_process``, whose output capture (always on) kept every step's
    output alive until the run ended (1M customers: 3.5 GB peak, now 2.9 GB). ``multiprocess``: each
    step in its own process, one at a time, as `dagster dev` and the daemon run it; the peak is then
    one step's working set, whatever the steps before it left behind (the 10M-customer graph).

    ``settings`` (and ``serving``): what the job is built from; default, the settings as the code
    location reads them at this call (never a job this process built earlier under other settings).
    """
    from churn_assets.definitions import read_settings
    from churn_assets.local.origin import execute as execute_with_origin
    from churn_assets.local.reconstructable import job

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if settings is None:
        settings, serving = read_settings()
    defs = load_defs(settings, serving)
    mode = {"in_process": {}} if executor == "in_process" else multiprocess(max_concurrent=1)
    cfg = {**training(trials, rows=rows, defs=defs, **fields), "execution": {"config": mode}}
    result = execute_with_origin(job(TRAINING_JOB, settings, serving), instance, cfg, tags or {})
    return FinishedRun(result, instance, settings, serving)
