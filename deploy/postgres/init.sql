-- Run once by the postgres image when its data volume is first initialised
-- (/docker-entrypoint-initdb.d). One database per concern, all owned by the postgres user:
CREATE DATABASE dagster;  -- Dagster runs, event logs, schedules (DAGSTER_PG_DB)
CREATE DATABASE mlflow;   -- MLflow tracking + model registry (mlflow --backend-store-uri)
CREATE DATABASE optuna;   -- Optuna studies shared by the tuning workers (CHURN_OPTUNA_STORAGE)
CREATE DATABASE churn;    -- the predictions table of the monitoring loop (CHURN_PREDICTIONS_URL)
