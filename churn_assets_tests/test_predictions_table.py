"""The predictions table with reason columns, on SQLite and PostgreSQL, including a table created
before the reason columns existed (upgraded in place, rows kept)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from churn_assets.core import predictions
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
