"""Services that go away: a real MLflow tracking server, stopped and started again on the same port.

MLflow's own HTTP client retries each request for minutes by default (7 retries, backoff factor 2);
these tests set MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 so the outage reaches the step, and what is tested
is the step's RetryPolicy (defs/common/services.py) and its one-line message.
"""

from __future__ import annotations

import functools
import threading
import time

import dagster as dg
import mlflow
import optuna
import pytest

from churn_assets.core.training import tracking
from churn_assets_tests.conftest import settings
from churn_assets_tests.faults import (
    MlflowServer,
    current_run_id,
    failure_errors,
    retry_errors,
    stop_log_tailers,
    wait_for_event,
)

pytestmark = pytest.mark.faults

N_TRIALS = 6
SELECTION = ["raw_customers", "data_contract", "clean_customers", "quarantined_customers", "training_data",
             "time_holdout", "customer_features", "training_splits", "tuned_model", "model_evaluation",
             "registered_model"]


@pytest.fixture
def server(isolated, tmp_path, monkeypatch):
    (tmp_path / "artifacts").mkdir()
    srv = MlflowServer(f"sqlite:///{tmp_path}/server.db", str(tmp_path / "artifacts"), str(tmp_path))
    # The runs' settings: this server, its own artifact store, a small data set (passed in, not the environment).
    srv.settings = settings(isolated, mlflow_tracking_uri=srv.uri, mlflow_artifacts="", synthetic_rows=3000)
    # MLflow's own client library: fail fast instead of its long default retries (not a project setting).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    yield srv
    srv.stop()
    stop_log_tailers(tmp_path)  # left by steps whose MLflow went away (the run's own cleanup did not run)


def _run(instance, out: dict, s):
    from churn_assets.definitions import build_defs

    job = build_defs(s).resolve_job_def("churn_training")
    res = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey(k) for k in SELECTION],
                                 run_config={"ops": {"tuned_model": {"config": {"n_trials": N_TRIALS}}}})
    out.update(success=res.success, run_id=res.run_id)


def _one_line_naming(message: str, uri: str) -> bool:
    return uri in message and "unreachable" in message and "Traceback" not in message and len(message) < 600


@pytest.mark.timeout(1800)
def test_mlflow_down_mid_run_is_survived(server, instance):
    """MLflow goes away while trials log to it and stays away until the run has noticed (a step failed
    and waits to retry, polled), then comes back: the run finishes with nothing lost or doubled."""
    server.start()
    out: dict = {}
    t = threading.Thread(target=_run, args=(instance, out, server.settings), daemon=True)
    t.start()
    run_id = functools.partial(current_run_id, instance)
    # The outage starts once tuning is under way (the Dagster run's MLflow run exists, trials are logging).
    wait_for_event(instance, run_id, lambda e: e.event_type_value == "STEP_START"
                   and e.step_key.startswith("tuned_model.tune_worker"), deadline=time.time() + 600)
    server.stop()
    down_at = time.time()
    wait_for_event(instance, run_id, lambda e: e.event_type_value == "STEP_UP_FOR_RETRY", deadline=time.time() + 300)
    server.start()
    outage_s = time.time() - down_at
    t.join(900)
    assert not t.is_alive() and out["success"], out
    retries = retry_errors(instance, out["run_id"])
    assert retries, "the outage never reached a step (nothing was retried)"
    assert all(_one_line_naming(msg, server.uri) for _, msg in retries), retries

    client = mlflow.tracking.MlflowClient(server.uri)
    exp_id = client.get_experiment_by_name("churn_assets").experiment_id
    parent = tracking.find_run(client, exp_id, out["run_id"])
    assert client.get_run(parent).info.status == "FINISHED"
    
    study = optuna.load_study(study_name=f"churn-{out['run_id']}", storage=server.settings.optuna_storage)
    finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    assert len(finished) == N_TRIALS
    children = client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(c.info.run_name for c in children) == sorted(f"trial-{t.number}" for t in finished)
    versions = client.search_model_versions(f"name='{server.settings.model_name}'")
    assert len(versions) == 1  # registered once, even if the registry step was retried
    print(f"outage {outage_s:.1f}s survived; retried steps: {sorted({s for s, _ in retries})}")


@pytest.mark.timeout(1800)
def test_mlflow_unreachable_at_start_then_up_is_survived(server, instance):
    out: dict = {}
    t = threading.Thread(target=_run, args=(instance, out, server.settings), daemon=True)
    t.start()
    # The run starts with no server: the first MLflow step fails and waits to retry; then it comes up.
    wait_for_event(instance, functools.partial(current_run_id, instance),
                   lambda e: e.event_type_value == "STEP_UP_FOR_RETRY", deadline=time.time() + 600)
    server.start()
    t.join(900)
    assert not t.is_alive() and out["success"], out
    assert any(_one_line_naming(msg, server.uri) for _, msg in retry_errors(instance, out["run_id"]))


@pytest.mark.timeout(1800)
def test_mlflow_never_up_fails_with_one_message_naming_the_uri(server, instance):
    started = time.time()
    out: dict = {}
    _run(instance, out, server.settings)
    assert out["success"] is False
    (step, error), = failure_errors(instance, out["run_id"])
    assert step == "tuned_model.prepare_tuning"
    # Dagster's own header, then the step's error: one line naming the URI, with no urllib3/requests
    # chain under it.
    assert error.message.startswith(f"Exceeded max_retries of {server.settings.service_retries}")
    assert _one_line_naming(error.cause.message, server.uri), error.cause.message
    assert error.cause.cause is None and error.cause.context is None
    retried = [s for s, _ in retry_errors(instance, out["run_id"])]
    assert retried == [step] * server.settings.service_retries  # every retry of the policy, with backoff
    print(f"failed after {time.time() - started:.0f}s: {error.message.strip()}: {error.cause.message.strip()}")
