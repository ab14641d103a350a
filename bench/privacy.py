"""Benchmark "forget": forgetting 10,000 customers in a 1M-row state (python -m bench.privacy; also a
section of `make bench`). Target (issue 27): under a minute on this machine kind.

The state, built with the platform's own writers and formats: a predictions table of 1M rows and a
prediction log of 1M rows (pseudonymised by the Bento's writer class), 1M rows of scoring batches in
10 daily Parquet files, a retention list CSV, and Dagster's pickled asset values (raw customers and
the train/val/test splits, 1M rows each). ``forget`` runs on it as the churn_forget job runs it, with
the request given as pseudonyms. The baseline in the same run: reading every store once (what any
forget must at least do), so the ratio is host-independent.
"""

from __future__ import annotations

import datetime as dt
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from bench.common import table, write

ROWS, FORGET, DAYS = 1_000_000, 10_000, 10
KEY = "bench-key-0123456789abcdef"


def build_state(root: Path, rows: int = ROWS):
    from churn_assets.core.training.asset_values import Splits
    from churn_assets.model.prediction_log import LOG_TABLE, engine
    from churn_assets.model.pseudonym import Pseudonyms

    ring = Pseudonyms([KEY])
    rng = np.random.default_rng(7)
    ids = np.array([f"C{i:08d}" for i in range(rows)])
    frame = pd.DataFrame({"customer_id": ids, "tenure": rng.integers(0, 72, rows),
                          "monthly": rng.normal(60, 20, rows).round(2), "plan": rng.choice(["a", "b", "c"], rows)})
    url = f"sqlite:///{root}/predictions.db"
    eng = sa.create_engine(url)
    day = np.repeat([f"2025-07-{d + 1:02d}" for d in range(DAYS)], rows // DAYS + 1)[:rows]
    pd.DataFrame({"customer_id": ids, "day": day, "churn_probability": rng.random(rows)}).to_sql(
        "predictions", eng, index=False, chunksize=100_000)
    frame.head(rows // 10).assign(day="2025-07-01").to_csv(root / "retention.csv", index=False)
    eng.dispose()
    log_url = f"sqlite:///{root}/prediction_log.db"
    log_eng = engine(log_url)
    LOG_TABLE.metadata.create_all(log_eng, tables=[LOG_TABLE])
    hashed = ring.many(ids)
    now = dt.datetime(2025, 7, 1)
    with log_eng.begin() as conn:
        for i in range(0, rows, 100_000):
            conn.execute(LOG_TABLE.insert(), [
                {"request_id": f"r{j}", "served_at": now, "transport": "http", "model_version": "1",
                 "customer_id": hashed[j], "record": "{}", "probability": 0.5, "arm": "champion", "served": True}
                for j in range(i, min(i + 100_000, rows))])
    log_eng.dispose()
    batches = root / "scoring_batches" / "shop"
    batches.mkdir(parents=True)
    step = -(-rows // DAYS)
    for d in range(DAYS):
        frame.iloc[d * step:(d + 1) * step].to_parquet(batches / f"2025-07-{d + 1:02d}.parquet", index=False)
    storage = root / "storage"
    for name, value in {"raw_customers": frame,
                        "training_splits": Splits(frame.iloc[: rows * 6 // 10], frame.iloc[rows * 6 // 10: rows * 8 // 10],
                                                  frame.iloc[rows * 8 // 10:])}.items():
        (storage / name).mkdir(parents=True)
        (storage / name / "result").write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return ring, ids, [url, log_url], [root / "scoring_batches", root], storage


def read_everything(urls: list[str], folders: list[Path], storage: Path) -> int:
    """The floor: every store read once (tables' id columns, Parquet, CSV, pickles)."""
    n = 0
    for url in urls:
        eng = sa.create_engine(url)
        with eng.connect() as conn:
            for t in sa.inspect(eng).get_table_names():
                n += len(pd.read_sql(sa.text(f'SELECT customer_id FROM "{t}"'), conn))
        eng.dispose()
    for folder in folders:
        for p in folder.glob("*.parquet"):
            n += len(pd.read_parquet(p))
        for p in folder.glob("*/*.parquet"):
            n += len(pd.read_parquet(p))
        for p in folder.glob("*.csv"):
            n += len(pd.read_csv(p, dtype=str))
    for p in storage.rglob("result"):
        pickle.loads(p.read_bytes())
    return n


def run(rows: int = ROWS, forget_n: int = FORGET) -> dict:
    from churn_assets.core.privacy.forget import Stores, forget

    with tempfile.TemporaryDirectory(prefix="bench-forget-") as tmp:
        root = Path(tmp) / "state"
        root.mkdir()
        t0 = time.perf_counter()
        ring, ids, urls, folders, storage = build_state(root, rows)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        read = read_everything(urls, folders, storage)
        floor = time.perf_counter() - t0
        gone = np.random.default_rng(1).choice(ids, forget_n, replace=False)
        request = ring.many(gone)  # what the CLI sends: pseudonyms
        t0 = time.perf_counter()
        done = forget(request, Stores("customer_id", urls, folders, storage), ring)
        seconds = time.perf_counter() - t0
        left = pd.read_parquet(folders[0] / "shop")
        assert not left["customer_id"].isin(set(gone)).any()
        t0 = time.perf_counter()
        again = forget(request, Stores("customer_id", urls, folders, storage), ring)
        second = time.perf_counter() - t0
    return {"rows": rows, "forgotten": forget_n, "state_build_s": round(built, 1), "rows_read_floor": read,
            "read_floor_s": round(floor, 2), "forget_s": round(seconds, 2), "ratio_to_floor": round(seconds / floor, 2),
            "rows_removed": done.rows_removed, "stores": done.stores, "found_ids": done.found_ids,
            "second_forget_s": round(second, 2), "second_rows_removed": again.rows_removed,
            "target_s": 60, "ok": seconds < 60 and again.rows_removed == 0 and done.found_ids == forget_n}


def rows_for(r: dict) -> list[dict]:
    return [{"benchmark": f"forget {r['forgotten']:,} of {r['rows']:,} customers (s)", "result": r["forget_s"],
             "baseline": r["read_floor_s"], "ratio": r["ratio_to_floor"], "ok": r["ok"]},
            {"benchmark": "forget again: idempotent (s, rows removed)", "result": r["second_forget_s"],
             "baseline": r["second_rows_removed"], "ratio": None, "ok": r["second_rows_removed"] == 0}]


def main() -> int:
    r = run()
    print(table(rows_for(r), ["benchmark", "result", "baseline", "ratio", "ok"],
                "Forget (baseline: reading every store once)"))
    print(f"rows removed per store: {r['stores']}")
    print(f"written {write('privacy', r)}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
