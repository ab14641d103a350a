"""Thin MLflow helpers: one MLflow run per Dagster run, trials as child runs, correct status.

Why not dagster-mlflow: with mlflow 3 it marks the MLflow run of a *failed* Dagster run as
FINISHED and ends/re-opens the run in every step process (see docs/ARCHITECTURE.md, "Decisions"). Here each
step resumes the run with ``mlflow.start_run(run_id=...)``: an exception inside the step leaves
it FAILED, success leaves it FINISHED, and a run-failure sensor marks it FAILED when a step that
does not log to MLflow fails later.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

DAGSTER_RUN_TAG = "dagster.run_id"
# The MLflow UI (3.x) opens an experiment by its kind: without this tag it guesses, and an experiment
# without traces may open in GenAI mode (traces, sessions). Our runs are model training.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
# The run's description in the MLflow UI (its "Description" box) is this tag.
NOTE = "mlflow.note.content"


def run_note(job: str, dagster_run_id: str, tags: dict[str, str]) -> str:
    """What a Dagster run's MLflow run is, in the words of the run's own tags."""
    parts = [f"Dagster run {dagster_run_id} of job `{job}`"]
    if partition := tags.get("dagster/partition"):
        parts.append(f"partition {partition}")
    if sensor := tags.get("dagster/sensor_name"):
        parts.append(f"launched by sensor `{sensor}`")
    elif schedule := tags.get("dagster/schedule_name"):
        parts.append(f"launched by schedule `{schedule}`")
    elif trigger := tags.get("churn/trigger"):
        parts.append(f"trigger: {trigger}")
    if window := tags.get("churn/window_days"):
        parts.append(f"labelled days in its window: {window}")
    if parent := tags.get("dagster/parent_run_id"):
        parts.append(f"re-executes {parent}")
    return "; ".join(parts) + "."


def trial_note(number: int, params: dict, metric: str, value: float | None, state: str, study: str) -> str:
    family = params.get("family", "")
    score = f"mean CV {metric} {value:.4f}" if value is not None else state.lower()
    return f"Optuna trial {number} of study {study}: {family or 'model'}, {score}."


def tag_value(v) -> str:
    """A tag as people read it: counts as integers (12317, not 12317.0), other floats to 6 digits."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(round(v, 6) if isinstance(v, float) else v)


def client(tracking_uri: str) -> MlflowClient:
    """A client of ``tracking_uri``, which also becomes the fluent API's store (``models:/`` loads,
    ``start_run``). Note: MLflow's set_tracking_uri/set_registry_uri also write MLFLOW_TRACKING_URI /
    MLFLOW_REGISTRY_URI into os.environ, so a process that talks to several stores sees the last one
    in Settings(); the test suite restores them after each test (churn_assets_tests/conftest.py)."""
    _create_sqlite_store_once(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


_READY: set[str] = set()


def _create_sqlite_store_once(uri: str) -> None:
    """Create (or migrate) a SQLite store under a file lock, once per process. Two processes that open
    a new store at once both run MLflow's schema migrations and one fails ("No such constraint:
    'uq_experiments_name'"; seen when the CLI's run and the daemon's sensors started together)."""
    if uri in _READY or not uri.startswith("sqlite:///"):
        return
    import fcntl

    path = uri[len("sqlite:///"):]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.init-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        c = MlflowClient(tracking_uri=uri, registry_uri=uri)
        c.search_experiments(max_results=1)  # the tracking store: tables created or migrated here
        c.search_registered_models(max_results=1)  # the registry store (same database)
    _READY.add(uri)


def ensure_experiment(c: MlflowClient, name: str, artifact_root: str | None = None) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        if EXPERIMENT_KIND_TAG not in exp.tags:  # created before the tag (or by another client)
            c.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return exp.experiment_id
    location = None
    if artifact_root and "://" not in artifact_root:
        os.makedirs(artifact_root, exist_ok=True)
        location = f"file://{os.path.abspath(artifact_root)}"
    elif artifact_root:
        location = artifact_root
    try:
        return c.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except mlflow.exceptions.MlflowException:  # created concurrently by another step
        return c.get_experiment_by_name(name).experiment_id


def find_run(c: MlflowClient, experiment_id: str, dagster_run_id: str) -> str | None:
    runs = c.search_runs([experiment_id], f"tags.`{DAGSTER_RUN_TAG}` = '{dagster_run_id}' "
                         "and tags.`mlflow.parentRunId` IS NULL", max_results=1)
    return runs[0].info.run_id if runs else None


def parent_run(c: MlflowClient, experiment_id: str, dagster_run_id: str, run_name: str,
               tags: dict[str, str] | None = None) -> str:
    """The MLflow run of this Dagster run (created on first use)."""
    found = find_run(c, experiment_id, dagster_run_id)
    if found:
        return found
    run = c.create_run(experiment_id, run_name=run_name,
                       tags={DAGSTER_RUN_TAG: dagster_run_id, **{k: tag_value(v) for k, v in (tags or {}).items()}})
    return run.info.run_id


@contextlib.contextmanager
def active(run_id: str) -> Iterator[mlflow.ActiveRun]:
    """Resume the run for one step: FINISHED on success, FAILED if the step raises."""
    while mlflow.active_run() is not None:  # never nest into a stale run of this process
        mlflow.end_run()
    with mlflow.start_run(run_id=run_id) as run:
        yield run


def log_child(c: MlflowClient, experiment_id: str, parent_id: str, name: str, params: dict,
              metrics: dict, tags: dict, status: str) -> str:
    """A finished child run in three calls (create, batch, terminate): cheap enough per trial."""
    # Tags and params are strings on the wire (a REST tracking server rejects ints).
    tags = {k: tag_value(v) for k, v in tags.items()}
    run = c.create_run(experiment_id, run_name=name, tags={"mlflow.parentRunId": parent_id, **tags})
    c.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    c.set_terminated(run.info.run_id, status)
    return run.info.run_id


def mark_failed(c: MlflowClient, experiment_name: str, dagster_run_id: str) -> list[str]:
    """Mark every MLflow run of a Dagster run FAILED (used by the run-failure sensor)."""
    exp = c.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id], f"tags.`{DAGSTER_RUN_TAG}` = '{dagster_run_id}'")
    for r in runs:
        if r.info.status != "FAILED":
            c.set_terminated(r.info.run_id, "FAILED")
    return [r.info.run_id for r in runs]


def run_url(tracking_uri: str, experiment_id: str, run_id: str, ui: str = "http://127.0.0.1:5000") -> str:
    base = tracking_uri if tracking_uri.startswith("http") else ui
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
