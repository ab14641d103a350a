"""The predictions table with reason columns, on SQLite and PostgreSQL, including a table created
before the reason columns existed (upgraded in place, rows kept)."""

import contextlib
import datetime as dt
import sqlite3
import threading

import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from churn_assets.core.scoring import predictions_table as predictions
from churn_assets_tests.pg import requires_pg, temp_database


def _rows(n: int, reasons: bool) -> pd.DataFrame:
    df = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "churn_probability": [0.1 * i for i in range(n)],
                       "will_churn": [i % 2 == 0 for i in range(n)], "risk": "low", "model_name": "m",
                       "model_version": "1", "scored_at": dt.datetime(2025, 7, 1, tzinfo=dt.UTC)})
    if reasons:
        df["reason_1"] = [f"support_tickets:+{i}.00" for i in range(n)]
        df["reason_2"] = "total_spent:-0.10"
        df["reason_3"] = [None] * n  # fewer raw columns than reasons
    return df


def _old_table(url: str) -> None:
    """The table as main created it before reasons: no reason_* columns, one partition of rows."""
    eng = sa.create_engine(url)
    meta = sa.MetaData()
    old = sa.Table(predictions.TABLE, meta, *[sa.Column(c.name, c.type, primary_key=c.primary_key)
                                              for c in predictions.predictions.columns if not c.name.startswith("reason")])
    meta.create_all(eng)
    with eng.begin() as conn:
        conn.execute(old.insert(), _rows(2, False).assign(partition="2025-06-30").to_dict("records"))
    eng.dispose()


def _check(url: str) -> None:
    _old_table(url)
    assert predictions.replace_partition(url, "2025-07-01", _rows(3, True)) == 3
    assert predictions.replace_partition(url, "2025-07-02", _rows(2, False)) == 2  # callers without reasons
    got = predictions.read_partition(url, "2025-07-01").sort_values("customer_id")
    assert got["reason_1"].tolist() == ["support_tickets:+0.00", "support_tickets:+1.00", "support_tickets:+2.00"]
    assert got["reason_3"].isna().all()
    assert predictions.read_partition(url, "2025-07-02")["reason_1"].isna().all()
    old = predictions.read_partition(url, "2025-06-30")
    assert len(old) == 2 and old["reason_1"].isna().all()  # earlier rows kept, reasons NULL


def test_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path}/p.db")


@requires_pg
def test_postgres():
    with temp_database() as url:
        _check(url)


def _rows_for(ids, probs):
    return pd.DataFrame({"customer_id": ids, "churn_probability": probs, "will_churn": [p >= 0.5 for p in probs],
                         "risk": "low", "model_name": "m", "model_version": "1",
                         "scored_at": dt.datetime(2025, 7, 1, tzinfo=dt.UTC)})


def test_partition_round_trip_and_alignment(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    assert predictions.replace_partition(url, "2025-07-01", _rows_for(["a", "b", "c"], [0.1, 0.7, 0.4])) == 3
    predictions.replace_partition(url, "2025-07-02", _rows_for(["a"], [0.9]))
    predictions.replace_partition(url, "2025-07-01", _rows_for(["c", "b", "a"], [0.41, 0.71, 0.11]))  # re-run replaces
    stored = predictions.read_partition(url, "2025-07-01")
    assert len(stored) == 3 and set(stored["partition"]) == {"2025-07-01"}
    batch_ids = pd.Series([3, 1, 2]).map({1: "a", 2: "b", 3: "c"})  # the batch's own order
    assert np.array_equal(predictions.scores_for(stored, batch_ids), [0.41, 0.11, 0.71])
    with pytest.raises(ValueError, match=r"1 customers of the batch have no stored prediction \(e.g. \['zz'\]\)"):
        predictions.scores_for(stored, pd.Series(["a", "zz"]))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=requires_pg)])
def test_many_rows_per_statement_keep_every_row_and_value(tmp_path, backend):
    """SQLite gets multi-row INSERTs of up to 999 bound values, rows without reasons apart: row counts
    that are not a multiple of a statement, and the explained rows interleaved, all come back exact."""
    n = 2 * (predictions._SQLITE_PARAMS // 4) + 7
    rng = np.random.default_rng(5)
    p = rng.random(n)
    rows = _rows_for([f"c{i:05d}" for i in rng.permutation(n)], p.tolist())
    rows["risk"] = np.where(p > 0.5, "high", "low")
    rows["reason_1"] = [f"r1:{i}" if i % 3 == 0 else None for i in range(n)]
    rows["reason_2"] = [f"r2:{i}" if i % 6 == 0 else None for i in range(n)]
    with temp_database() if backend == "postgres" else contextlib.nullcontext(f"sqlite:///{tmp_path}/p.db") as url:
        assert predictions.replace_partition(url, "2025-07-01", rows) == n
        got = predictions.read_partition(url, "2025-07-01").set_index("customer_id").loc[rows["customer_id"]]
    assert np.array_equal(got["churn_probability"].to_numpy(), p)
    assert got["risk"].tolist() == rows["risk"].tolist()
    for c in ("reason_1", "reason_2", "reason_3"):
        want = rows[c].tolist() if c in rows else [None] * n
        assert [None if pd.isna(v) else v for v in got[c]] == want


def test_background_writer_raises_the_last_writes_error_at_exit_and_rolls_back(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    predictions.replace_partition(url, "2025-07-01", _rows_for(["old"], [0.5]))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), predictions.BackgroundWriter(url, "2025-07-01") as w:
        w.write(_rows_for(["a", "b"], [0.1, 0.2]))
        w.write(_rows_for(["c", "c"], [0.3, 0.3]))  # the body ends before this write fails
    assert predictions.read_partition(url, "2025-07-01")["customer_id"].tolist() == ["old"]
    threads = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("predictions-writer") for n in threads), threads


def test_background_writer_that_cannot_connect_fails_at_once():
    with pytest.raises(sa.exc.OperationalError, match="port 9 failed"):
        predictions.BackgroundWriter("postgresql+psycopg://postgres@127.0.0.1:9/none", "2025-07-01")
    assert not any(t.name.startswith("predictions-writer") for t in threading.enumerate())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=requires_pg)])
def test_scoring_times_flags_and_missing_values(tmp_path, backend):
    """Each distinct scoring time is formatted once: several in one chunk, in another time zone or
    naive (read as UTC), all come back as the same instants; flags come back as booleans; a missing
    value in a NOT NULL column fails the write, names the column and keeps the partition as it was."""
    times = [dt.datetime(2025, 7, 1, 9, 30, 15, 123456, tzinfo=dt.UTC),
             dt.datetime(2025, 7, 1, 11, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
             dt.datetime(2025, 7, 2, 0, 0, 0, 1)]  # naive: UTC
    rows = _rows_for(["a", "b", "c", "d"], [0.1, 0.7, 0.4, 0.9]).assign(scored_at=[times[0], times[1], times[2], times[0]])
    micro = _rows_for(["e"], [0.5]).assign(scored_at=pd.Series([times[0]]).astype("datetime64[us, UTC]"))
    with temp_database() if backend == "postgres" else contextlib.nullcontext(f"sqlite:///{tmp_path}/p.db") as url:
        predictions.replace_partition(url, "2025-07-01", rows)
        predictions.replace_partition(url, "2025-07-03", micro)  # microsecond resolution, not pandas' ns
        got = predictions.read_partition(url, "2025-07-01").set_index("customer_id").loc[["a", "b", "c", "d"]]
        got_micro = predictions.read_partition(url, "2025-07-03")["scored_at"]
        bad = rows.assign(churn_probability=[0.2, np.nan, 0.3, 0.4])
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError), match="churn_probability"):
            predictions.replace_partition(url, "2025-07-01", bad)
        kept = predictions.read_partition(url, "2025-07-01")
    at = pd.to_datetime(got["scored_at"], utc=True) if backend == "sqlite" else got["scored_at"].dt.tz_convert("UTC")
    want = [pd.Timestamp(t if t.tzinfo else t.replace(tzinfo=dt.UTC)).tz_convert("UTC") for t in rows["scored_at"]]
    assert list(at) == want
    assert pd.Timestamp(got_micro.iloc[0]).tz_localize(None) == pd.Timestamp(times[0]).tz_localize(None)
    assert got["will_churn"].tolist() == [False, True, False, True]
    assert sorted(kept["churn_probability"]) == [0.1, 0.4, 0.7, 0.9]
