"""The prediction log: bounded and never blocking (in process and served, on live PostgreSQL),
and the Dagster assets that read it back: served_predictions and live_drift_report."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import time

import bentoml
import httpx
import pytest

from churn_assets.model.contract import DataContract
from churn_assets.model.prediction_log import PredictionLog, read_day
from churn_assets_tests.conftest import settings
from churn_assets_tests.pg import requires_pg, temp_database
from churn_assets_tests.serving_fixtures import bento_server, json_records, metric

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
RECORD = {"customer_id": "C1", "total_spent": 12.5, "signup_date": dt.date(2024, 1, 2), "as_of": None}
needs_pg = requires_pg


def test_full_queue_drops_and_counts_instead_of_waiting(tmp_path):
    counted = []
    plog = PredictionLog(f"sqlite:///{tmp_path}/log.db", queue_size=5, count=lambda o, n: counted.append((o, n)))
    accepted = [plog.append(f"r{i}", "http", "1", RECORD, 0.5) for i in range(100)]  # writer not started
    assert accepted == [True] * 5 + [False] * 95
    assert plog.dropped == 95 and counted == [("dropped", 1)] * 95
    plog.start()
    plog.close()
    assert plog.written == 5 and len(read_day(plog.url, TODAY)) == 5


def test_a_store_outage_loses_log_rows_never_raises(tmp_path):
    from churn_assets.local.services import free_port

    plog = PredictionLog(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere", flush_s=0.05).start()
    assert all(plog.append(f"r{i}", "grpc", "1", RECORD, 0.1) for i in range(20))
    plog.close(timeout=30)
    assert plog.failed == 20 and plog.written == 0


def test_a_log_written_before_arms_gains_them_in_place(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/old.db"
    eng = sa.create_engine(url)
    with eng.begin() as conn:  # the table as the first release created it (no arm, no served)
        conn.exec_driver_sql("CREATE TABLE prediction_log (id INTEGER PRIMARY KEY, request_id VARCHAR(64) NOT NULL, "
                             "served_at DATETIME NOT NULL, transport VARCHAR(8) NOT NULL, model_version VARCHAR(64) "
                             "NOT NULL, customer_id VARCHAR(256), record TEXT NOT NULL, probability FLOAT NOT NULL)")
        conn.exec_driver_sql("INSERT INTO prediction_log (request_id, served_at, transport, model_version, record, "
                             f"probability) VALUES ('old', '{TODAY} 00:00:01', 'http', '1', '{{}}', 0.25)")
    eng.dispose()
    plog = PredictionLog(url, flush_s=0.05).start()
    plog.append("new", "grpc", "2", RECORD, 0.75, "C1", arm="challenger", served=False)
    plog.close(timeout=30)
    df = read_day(url, TODAY)
    assert df[["request_id", "arm", "served"]].values.tolist() == [["old", "champion", True],
                                                                   ["new", "challenger", False]]


@needs_pg
def test_rows_round_trip_on_postgres():
    with temp_database("plog") as url:
        plog = PredictionLog(url, batch_rows=300, flush_s=0.05).start()
        for i in range(1000):
            plog.append(f"req-{i // 2}", "http", "7", {**RECORD, "total_spent": float(i)}, i / 1000, f"C{i}")
        plog.close(timeout=30)
        df = read_day(url, TODAY)
        assert plog.written == 1000 and len(df) == 1000
        assert df["total_spent"].tolist() == [float(i) for i in range(1000)]
        assert df["signup_date"].iloc[0] == "2024-01-02" and df["request_id"].nunique() == 500
        assert read_day(url, "2020-01-01").empty


@needs_pg
def test_served_log_on_postgres_with_a_full_queue(trained, tmp_path):
    """One worker, a one-row queue, 300 concurrent predictions: every request answers 200, the
    overflow is dropped and counted in /metrics, and what was written is in PostgreSQL."""
    bento = trained["bento"]
    contract = DataContract.from_json(bentoml.models.get(bento["model_tag"]).info.metadata["contract"])
    records = json_records(trained["splits"].test.head(300), contract)
    with temp_database("plog_served") as url:
        env = {"CHURN_PREDICTION_LOG_URL": url, "CHURN_PREDICTION_LOG_QUEUE": "1", "CHURN_SERVING_WORKERS": "1"}
        with bento_server(bento["bento_tag"], tmp_path, env) as server:
            with cf.ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(lambda r: httpx.post(server.http + "/predict", json={"customer": r},
                                                           timeout=30).status_code, records))
            time.sleep(1.0)  # the writer's last batch
            dropped = metric(server.http, "churn_prediction_log_rows_total", outcome="dropped")
            written = metric(server.http, "churn_prediction_log_rows_total", outcome="written")
        rows = read_day(url, TODAY)
    assert codes == [200] * 300
    assert dropped > 0 and written >= 1 and dropped + written == 300
    assert len(rows) == written and rows["transport"].eq("http").all()


# -- the Dagster assets ----------------------------------------------------------------------------

def _write_log(url, frame, contract, pipeline, version="1"):
    from churn_assets.model.scorer import records_to_frame

    records = json_records(frame, contract)
    probs = pipeline.predict_proba(records_to_frame(records, contract))[:, 1]
    plog = PredictionLog(url, flush_s=0.05).start()
    for i, (r, p) in enumerate(zip(records, probs)):
        plog.append(f"req-{i}", "http", version, r, float(p), str(r[contract.id_column]))
    plog.close(timeout=30)
    return len(records)


def _materialize(url, reports, champion: str, trained_settings):
    """Pinned to the model that served the log: other tests train and may promote new versions of
    the session's model (e.g. on shifted data), which would move the drift reference."""
    import dagster as dg

    from churn_assets.definitions import build_defs
    from churn_assets.defs.common.mlflow import CHAMPION_TAG
    from churn_assets.model.settings import ServingSettings

    s = settings(trained_settings, reports_dir=reports)
    defs = build_defs(s, ServingSettings(home=s.home, prediction_log_url=url))
    assets = [defs.resolve_assets_def(k) for k in ("served_predictions", "live_drift_report")]
    # The assets come resolved from the definitions, with their resources bound.
    result = dg.materialize(assets, partition_key=TODAY, tags={CHAMPION_TAG: champion})
    mats = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return result, mats


def test_live_drift_report_on_served_traffic(trained, tmp_path):
    from churn_assets.core.data.synthetic import generate_customers

    bento = trained["bento"]
    model = bentoml.models.get(bento["model_tag"])
    contract = DataContract.from_json(model.info.metadata["contract"])
    pipeline = bentoml.sklearn.load_model(model)
    version = str(bento["model_version"])
    reports = tmp_path / "reports"

    clean_url = f"sqlite:///{tmp_path}/clean.db"
    n = _write_log(clean_url, trained["splits"].test.head(600), contract, pipeline)
    result, mats = _materialize(clean_url, reports, version, trained["settings"])
    assert len(result.output_for_node("served_predictions")) == n
    assert mats["served_predictions"]["dagster/row_count"].value == n
    assert mats["live_drift_report"]["drift_detected"].value is False
    assert mats["live_drift_report"]["rows_current"].value == n

    drifted = generate_customers(800, seed=5, as_of=dt.date.fromisoformat(contract.as_of), shift="engagement_drop",
                                 with_labels=False)
    drifted_url = f"sqlite:///{tmp_path}/drifted.db"
    _write_log(drifted_url, drifted, contract, pipeline)
    result, mats = _materialize(drifted_url, reports, version, trained["settings"])
    report = result.output_for_node("live_drift_report")
    assert mats["live_drift_report"]["drift_detected"].value is True and report["drift_detected"] is True
    assert report["source"] == "served" and len(report["drifted_columns"]) >= 3
    assert (tmp_path / "reports" / "drift" / f"live-{TODAY}.html").is_file()

    quiet_url = f"sqlite:///{tmp_path}/quiet.db"
    _write_log(quiet_url, trained["splits"].test.head(10), contract, pipeline)
    _, mats = _materialize(quiet_url, reports, version, trained["settings"])
    assert mats["live_drift_report"]["drift_detected"].value is False and "skipped" in mats["live_drift_report"]

