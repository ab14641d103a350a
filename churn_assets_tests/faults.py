"""Helpers of the fault tests: run a job in a thread, find a step's process, read a study's trials."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import dagster as dg
import optuna

from churn_assets.core.training.tuning import LINEAGE

UPSTREAM_OF_TUNING = [dg.AssetKey(k) for k in ("raw_customers", "data_contract", "clean_customers",
                                               "quarantined_customers", "training_data", "time_holdout",
                                               "customer_features", "training_splits")]


def materialize_upstream(job, instance) -> None:
    """The assets upstream of tuned_model, in one in-process run (stored by the filesystem IO manager):
    on a loaded 2-core machine each multiprocess step costs 5-30 s, and these are not under test."""
    with dg.execute_job(job, instance=instance, asset_selection=UPSTREAM_OF_TUNING,
                        run_config={"execution": {"config": {"in_process": {}}}}) as result:
        assert result.success


class JobThread(threading.Thread):
    """`dagster.execute_job` in a thread, so the test can act on the run while it executes."""

    def __init__(self, **kwargs):
        super().__init__(daemon=True)
        self.kwargs, self.result, self.error = kwargs, None, None

    def run(self):
        try:
            with dg.execute_job(**self.kwargs) as result:
                self.result = {"success": result.success, "run_id": result.run_id}
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread by outcome())
            self.error = exc

    def outcome(self, timeout_s: float) -> dict:
        self.join(timeout_s)
        assert not self.is_alive(), f"the run did not finish within {timeout_s}s"
        if self.error:
            raise self.error
        return self.result


def stop_log_tailers(under: Path) -> list[int]:
    """Dagster's compute-log capture runs `tail -F` on each step's log file (and a watcher that kills it
    when the process that started it dies). A step a fault test interrupts can leave its tailers behind
    while the test worker lives on, after the suite too (seen: `tail -F .../dagster_home/storage/...`).
    SIGKILL (a tailer may have inherited an ignored SIGTERM) every process whose command line names a
    file under ``under``, the test's own folder."""
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] in (b"tail", b"/usr/bin/tail") and any(str(under).encode() in a for a in argv[1:]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                stopped.append(int(entry.name))
    return stopped


def latest_run_id(instance, deadline: float, known: set[str]) -> str:
    """The id of the first run that is not in ``known`` (the one a JobThread just started)."""
    while time.time() < deadline:
        new = [r.run_id for r in instance.get_runs(limit=5) if r.run_id not in known]
        if new:
            return new[0]
        time.sleep(0.2)
    raise TimeoutError("no run started")


def current_run_id(instance) -> str | None:
    runs = instance.get_runs(limit=1)
    return runs[0].run_id if runs else None


def step_events(instance, run_id: str, type_value: str) -> list:
    return [r.dagster_event for r in instance.all_logs(run_id)
            if r.dagster_event and r.dagster_event.event_type_value == type_value]


def step_pid(instance, run_id: str, step_key: str) -> int | None:
    """The pid of a step's process, from its STEP_START event (multiprocess executor: one process per step)."""
    pids = [e.pid for e in step_events(instance, run_id, "STEP_START") if e.step_key == step_key]
    return pids[-1] if pids else None


def worker_trials(storage: str, study: str, lineage: str, worker: int) -> list[optuna.trial.FrozenTrial]:
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # the study is not created yet
        return []
    return [t for t in trials if t.user_attrs.get(LINEAGE) == lineage and t.user_attrs.get("worker") == worker]


class MlflowServer:
    """A real `mlflow server` subprocess that a test stops and starts again on the SAME port."""

    def __init__(self, backend: str, artifacts: str, log_dir: str):
        from churn_assets.local.services import free_port

        self.backend, self.artifacts, self.log_dir = backend, artifacts, log_dir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        import os
        import subprocess
        import sys

        from churn_assets.local.services import wait_http

        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        log = open(os.path.join(self.log_dir, f"mlflow-{self.port}.log"), "a")
        self.proc = subprocess.Popen(
            [mlflow_bin, "server", "--backend-store-uri", self.backend, "--artifacts-destination", self.artifacts,
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_http(f"{self.uri}/health", proc=self.proc, timeout_s=120)

    def stop(self) -> None:
        from churn_assets.local.services import stop

        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def wait_for_event(instance, run_id_fn, predicate, deadline: float):
    """Poll the run's event log until an event matches (returns it)."""
    while time.time() < deadline:
        run_id = run_id_fn()
        if run_id:
            for rec in instance.all_logs(run_id):
                if rec.dagster_event and predicate(rec.dagster_event):
                    return rec.dagster_event
        time.sleep(0.3)
    raise TimeoutError("the awaited event never came")


def retry_errors(instance, run_id: str) -> list[tuple[str, str]]:
    """(step, message of the error that was retried) of each STEP_UP_FOR_RETRY event (Dagster wraps the
    step's exception in RetryRequestedFromPolicy: the step's own error is its cause)."""
    out = []
    for e in step_events(instance, run_id, "STEP_UP_FOR_RETRY"):
        err = e.event_specific_data.error
        out.append((e.step_key, (err.cause or err).message.strip()))
    return out


def failure_errors(instance, run_id: str) -> list[tuple[str, object]]:
    """(step, SerializableErrorInfo) of each STEP_FAILURE event."""
    return [(e.step_key, e.event_specific_data.error) for e in step_events(instance, run_id, "STEP_FAILURE")]
