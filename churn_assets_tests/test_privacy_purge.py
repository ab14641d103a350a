"""Retention of personal data: the prediction log and the scoring batches keep a configured number of
days; the daily churn_purge job deletes the rest and says how much (SQLite and PostgreSQL)."""

import datetime as dt
import json

import dagster as dg
import pytest
import sqlalchemy as sa

from churn_assets.core.privacy.purge import cutoff, purge
from churn_assets.model.prediction_log import LOG_TABLE, engine
from churn_assets_tests.conftest import settings
from churn_assets_tests.pg import requires_pg, temp_database

AS_OF = dt.date(2025, 9, 30)


def _log(url: str, days: list[dt.date]) -> None:
    eng = engine(url)
    LOG_TABLE.metadata.create_all(eng, tables=[LOG_TABLE])
    with eng.begin() as conn:
        conn.execute(LOG_TABLE.insert(), [
            {"request_id": f"r{i}", "served_at": dt.datetime.combine(d, dt.time(23, 59, 59)), "transport": "http",
             "model_version": "1", "customer_id": f"C{i}", "record": json.dumps({"customer_id": f"C{i}"}),
             "probability": 0.5, "arm": "champion", "served": True} for i, d in enumerate(days)])
    eng.dispose()


def _left(url: str) -> list[str]:
    eng = engine(url)
    with eng.connect() as conn:
        out = [r[0] for r in conn.execute(sa.select(LOG_TABLE.c.customer_id).order_by(LOG_TABLE.c.id))]
    eng.dispose()
    return out


def _batches(root, days: list[dt.date]) -> None:
    for d in days:
        (root / "telecom").mkdir(parents=True, exist_ok=True)
        (root / "telecom" / f"{d.isoformat()}.parquet").write_bytes(b"PAR1 rows of customers PAR1")
    (root / "telecom" / "notes.parquet").write_bytes(b"not a day: left alone")


def test_cutoff_counts_back_from_the_day_given():
    assert cutoff(AS_OF, 1) == AS_OF and cutoff(AS_OF, 30) == dt.date(2025, 9, 1)
    with pytest.raises(ValueError, match="keep at least one day"):
        cutoff(AS_OF, 0)


def _purge_and_check(url: str, tmp_path) -> None:
    days = [AS_OF - dt.timedelta(days=n) for n in (40, 31, 30, 29, 0)]  # kept: the last 30 days, 09-01..09-30
    _log(url, days)
    _batches(tmp_path / "batches", days)
    done = purge(AS_OF, url, 30, str(tmp_path / "batches"), 30)
    assert done.cutoff_log == done.cutoff_batches == "2025-09-01"
    assert done.log_rows == 3 and _left(url) == ["C3", "C4"]  # served 08-21, 08-30, 08-31 23:59:59: gone
    assert sorted(p.rsplit("/", 1)[1] for p in done.batch_files) == [
        "2025-08-21.parquet", "2025-08-30.parquet", "2025-08-31.parquet"]
    assert sorted(p.name for p in (tmp_path / "batches" / "telecom").iterdir()) == [
        "2025-09-01.parquet", "2025-09-30.parquet", "notes.parquet"]
    again = purge(AS_OF, url, 30, str(tmp_path / "batches"), 30)  # idempotent
    assert again.log_rows == 0 and again.batch_files == []


def test_purge_on_sqlite(tmp_path):
    _purge_and_check(f"sqlite:///{tmp_path}/log.db", tmp_path)


@requires_pg
@pytest.mark.integration
def test_purge_on_postgres(tmp_path):
    with temp_database("churn_purge") as url:
        _purge_and_check(url, tmp_path)


def test_the_daily_job_and_its_schedule(tmp_path):
    from churn_assets.definitions import build_defs
    from churn_assets.model.settings import ServingSettings

    url = f"sqlite:///{tmp_path}/log.db"
    _log(url, [AS_OF - dt.timedelta(days=200), AS_OF])
    _batches(tmp_path / "batches", [AS_OF - dt.timedelta(days=200), AS_OF])
    s = settings(home=tmp_path, scoring_batches_dir=tmp_path / "batches")
    defs = build_defs(s, ServingSettings(home=tmp_path, prediction_log_url=url))
    schedule = defs.resolve_schedule_def("churn_purge_schedule")
    [request] = schedule.evaluate_tick(dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2025, 9, 30, 4, 30, tzinfo=dt.UTC))).run_requests
    assert request.run_config == {"ops": {"purge_expired": {"config": {"as_of": "2025-09-30"}}}}
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("churn_purge").execute_in_process(instance=instance,
                                                                        run_config=request.run_config)
    meta = {k: v.value for e in result.all_events if e.is_successful_output
            for k, v in e.step_output_data.metadata.items()}
    assert meta["prediction_log_rows_deleted"] == 1 and meta["scoring_batch_files_deleted"] == 1
    assert meta["prediction_log_kept_from"] == "2025-04-04" and meta["files"] == ["telecom/2025-03-14.parquet"]
    assert _left(url) == ["C1"]
