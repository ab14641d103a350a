"""Forget a customer everywhere (issue 27): pseudonyms, every store kind the platform writes (tables
on SQLite and PostgreSQL, Parquet, CSV, text, Dagster's pickled asset values), the suppression list,
the audit row and idempotence. The whole graph with the CLI is in test_personal_data.py."""

import datetime as dt
import os
import pickle
import stat

import pandas as pd
import pytest
import sqlalchemy as sa

from churn_assets.core.privacy.forget import (
    FORGOTTEN,
    Stores,
    audit,
    drop_suppressed,
    forget,
    suppressed,
    without_forgotten,
)
from churn_assets.core.training.asset_values import Splits
from churn_assets.model.prediction_log import PredictionLog, read_day
from churn_assets.model.pseudonym import KEY_FILE, Pseudonyms, ensure_key_file, is_pseudonym
from churn_assets_tests.pg import requires_pg, temp_database

SENTINEL = "ZZ-SENTINEL-4711"
KEY, OLD_KEY = "k" * 32, "o" * 32


def test_pseudonyms_are_keyed_stable_and_rotate():
    ring, other = Pseudonyms([KEY]), Pseudonyms(["x" * 32])
    p = ring.of(SENTINEL)
    assert is_pseudonym(p) and SENTINEL not in p and p == ring.of(SENTINEL) and p != other.of(SENTINEL)
    assert ring.many([SENTINEL, "C2"]) == [p, ring.of("C2")] and ring.of(None) is None
    rotated = Pseudonyms([KEY + "new", KEY])  # a new key first: new pseudonyms, the old ones still match
    assert rotated.of(SENTINEL) != p and p in rotated.every(SENTINEL)
    with pytest.raises(ValueError, match="shorter than 16"):
        Pseudonyms(["short"])
    with pytest.raises(ValueError, match="no id hash key"):
        Pseudonyms([" ", ""])


def test_the_embedded_default_makes_one_private_key(tmp_path):
    a = Pseudonyms.from_settings("", tmp_path)
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert Pseudonyms.from_settings("", tmp_path).of("C1") == a.of("C1") == Pseudonyms(
        [ensure_key_file(key_file)]).of("C1")
    assert Pseudonyms.from_settings(f"{KEY},{OLD_KEY}", tmp_path).of("C1") == Pseudonyms([KEY]).of("C1")


def test_the_prediction_log_stores_pseudonyms_only(tmp_path):
    ring, url = Pseudonyms([KEY]), f"sqlite:///{tmp_path}/log.db"
    plog = PredictionLog(url, flush_s=0.05, pseudonyms=ring, id_field="cust").start()
    plog.append("r1", "http", "1", {"cust": SENTINEL, "tenure": 3}, 0.4, SENTINEL)
    plog.append("r2", "http", "1", {"tenure": 5}, 0.6, None)
    plog.close()
    day = read_day(url, dt.datetime.now(dt.UTC).date().isoformat())
    assert list(day["customer_id"].fillna("none")) == [ring.of(SENTINEL), "none"]
    assert SENTINEL.encode() not in (tmp_path / "log.db").read_bytes()


def _plant(root, url: str, ring: Pseudonyms) -> Stores:
    """One row of the sentinel (and rows of others) in each kind of store the platform writes."""
    folders = root / "batches"
    (folders / "shop").mkdir(parents=True)
    others = [f"C{i}" for i in range(50)]
    frame = pd.DataFrame({"cid": [SENTINEL, *others], "tenure": range(51)})
    frame.to_parquet(folders / "shop" / "2025-07-01.parquet", index=False)
    frame.to_csv(folders / "list.csv", index=False)
    (folders / "report.html").write_text(f"<td>{SENTINEL}</td><td>C1</td><td>C11</td>")
    (folders / "notes.parquet").write_bytes(pd.DataFrame({"x": [1]}).to_parquet())  # no id: untouched
    storage = root / "storage"
    (storage / "training_splits").mkdir(parents=True)
    splits = Splits(frame.head(20), frame.iloc[20:30], frame.iloc[30:])
    (storage / "training_splits" / "result").write_bytes(pickle.dumps(splits))
    (storage / "raw_customers").mkdir()
    (storage / "raw_customers" / "result").write_bytes(pickle.dumps(frame.set_index("cid")))
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        pd.DataFrame({"customer_id": [SENTINEL, *others], "p": 0.5}).to_sql("predictions", conn, index=False)
        pd.DataFrame({"cid": [SENTINEL], "day": ["2025-07-01"]}).to_sql("retention_list", conn, index=False)
        pd.DataFrame({"customer_id": [ring.of(SENTINEL), ring.of("C1")]}).to_sql("prediction_log", conn, index=False)
        pd.DataFrame({"other": ["x"]}).to_sql("unrelated", conn, index=False)
    eng.dispose()
    return Stores("cid", [url], [folders], storage)


def _tables_holding(url: str, needle: str) -> list[str]:
    eng, out = sa.create_engine(url), []
    with eng.connect() as conn:
        for name in sa.inspect(eng).get_table_names():
            text = pd.read_sql(sa.text(f'SELECT * FROM "{name}"'), conn).astype(str).to_csv()
            if needle in text:
                out.append(name)
    eng.dispose()
    return out


def _forget_everywhere(tmp_path, url: str) -> None:
    ring = Pseudonyms([KEY, OLD_KEY])
    stores = _plant(tmp_path, url, ring)
    trained = {"m/1": {ring.of(SENTINEL)}, "m/2": {ring.of("C3")}}
    done = forget([ring.of(SENTINEL)], stores, ring, lambda t: [m for m, r in trained.items() if r & t],
                  run_id="r1", now=dt.datetime(2025, 7, 2, tzinfo=dt.UTC))
    assert done.customers == 1 and done.found_ids == 1 and done.models == ["m/1"] and done.newly_suppressed == 1
    assert done.stores == {"table predictions": 1, "table retention_list": 1, "table prediction_log": 1,
                           "files batches": 2, "asset values": 2, "text files": 1}, done.stores
    found = [str(p) for p in tmp_path.rglob("*") if p.is_file() and SENTINEL.encode() in p.read_bytes()]
    assert found == [], found
    assert _tables_holding(url, SENTINEL) == [] and sorted(_tables_holding(url, ring.of(SENTINEL))) == [
        "forget_audit", "forgotten_customers"]  # only as the audit's and the suppression list's hash
    assert (tmp_path / "batches" / "report.html").read_text() == f"<td>{FORGOTTEN}</td><td>C1</td><td>C11</td>"
    assert len(pd.read_parquet(tmp_path / "batches" / "shop" / "2025-07-01.parquet")) == 50
    splits = pickle.loads((tmp_path / "storage" / "training_splits" / "result").read_bytes())
    assert splits.sizes() == {"train": 19, "val": 10, "test": 21}

    again = forget([ring.of(SENTINEL)], stores, ring, lambda t: [], run_id="r2")
    assert again.rows_removed == 0 and again.newly_suppressed == 0 and again.stores == {}
    rows = audit(url)
    assert list(rows["run_id"]) == ["r1", "r2"] and list(rows["rows_removed"]) == [8, 0]
    assert suppressed(url) == {ring.of(SENTINEL)}
    back = pd.DataFrame({"cid": [SENTINEL, "C9"], "tenure": [1, 2]})  # the source still holds the customer
    kept, dropped = drop_suppressed(back, "cid", url, lambda: ring)
    assert dropped == 1 and list(kept["cid"]) == ["C9"]
    chunks = list(without_forgotten(iter([back, back]), "cid", url, lambda: Pseudonyms([OLD_KEY + "x", KEY])))
    assert [list(c["cid"]) for c in chunks] == [["C9"], ["C9"]]  # a rotated ring still matches


def test_forget_everywhere_on_sqlite(tmp_path):
    _forget_everywhere(tmp_path, f"sqlite:///{tmp_path}/predictions.db")


@requires_pg
@pytest.mark.integration
def test_forget_everywhere_on_postgres(tmp_path):
    with temp_database("churn_forget") as url:
        _forget_everywhere(tmp_path, url)


def test_nothing_to_forget_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no customer"):
        forget([" "], Stores("cid", [f"sqlite:///{tmp_path}/p.db"], []), Pseudonyms([KEY]))
