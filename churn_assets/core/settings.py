"""Where the embedded default keeps its state, and the environment variables that move it.

Everything local lives under ``CHURN_HOME`` (default: ``.churn/`` in the project checkout,
git-ignored): the Dagster instance, the MLflow SQLite store and artifacts, the Optuna study
database, the predictions table and the BentoML store. Production points each at a server
through its own variable (see README, "Environment variables").
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def churn_home() -> Path:
    default = PROJECT_ROOT / ".churn" if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd() / ".churn"
    home = Path(os.environ.get("CHURN_HOME", default)).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def defaults() -> dict[str, str]:
    """Embedded defaults of every setting; a set environment variable always wins."""
    home = churn_home()
    return {
        "DAGSTER_HOME": str(home / "dagster_home"),
        "MLFLOW_TRACKING_URI": sqlite_url(home / "mlflow.db"),
        "CHURN_MLFLOW_ARTIFACTS": str(home / "mlartifacts"),
        "CHURN_MLFLOW_EXPERIMENT": "churn_assets",
        "CHURN_MODEL_NAME": "churn-classifier",
        "CHURN_OPTUNA_STORAGE": sqlite_url(home / "optuna.db"),
        "CHURN_PREDICTIONS_URL": sqlite_url(home / "predictions.db"),
        "CHURN_REPORTS_DIR": str(home / "reports"),
        "CHURN_LABELS_DIR": str(home / "labels"),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def apply_defaults() -> dict[str, str]:
    """Put the embedded defaults into ``os.environ`` where unset; returns the effective values."""
    for key, value in defaults().items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    local = home / "dagster.yaml"
    if not local.exists() and home.is_relative_to(churn_home()):
        # Our own project-local instance: SQLite storage (the default) without the telemetry banner.
        local.write_text("# Embedded default instance (SQLite under this folder).\ntelemetry:\n  enabled: false\n")
    return {k: os.environ[k] for k in defaults()}
