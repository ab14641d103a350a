"""The prediction log: every served prediction, written off the request path.

The Bento appends one row per prediction (request id, time, transport, model version, the
validated input record as JSON, the probability) to a bounded in-memory queue; one writer thread
per worker drains it in batches into a SQLAlchemy table (SQLite by default, any URL in
production). ``append`` never blocks and never raises: when the queue is full the row is dropped
and counted, because a prediction must never wait for, or fail because of, its own audit trail.
Monitoring reads a day back with ``read_day`` (the ``served_predictions`` asset).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pandas as pd
import sqlalchemy as sa

from churn_assets.model.pseudonym import Pseudonyms

TABLE = "prediction_log"
log = logging.getLogger("churn_assets.prediction_log")
_META = sa.MetaData()
LOG_TABLE = sa.Table(
    TABLE, _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("served_at", sa.DateTime(timezone=False), nullable=False, index=True),  # UTC
    sa.Column("transport", sa.String(8), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(256)),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    # Champion/challenger: which model answered ("champion" | "challenger") and whether this answer
    # was returned to the client (False: a shadow prediction, logged only). Nullable so a table
    # written before they existed gains them in place; NULL reads back as champion, served.
    sa.Column("arm", sa.String(16)),
    sa.Column("served", sa.Boolean),
)
ARMS = ("champion", "challenger")


def engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(eng, "connect")
        def _wal(dbapi_conn, _):  # several worker processes append to one file
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        return eng
    return sa.create_engine(url, pool_pre_ping=True)


def create(url: str) -> sa.Engine:
    eng = engine(url)
    _META.create_all(eng, checkfirst=True)
    return eng


class PredictionLog:
    """A bounded queue of rows and the thread that writes them. Thread-safe ``append``."""

    def __init__(self, url: str, queue_size: int = 50_000, batch_rows: int = 2_000, flush_s: float = 0.25,
                 count: Callable[[str, int], None] | None = None, pseudonyms: Pseudonyms | None = None,
                 id_field: str | None = None) -> None:
        self.url, self.batch_rows, self.flush_s = url, batch_rows, flush_s
        # Customer ids are stored as pseudonyms (model/pseudonym.py): the customer_id column and the
        # record's id field (``id_field``, the contract's id column), hashed by the writer thread, off
        # the request path. None: ids in clear (tests of the writer alone).
        self.pseudonyms, self.id_field = pseudonyms, id_field
        # A deque, not a queue.Queue: append and popleft are atomic under the GIL (~0.05 us), where
        # Queue.put takes a lock and wakes the writer thread for each batch's first row (~2 us, and
        # a GIL hand-off in the middle of the request path). The writer polls instead.
        self.queue: collections.deque = collections.deque()
        self.queue_size = queue_size
        self.dropped = self.written = self.failed = 0
        self._count = count or (lambda outcome, n: None)  # e.g. a Prometheus counter by outcome
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: sa.Engine | None = None
        self._table_ok = False
        self._sql: dict[int, str] = {}

    # -- request path: O(1), never blocks ------------------------------------------------------
    def append(self, request_id: str, transport: str, model_version: str, record: dict[str, Any],
               probability: float, customer_id: str | None = None, arm: str = "champion",
               served: bool = True) -> bool:
        if len(self.queue) >= self.queue_size:  # several event loops may pass this at once: a bound, +- a few
            self.dropped += 1
            self._count("dropped", 1)
            return False
        self.queue.append((request_id, time.time(), transport, model_version, customer_id, record,
                           probability, arm, served))
        return True

    # -- writer thread ---------------------------------------------------------------------------
    def start(self) -> PredictionLog:
        """Start the writer; the table is created by the writer, so a store that is down at start-up
        costs log rows (counted ``failed``), never the service's start."""
        self._engine = engine(self.url)
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to ``timeout``) and stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._engine is not None:
            self._engine.dispose()

    def _take(self) -> list[tuple]:
        """Up to ``batch_rows`` rows, waiting at most ``flush_s`` for a batch to gather."""
        deadline = time.monotonic() + self.flush_s
        while len(self.queue) < self.batch_rows and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(min(0.05, self.flush_s))
        pop, n = self.queue.popleft, min(len(self.queue), self.batch_rows)
        return [pop() for _ in range(n)]

    def _run(self) -> None:
        while not (self._stop.is_set() and not self.queue):
            rows = self._take()
            if rows:
                self._write(rows)

    def _ensure_table(self) -> None:
        if self._table_ok:
            return
        try:
            _META.create_all(self._engine, checkfirst=True)
        except sa.exc.DatabaseError:  # another worker created it between the check and the CREATE
            if not sa.inspect(self._engine).has_table(TABLE):
                raise
        add_missing_columns(self._engine)
        self._table_ok = True

    def _insert_sql(self, n_rows: int) -> str | None:
        """One INSERT of ``n_rows`` rows (multi-row VALUES), or None for a driver with named
        parameters (then one row per executemany item)."""
        sql = self._sql.get(n_rows)
        if sql is None:
            mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self._engine.dialect.paramstyle)
            if mark is None:
                return None
            row = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
            sql = self._sql[n_rows] = f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * n_rows)}"
        return sql

    def _values(self, rows: list[tuple], sqlite: bool) -> list[tuple]:
        # Per row only what differs: the second's text (SQLite) or datetime is built once per second.
        encode, values, stamps = _record_json, [], {}
        if self.pseudonyms is not None:
            rows = self._pseudonymised(rows)
        for rid, ts, transport, version, cid, record, p, arm, served in rows:
            sec = int(ts)
            whole = stamps.get(sec)
            if whole is None:
                whole = dt.datetime.fromtimestamp(sec, dt.UTC).replace(tzinfo=None)
                whole = stamps[sec] = f"{whole:%Y-%m-%d %H:%M:%S}." if sqlite else whole
            micros = int((ts - sec) * 1e6)
            when = f"{whole}{micros:06d}" if sqlite else whole + dt.timedelta(microseconds=micros)
            values.append((rid, when, transport, version, cid, encode(record), float(p), arm, bool(served)))
        return values

    def _pseudonymised(self, rows: list[tuple]) -> list[tuple]:
        ids = [r[4] for r in rows]
        hashed = self.pseudonyms.many(ids)
        keys = {k for k in (self.id_field, "customer_id") if k}
        out = []
        for (rid, ts, transport, version, cid, record, p, arm, served), h in zip(rows, hashed):
            if cid is None:
                h = None
            present = keys & record.keys()
            if present:  # the record's id is the row's: its pseudonym is already made
                record = dict(record)  # a copy (C), then only the id fields replaced
                for k in present:
                    v = record[k]
                    record[k] = h if v == cid else self.pseudonyms.of(v)
            out.append((rid, ts, transport, version, h, record, p, arm, served))
        return out

    def _write(self, rows: list[tuple]) -> None:
        # This thread shares the GIL with the request path, so it does little Python per row and
        # hands the GIL back often, between chunks. One multi-row INSERT per chunk, not executemany:
        # the driver releases and re-takes the GIL around each statement, and a thread that re-takes
        # it while the event loop runs forces a switch (up to 5 ms waits): once per 32 rows, not per row.
        sqlite = self._engine.dialect.name == "sqlite"
        try:
            self._ensure_table()
            with self._engine.begin() as conn:
                for i in range(0, len(rows), _CHUNK):
                    values = self._values(rows[i:i + _CHUNK], sqlite)
                    sql = self._insert_sql(len(values))
                    if sql is None:
                        conn.execute(_NAMED_INSERT, [dict(zip(_COLUMNS, v)) for v in values])
                    else:
                        conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(values)))
                    time.sleep(0)
        except Exception as err:  # noqa: BLE001  (a store outage loses log rows, never requests)
            self.failed += len(rows)
            self._count("failed", len(rows))
            log.warning("prediction log: %d rows not written (%s: %s)", len(rows), type(err).__name__,
                        str(err).splitlines()[0][:200])
            return
        self.written += len(rows)
        self._count("written", len(rows))


def _iso(v: Any) -> str:
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


_MSGSPEC = msgspec.json.Encoder(enc_hook=_iso)


def _record_json(record: dict) -> str:
    """The record as compact JSON text: msgspec (1 us a record; json.JSONEncoder took 8 us, a third of
    the writer thread's time per row, and the writer shares the GIL with the request path). Dates as
    ISO ``YYYY-MM-DD``, floats as the shortest text that reads back to the same float."""
    return _MSGSPEC.encode(record).decode()
_COLUMNS = ("request_id", "served_at", "transport", "model_version", "customer_id", "record", "probability", "arm",
            "served")
_NAMED_INSERT = sa.text(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})")
_CHUNK = 64  # rows per INSERT between GIL hand-backs (~0.3 ms of Python: short stalls; 32 before the
# record encoding and pseudonyms got cheaper, 2026-12-04: 24 -> ~15 us of writer CPU per row)


def add_missing_columns(eng: sa.Engine) -> None:
    """A log table created before a nullable column existed gets it (ALTER TABLE ADD: SQLite and
    Postgres). Several workers may race here: a column another worker just added is fine."""
    have = {c["name"] for c in sa.inspect(eng).get_columns(TABLE)}
    for c in [c for c in LOG_TABLE.columns if c.name not in have]:
        try:
            with eng.begin() as conn:
                conn.execute(sa.text(f'ALTER TABLE {TABLE} ADD COLUMN "{c.name}" {c.type.compile(dialect=eng.dialect)}'))
        except sa.exc.DatabaseError:
            if c.name not in {x["name"] for x in sa.inspect(eng).get_columns(TABLE)}:
                raise


def day_bounds(day: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.fromisoformat(day)
    return start, start + dt.timedelta(days=1)


def read_day(url: str, day: str) -> pd.DataFrame:
    """One UTC day of served predictions: the logged columns plus the record's fields as columns."""
    start, end = day_bounds(day)
    eng = engine(url)
    try:
        if not sa.inspect(eng).has_table(TABLE):
            return pd.DataFrame(columns=[c.name for c in LOG_TABLE.columns])
        add_missing_columns(eng)
        query = sa.select(LOG_TABLE).where(LOG_TABLE.c.served_at >= start, LOG_TABLE.c.served_at < end) \
            .order_by(LOG_TABLE.c.id)
        with eng.connect() as conn:
            rows = pd.read_sql(query, conn)
    finally:
        eng.dispose()
    if rows.empty:
        return rows
    records = pd.DataFrame.from_records([json.loads(r) for r in rows["record"]])
    meta = rows.drop(columns=["record"]).rename(columns={"probability": "churn_probability"})
    meta["arm"] = meta["arm"].fillna("champion")
    meta["served"] = meta["served"].astype("boolean").fillna(True).astype(bool)
    return pd.concat([meta.reset_index(drop=True), records.drop(columns=[c for c in records.columns
                                                                       if c in meta.columns])], axis=1)
