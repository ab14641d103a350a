"""Every setting of churn_assets, read from the environment here and nowhere else.

Two typed objects (pydantic-settings), one per process kind:

* ``Settings``: the Dagster code location, the CLI, the demo and the benchmarks.
* ``ServingSettings``: the Bento (it ships this module with ``core/``).

Each field is one environment variable (``CHURN_<FIELD>`` unless an alias names another one,
e.g. ``MLFLOW_TRACKING_URI``), with its type, default and description. Paths and URLs left empty
resolve under ``CHURN_HOME`` (the embedded default: SQLite and local folders). Nothing here writes
to ``os.environ``; child processes get the variables they need in their own ``env=``.
The variable table in docs/OPERATIONS.md is generated from these classes (``make settings-docs``, between the
``<!-- settings:start -->`` markers) and a test keeps the two equal.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("churn_assets.config")


def _default_home() -> Path:
    root = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()
    return root / ".churn"


def _env(name: str, description: str, default: Any = "", **kw) -> Any:
    """A field read from the environment variable ``name`` (not prefixed)."""
    return Field(default, validation_alias=AliasChoices(name), description=description, **kw)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore", frozen=True, populate_by_name=True)


class Settings(_Base):
    """The platform side: storage, data, training, registry and monitoring."""

    # -- where state lives --------------------------------------------------------------------
    home: Path = Field(default_factory=_default_home, description="Root of all local state (embedded default).")
    dagster_home: Path | None = _env("DAGSTER_HOME", "Dagster instance folder (Dagster's own variable; "
                                     "default CHURN_HOME/dagster_home).", None)
    mlflow_tracking_uri: str = _env("MLFLOW_TRACKING_URI", "MLflow tracking store or server "
                                    "(default sqlite:///CHURN_HOME/mlflow.db).")
    mlflow_ui_url: str = _env("MLFLOW_UI_URL", "Where links in the Dagster UI point for MLflow runs.",
                              "http://127.0.0.1:5000")
    mlflow_artifacts: str = Field("", description="Artifact root of a local MLflow store (default CHURN_HOME/mlartifacts).")
    mlflow_experiment: str = Field("churn_assets", description="MLflow experiment of every run.")
    optuna_storage: str = Field("", description="Optuna study storage URL (default sqlite:///CHURN_HOME/optuna.db).")
    predictions_url: str = Field("", description="SQLAlchemy URL of the predictions table "
                                 "(default sqlite:///CHURN_HOME/predictions.db).")
    reports_dir: Path | None = Field(None, description="Evaluation plots and drift HTML (default CHURN_HOME/reports).")
    labels_dir: Path | None = Field(None, description="Synthetic outcomes files <day>.csv (default CHURN_HOME/labels).")
    scoring_batches_dir: Path | None = Field(None, description="Validated daily scoring batches as Parquet, "
                                             "one row group per chunk (default CHURN_HOME/scoring_batches); "
                                             "shared storage when steps run in separate pods.")
    labelled_dir: Path | None = Field(None, description="Labelled days (scored customers joined with their "
                                      "outcomes) as Parquet (default CHURN_HOME/labelled).")
    bentoml_home: Path | None = _env("BENTOML_HOME", "BentoML model and Bento store (BentoML's own variable; "
                                     "`make` exports CHURN_HOME/bentoml).", None)
    # -- data --------------------------------------------------------------------------------
    dataset: str = Field("", description="Path of a dataset spec YAML; empty: the synthetic default.")
    synthetic_rows: int = Field(100_000, ge=100, description="Customers in the synthetic training source.")
    seed: int = Field(42, description="Seed of the synthetic data, splits and tuning.")
    max_bad_share: float = Field(0.05, ge=0, le=1, description="The blocking check fails above this share "
                                 "of quarantined rows.")
    # -- evaluation and registry -------------------------------------------------------------
    min_roc_auc: float = Field(0.6, ge=0, le=1, description="Evaluation floor: the `roc_auc_above_floor` check "
                               "on model_evaluation fails (red in the UI) below this test ROC-AUC.")
    model_name: str = Field("", description="Registered model name; empty: `churn-<dataset name>`, so each "
                            "data contract has its own champion.")
    promotion_metric: str = Field("roc_auc", description="Metric of the champion/challenger gate.")
    promotion_margin: float = Field(0.002, ge=0, description="A challenger must beat the champion by more than this.")
    promotion_basis: str = Field("time_holdout", pattern="^(time_holdout|readout)$", description="What promotes "
                                 "a retrained challenger: `time_holdout` (the registry gate of registered_model) or "
                                 "`readout` (the gate only registers it; an experiment_readout that finds it better "
                                 "on live outcomes promotes it, compare-and-set).")
    # -- the champion/challenger experiment readout (core/experiment/readout.py) ------------------------
    readout_metric: str = Field("roc_auc", pattern="^(roc_auc|pr_auc|brier|ece)$", description="Metric on "
                                "which experiment_readout decides whether the challenger is better.")
    readout_confidence: float = Field(0.95, ge=0.5, lt=1, description="Confidence of the readout's bootstrap "
                                      "intervals; `better` when the improvement's interval excludes 0.")
    readout_resamples: int = Field(1_000, ge=100, description="Bootstrap resamples (seeded by CHURN_SEED) of "
                                   "the readout's intervals.")
    readout_min_outcomes: int = Field(200, ge=10, description="Fewest customers with an outcome per arm "
                                      "before the readout decides (else `inconclusive`).")
    readout_lookback_days: int = Field(14, ge=1, description="The readout sensor looks for outcomes of "
                                       "challenger traffic this many days back.")
    # -- monitoring and the loop -------------------------------------------------------------
    window_days: int = Field(90, ge=1, description="A retrain trains on the base source plus the labelled "
                             "days of this many days up to the newest one.")
    holdout_days: int = Field(1, ge=0, description="The newest labelled days kept out of training: the "
                              "registry gate judges champion and challenger there.")
    scoring_start: str = Field("2025-07-01", description="First daily partition of scoring and outcomes.")
    scoring_hour: int = Field(2, ge=0, le=23, description="Hour of the daily scoring schedule.")
    retrain_cron: str = Field("0 3 * * 0", description="Cron of the weekly retrain schedule.")
    sensor_interval_s: int = Field(60, ge=1, description="Least seconds between two ticks of the loop's "
                                   "sensors (outcomes_sensor, retrain_sensor, campaign_outcomes_sensor).")
    batch_rows: int = Field(5_000, ge=1, description="Customers in a synthetic daily batch.")
    shift: str = Field("engagement_drop", description="Synthetic shift applied from CHURN_SHIFT_FROM on.")
    shift_from: str = Field("", description="ISO date from which synthetic batches are shifted; empty: never.")
    shift_intensity: float = Field(1.0, ge=0, le=1, description="Strength of the synthetic shift.")
    f1_tolerance: float = Field(0.10, ge=0, le=1, description="`degraded` when realized F1 falls more than "
                                "this share below the training F1.")
    auc_tolerance: float = Field(0.03, ge=0, le=1, description="... or when realized ROC-AUC falls more than "
                                 "this (absolute) below the test ROC-AUC.")
    degradation_confidence: float = Field(0.95, ge=0.5, lt=1, description="Confidence of the bootstrap interval "
                                          "of a day's ROC-AUC/F1 drop; `degraded` only when the whole interval lies "
                                          "above the tolerance (the drop is significantly larger than it).")
    degradation_min_outcomes: int = Field(200, ge=10, description="Fewest customers with an outcome that can flag a "
                                          "day; a smaller day is pooled with earlier unflagged days of the same model.")
    degradation_pool_days: int = Field(7, ge=0, description="How many earlier unflagged days (same model) may be "
                                       "pooled with a day that has too few outcomes.")
    degradation_resamples: int = Field(1_000, ge=100, description="Bootstrap resamples (seeded by CHURN_SEED) of the "
                                       "degradation intervals.")
    drift_share: float = Field(0.3, gt=0, le=1, description="Share of drifted features that flags data drift.")
    drift_sample_rows: int = Field(10_000, ge=100, description="Rows sampled per side for the drift report.")
    webhook_url: str = Field("", description="Alerts are POSTed here as JSON when set.")
    batch_reasons: int = Field(3, ge=0, le=3, description="Top reasons per customer that churn_predictions "
                               "writes (reason_1..3: raw column and exact signed contribution); 0: none.")
    batch_reasons_rows: int = Field(100_000, ge=0, description="Most customers per partition given reasons: "
                                    "a larger partition explains its at-risk customers of highest probability "
                                    "(exact explanations run at ~10k rows/s, scoring at ~100k+).")
    scoring_chunk_rows: int = Field(200_000, ge=1_000, description="Rows per chunk when a scoring partition is "
                                    "read, validated, scored and written (memory is bounded by the chunk).")
    # -- evaluation ----------------------------------------------------------------------------
    segment_numeric: str = Field("", description="Comma-separated numeric columns that model_evaluation "
                                 "reports in quartile segments, besides every categorical column and every "
                                 "integer column named like tenure/months/lifetime.")
    card_bootstrap: int = Field(200, ge=0, description="Bootstrap resamples (seeded) behind the model card's "
                                "confidence intervals; 0: no intervals.")
    # -- retention: from churn scores to saved customers (core/retention, docs/RETENTION.md) ------
    retention_campaign: str = Field("retention", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Campaign "
                                    "name: part of the treatment/control hash, the tables' key and the CRM's "
                                    "idempotency keys.")
    retention_capacity: int = Field(500, ge=1, description="Most customers retention_targets selects per day "
                                    "(treated and held-out control together).")
    retention_budget: float = Field(0.0, ge=0, description="Daily budget; > 0 also caps the list at "
                                    "budget / CHURN_RETENTION_COST_PER_CONTACT contacts. 0: no budget.")
    retention_cost_per_contact: float = Field(5.0, ge=0, description="Cost of one contact (offer and "
                                              "handling), subtracted from a contact's expected benefit.")
    retention_save_rate: float = Field(0.3, gt=0, le=1, description="Risk ranking's assumption: share of "
                                       "would-be churners a contact keeps (expected benefit = churn probability "
                                       "x value at stake x this).")
    retention_control_share: float = Field(0.2, ge=0, lt=1, description="Share of the selected customers held "
                                           "out (never contacted) to measure the campaign, by a hash of "
                                           "(campaign, customer id).")
    retention_cooldown_days: int = Field(30, ge=0, description="Customers on the campaign's lists of this many "
                                         "days before are not selected again.")
    retention_dir: Path | None = Field(None, description="CSV of each day's contact list, "
                                       "<campaign>/<day>.csv (default CHURN_HOME/retention).")
    retention_min_outcomes: int = Field(50, ge=1, description="Fewest customers with an outcome per group "
                                        "(treated, control) before campaign_readout decides.")
    crm_webhook_url: str = Field("", description="The CRM's webhook: retention_targets POSTs the day's treated "
                                 "customers here in batches with an Idempotency-Key; empty: off.")
    crm_batch_size: int = Field(500, ge=1, le=10_000, description="Customers per CRM request.")
    crm_retries: int = Field(3, ge=0, description="Retries of a CRM request that failed (connection, 429, "
                             "5xx), waits of 0.5 s x 1, 2, 4, ...")
    # -- personal data (core/privacy, docs/PRIVACY.md) -------------------------------------------
    keep_prediction_log_days: int = Field(180, ge=1, description="Days the prediction log keeps served requests; "
                                          "the daily churn_purge_schedule deletes older rows.")
    keep_scoring_batches_days: int = Field(180, ge=1, description="Days validated scoring batches are kept (outcomes "
                                           "arriving later cannot be labelled); churn_purge_schedule deletes older "
                                           "files.")
    id_hash_keys: SecretStr = Field("", description="Comma-separated keys (a secret, >= 16 characters each) of "
                                    "the keyed hash that pseudonymises customer ids in the prediction log and the "
                                    "list of forgotten customers; the first makes new pseudonyms, all match "
                                    "(rotate: put the new key first). Empty: a key generated once in "
                                    "CHURN_HOME/secrets/id_hash_key.")
    # -- services that go away ---------------------------------------------------------------
    service_retries: int = Field(5, ge=0, description="Retries (Dagster RetryPolicy, exponential backoff) of "
                                 "the steps that talk to MLflow, the registry, Postgres or BentoML.")
    service_retry_delay_s: float = Field(2.0, ge=0, description="Base delay of those retries: waits of about "
                                         "1x, 3x, 7x, 15x, 31x it (2 s: an outage of ~2 min is survived).")

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        home = self.home.resolve()
        fill = {
            "home": home,
            "dagster_home": self.dagster_home or home / "dagster_home",
            "mlflow_tracking_uri": self.mlflow_tracking_uri or f"sqlite:///{home / 'mlflow.db'}",
            "mlflow_artifacts": self.mlflow_artifacts or str(home / "mlartifacts"),
            "optuna_storage": self.optuna_storage or f"sqlite:///{home / 'optuna.db'}",
            "predictions_url": self.predictions_url or f"sqlite:///{home / 'predictions.db'}",
            "reports_dir": self.reports_dir or home / "reports",
            "labels_dir": self.labels_dir or home / "labels",
            "labelled_dir": self.labelled_dir or home / "labelled",
            "scoring_batches_dir": self.scoring_batches_dir or home / "scoring_batches",
            "retention_dir": self.retention_dir or home / "retention",
            "bentoml_home": self.bentoml_home or Path.home() / "bentoml",
        }
        for key, value in fill.items():
            object.__setattr__(self, key, value)  # frozen model: resolved once, here
        return self


class ServingSettings(_Base):
    """The Bento's settings (read once, when the service starts)."""

    home: Path = Field(default_factory=_default_home, description="Root of all local state (embedded default).")
    bento_model: str = Field("churn-classifier:latest", description="BentoML model tag the service loads "
                             "(set by the churn_bento asset at build time).")
    bento_challenger: str = Field("", description="BentoML model tag of the challenger (set by the churn_bento "
                                  "asset at build time when the registry's challenger differs from the champion).")
    bento: str = Field("churn_service:latest", description="Bento that `make serve` serves.")
    http_host: str = Field("127.0.0.1", description="`make serve` HTTP bind address.")
    http_port: int = Field(3000, description="`make serve` HTTP port.")
    grpc_host: str = Field("127.0.0.1", description="gRPC bind address (0.0.0.0 in containers).")
    grpc_port: int = Field(50051, ge=0, description="gRPC port (churn.v1); 0 disables gRPC.")
    serving_workers: int = Field(2, ge=1, description="BentoML worker processes.")
    max_batch_size: int = Field(64, ge=1, description="Largest adaptive batch.")
    batch_wait_ms: float = Field(2.0, ge=0, description="Pinned batching window (see bento/bentoml_patches.py).")
    risk_bands: str = Field("0.3,0.6", description="Probability cut-offs of the low/medium/high risk bands.")
    serving_as_of: str = Field("model", pattern="^(model|today)$", description="`model`: features as of the "
                               "model's as-of date; `today`: the serving day (requests may send `as_of`).")
    access_log: bool = Field(False, description="BentoML access log (costs throughput).")
    lean_routes: bool = Field(True, description="Answer `/predict` and `/predict_batch` from the HTTP edge "
                              "(bento/lean.py; same answers and errors); false: BentoML's own routes.")
    # -- champion/challenger (bento/arms.py) -----------------------------------------------------
    serving_mode: str = Field("single", pattern="^(single|shadow|ab)$", description="`single`: the champion "
                              "answers; `shadow`: the challenger also scores every batch, logged only; `ab`: a "
                              "share of customers (by a hash of the id) get the challenger's answer. shadow/ab "
                              "without a packaged challenger fall back to single, with a warning.")
    ab_challenger_share: float = Field(0.1, ge=0, le=1, description="`ab` mode: share of customers (by a "
                                       "stable hash of the customer id) answered by the challenger.")
    # -- the internet-facing edge (bento/edge.py, bento/keys.py) -------------------------------
    api_keys: SecretStr = Field("", validate_default=True, description="Comma-separated API keys; any of them "
                                "is accepted (rotate: add the new key, move clients, remove the old one). "
                                "Empty and no key file: no authentication.")
    api_key_file: Path | None = Field(None, description="File of API keys, one per line or comma-separated "
                                      "(a mounted Secret); "
                                      "re-read when it changes, so keys rotate without a restart.")
    api_key_reload_s: float = Field(5.0, gt=0, description="How often (at most) each worker checks the key file "
                                    "for a change.")
    open_paths: str = Field("/healthz,/livez,/readyz,/metrics", description="Comma-separated HTTP paths served "
                            "without a key (probes and metrics); gRPC health is always open.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest HTTP request body; a larger "
                                "one gets 413 before it is read.")
    http_recycle_every: int = Field(500, ge=0, description="Every Nth HTTP response of a worker asks its client "
                                    "to reconnect (Connection: close), so keep-alive clients spread again over "
                                    "the workers after one restarts; 0: never.")
    grpc_max_connection_age_s: float = Field(20.0, ge=0, description="A gRPC connection is closed gracefully "
                                             "(GOAWAY: calls in flight finish, clients reconnect transparently) "
                                             "after about this many seconds (+-10% jitter), so long-lived clients "
                                             "spread again over the workers after one restarts; 0: never.")
    # -- the prediction log (churn_assets/model/prediction_log.py) ------------------------------
    id_hash_keys: SecretStr = Field("", description="Comma-separated keys (a secret, >= 16 characters each) of "
                                    "the keyed hash that pseudonymises customer ids in the prediction log and the "
                                    "list of forgotten customers; the first makes new pseudonyms, all match "
                                    "(rotate: put the new key first). Empty: a key generated once in "
                                    "CHURN_HOME/secrets/id_hash_key.")
    prediction_log: bool = Field(True, description="Append every served prediction to the prediction log.")
    prediction_log_url: str = Field("", description="SQLAlchemy URL of the prediction log "
                                    "(default sqlite:///CHURN_HOME/prediction_log.db).")
    prediction_log_queue: int = Field(50_000, ge=1, description="Predictions waiting to be written, per "
                                      "worker; when full, new ones are dropped and counted, never waited for.")
    prediction_log_batch: int = Field(2_000, ge=1, description="Most rows per prediction-log write.")
    prediction_log_flush_ms: float = Field(250.0, gt=0, description="Longest wait before the prediction-log "
                                           "writer writes a partial batch.")

    @field_validator("api_key_file", mode="before")
    @classmethod
    def _no_file(cls, v: Any) -> Any:
        return None if v == "" else v  # an empty variable means no file, not the current folder

    @model_validator(mode="after")
    def _resolve_log(self) -> ServingSettings:
        if not self.prediction_log_url:
            url = f"sqlite:///{self.home.resolve() / 'prediction_log.db'}"
            object.__setattr__(self, "prediction_log_url", url)  # frozen model: resolved once, here
        return self

    @property
    def bands(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.risk_bands.split(","))

    @property
    def open_path_set(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.open_paths.split(",") if p.strip())


SETTINGS_CLASSES = (Settings, ServingSettings)


def env_names(cls: type[_Base]) -> dict[str, str]:
    """Field name -> the environment variable that sets it."""
    prefix = cls.model_config["env_prefix"]
    out = {}
    for name, f in cls.model_fields.items():
        alias = f.validation_alias
        out[name] = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{name}".upper()
    return out


def environment_snapshot() -> dict[str, str]:
    """The process environment as it is now: what a child process started now inherits (runs.multiprocess
    compares snapshots to know when its fork server went stale). The one place outside the settings
    classes that reads it."""
    return dict(os.environ)


def known_variables() -> set[str]:
    return {v for cls in SETTINGS_CLASSES for v in env_names(cls).values()}


# Variables with the CHURN_ prefix that are not settings: test-only knobs.
_NOT_SETTINGS = {"CHURN_TEST_PG_ADMIN", "CHURN_TEST_PG_URL"}


def unknown_variables(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each unknown ``CHURN_*`` variable with the closest known one (or None)."""
    environ = os.environ if environ is None else environ
    known = sorted(known_variables())
    return {k: next(iter(difflib.get_close_matches(k, known, n=1, cutoff=0.6)), None)
            for k in environ if k.startswith("CHURN_") and k not in known and k not in _NOT_SETTINGS}


def warn_unknown(environ: Mapping[str, str] | None = None) -> list[str]:
    warnings = []
    for name, close in sorted(unknown_variables(environ).items()):
        hint = f"; did you mean {close}?" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
        log.warning(warnings[-1])
    return warnings


_TYPE_NAMES = {"Path": "path", "pathlib.Path | None": "path", "<class 'pathlib.Path'>": "path"}


def settings_table() -> str:
    """The Markdown table of every variable (docs/OPERATIONS.md, "Environment variables")."""
    rows = ["| variable | type | default | what it does |", "|---|---|---|---|"]
    seen = set()
    for cls in SETTINGS_CLASSES:
        names = env_names(cls)
        for name, f in cls.model_fields.items():
            if names[name] in seen:  # CHURN_HOME: one variable, read by both objects
                continue
            seen.add(names[name])
            default = "" if f.default_factory else f.default
            kind = _TYPE_NAMES.get(str(f.annotation), getattr(f.annotation, "__name__", str(f.annotation)))
            rows.append(f"| `{names[name]}` | {kind} | {'`' + str(default) + '`' if default not in ('', None) else ''} "
                        f"| {f.description} |")
    return "\n".join(rows)
