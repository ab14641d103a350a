"""Shared fixtures. The whole session runs against throwaway local state under a temp CHURN_HOME,
so tests never touch the developer's .churn/ folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from churn_assets.core.config import Settings

SESSION_HOME = Path(tempfile.mkdtemp(prefix="churn_test_"))
# Tests own their process environment: every setting starts from its default under a temp CHURN_HOME.
from churn_assets.core.config import known_variables

for _key in known_variables() | {"CHURN_SYNTHETIC_ROWS"}:
    os.environ.pop(_key, None)
os.environ["CHURN_HOME"] = str(SESSION_HOME)
os.environ["DAGSTER_HOME"] = str(SESSION_HOME / "dagster_home")
os.environ["BENTOML_HOME"] = str(SESSION_HOME / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
(SESSION_HOME / "dagster_home").mkdir()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BANK_CSV = SHARED_DATA / "bank_churn.csv"
PG_URL = os.environ.get("CHURN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Fresh MLflow store, Optuna storage, model name and reports dir for one test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("CHURN_MLFLOW_ARTIFACTS", str(tmp_path / "mlartifacts"))
    monkeypatch.setenv("CHURN_OPTUNA_STORAGE", f"sqlite:///{tmp_path}/optuna.db")
    monkeypatch.setenv("CHURN_PREDICTIONS_URL", f"sqlite:///{tmp_path}/predictions.db")
    monkeypatch.setenv("CHURN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("CHURN_LABELS_DIR", str(tmp_path / "labels"))
    monkeypatch.setenv("CHURN_LABELLED_DIR", str(tmp_path / "labelled"))
    monkeypatch.setenv("CHURN_MODEL_NAME", f"churn-test-{uuid.uuid4().hex[:6]}")
    monkeypatch.delenv("CHURN_DATASET", raising=False)
    monkeypatch.delenv("CHURN_WEBHOOK_URL", raising=False)
    return tmp_path


@pytest.fixture
def instance(tmp_path):
    """A real Dagster instance (SQLite storage in a temp DAGSTER_HOME)."""
    import dagster as dg

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as inst:
        yield inst


def run_training(instance, rows: int = 3000, trials: int = 5, extra_config: dict | None = None,
                 job: str = "churn_training", raise_on_error: bool = True, selection=None):
    """Materialize the training job in-process on a small synthetic data set."""

    from churn_assets.definitions import defs

    os.environ["CHURN_SYNTHETIC_ROWS"] = str(rows)
    cfg = {"n_trials": trials, **(extra_config or {})}
    d = defs()
    job_def = d.resolve_job_def(job)
    return job_def.execute_in_process(instance=instance, raise_on_error=raise_on_error,
                                      run_config={"ops": {"tuned_model": {"config": cfg}}},
                                      asset_selection=selection)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One small end-to-end training run shared by many tests (serving, registry, parity)."""
    import dagster as dg

    home = tmp_path_factory.mktemp("trained")
    os.environ["CHURN_MODEL_NAME"] = "churn-session"
    (home / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as inst:
        result = run_training(inst, rows=4000, trials=6)
        assert result.success
        yield {"result": result, "instance": inst, "home": home,
               "tracking_uri": Settings().mlflow_tracking_uri,
               "tuned": result.output_for_node("tuned_model"),
               "splits": result.output_for_node("training_splits"),
               "evaluation": result.output_for_node("model_evaluation"),
               "registered": result.output_for_node("registered_model")}
