"""One message naming the URI: real connection failures (a closed loopback port) through the real
MLflow client and SQLAlchemy/psycopg, classified by defs/common/services.py. Fast: no server needed."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.services import explains_outages, outage_message
from churn_assets.defs.training.resources import OptunaStorage
from churn_assets.local.services import free_port
from churn_assets_tests.conftest import settings


def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


def test_mlflow_server_down_is_one_line_naming_the_uri(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    res = MlflowResource(tracking_uri=uri)

    @explains_outages
    def step(mlflow: MlflowResource):
        return mlflow.client().get_experiment_by_name("x")

    err = _raised(lambda: step(mlflow=res))
    assert isinstance(err, dg.Failure) and err.allow_retries
    assert err.description.startswith(f"unreachable: MLflow tracking {uri} (")
    assert "\n" not in err.description and err.__cause__ is None and err.__suppress_context__


def test_database_down_names_the_database_not_mlflow():
    port = free_port()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna"
    exc = _raised(lambda: sa.create_engine(url).connect())
    msg = outage_message(exc, {"MLflow tracking": "http://127.0.0.1:5000", "Optuna storage": url,
                               "predictions database": "postgresql+psycopg://postgres@127.0.0.1:5432/app"})
    assert msg.startswith(f"unreachable: Optuna storage {url} (OperationalError"), msg

    @explains_outages
    def step(optuna_storage: OptunaStorage):
        import optuna

        optuna.load_study(study_name="s", storage=optuna_storage.storage())

    err = _raised(lambda: step(optuna_storage=OptunaStorage(url=url)))
    assert isinstance(err, dg.Failure) and err.allow_retries and url in err.description


def test_other_errors_are_not_outages_and_not_retried():
    @explains_outages
    def step():
        raise ValueError("a bug, not an outage")

    err = _raised(step)
    assert isinstance(err, dg.Failure) and not err.allow_retries
    assert err.description == "ValueError: a bug, not an outage" and isinstance(err.__cause__, ValueError)
    assert outage_message(ValueError("x"), {}) is None


def test_generator_steps_keep_their_outputs_and_signature():
    @explains_outages
    def gen(context, x: int):
        yield x

    import inspect

    assert inspect.isgeneratorfunction(gen) and list(inspect.signature(gen).parameters) == ["context", "x"]
    assert list(gen(None, 3)) == [3]
    with pytest.raises(dg.Failure):
        list(explains_outages(lambda: (_ for _ in ()).throw(ConnectionRefusedError("x")))())


def test_service_steps_carry_the_backoff_policy():
    from churn_assets.definitions import build_defs
    from churn_assets.defs.common.build import Build
    from churn_assets.model.settings import ServingSettings

    s = settings()
    SERVICE_RETRY = Build(s, ServingSettings(home=s.home)).retry
    assert SERVICE_RETRY.max_retries == 5 and SERVICE_RETRY.backoff == dg.Backoff.EXPONENTIAL
    assert settings(service_retries=2).service_retries == 2  # a setting, passed in
    assert Build(settings(service_retries=2), ServingSettings()).retry.max_retries == 2
    job = build_defs(s).resolve_job_def("churn_training")
    graph = job.graph.node_named("tuned_model").definition
    for op in ("prepare_tuning", "tune_worker", "select_model"):
        assert graph.node_named(op).definition.retry_policy == SERVICE_RETRY
    for name in ("model_evaluation", "registered_model", "churn_bento"):
        assert job.graph.node_named(name).definition.retry_policy == SERVICE_RETRY
