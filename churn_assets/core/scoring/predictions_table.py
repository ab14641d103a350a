"""The predictions table: one row per (partition, customer); re-scoring a partition replaces it."""

from __future__ import annotations

import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self

import numpy as np
import pandas as pd
import sqlalchemy as sa

TABLE = "churn_predictions"
_meta = sa.MetaData()
predictions = sa.Table(
    TABLE, _meta,
    sa.Column("partition", sa.String(10), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("churn_probability", sa.Float, nullable=False),
    sa.Column("will_churn", sa.Boolean, nullable=False),
    sa.Column("risk", sa.String(8), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    # Top reasons, e.g. "support_resolution_time:+0.42" (model/explain.py); NULL when not explained.
    *[sa.Column(f"reason_{i}", sa.String(160), nullable=True) for i in (1, 2, 3)],
    # On SQLite the rows live in the primary key's B-tree: one tree to insert into instead of a table
    # and an index (+17% rows/s measured; tables created before keep their layout and work the same).
    sqlite_with_rowid=False,
)
REASONS = ("reason_1", "reason_2", "reason_3")
_SQLITE_PARAMS = 999  # bound values per statement: the limit of SQLite before 3.32


def engine(url: str) -> sa.Engine:
    eng = sa.create_engine(url)
    _meta.create_all(eng, checkfirst=True)
    _add_missing_columns(eng)
    return eng


def _add_missing_columns(eng: sa.Engine) -> None:
    """A table created before a nullable column existed gets it (ALTER TABLE ADD: SQLite and Postgres)."""
    have = {c["name"] for c in sa.inspect(eng).get_columns(TABLE)}
    missing = [c for c in predictions.columns if c.name not in have]
    if missing:
        with eng.begin() as conn:
            for c in missing:
                kind = c.type.compile(dialect=eng.dialect)
                conn.execute(sa.text(f'ALTER TABLE {TABLE} ADD COLUMN "{c.name}" {kind}'))


def replace_partition(url: str, partition: str, rows: pd.DataFrame) -> int:
    """Delete and insert in one transaction: a re-run replaces, never duplicates."""
    with PartitionWriter(url, partition) as writer:
        writer.write(rows)
    return writer.rows


class PartitionWriter:
    """Replace one partition with rows written chunk by chunk, in one transaction: delete, then a
    bulk path per chunk (PostgreSQL ``COPY``, else the driver's ``executemany``). A failure rolls
    back to the partition as it was; a re-run replaces, never duplicates."""

    COLUMNS = [c.name for c in predictions.columns]

    def __init__(self, url: str, partition: str):
        self.partition, self.rows = partition, 0
        self.eng = engine(url)
        self.postgres = self.eng.dialect.name == "postgresql"
        self.conn = self.eng.connect()
        try:
            self.tx = self.conn.begin()
            self.conn.execute(predictions.delete().where(predictions.c.partition == partition))
        except BaseException:
            self.conn.close()
            self.eng.dispose()
            raise

    def write(self, rows: pd.DataFrame) -> None:
        if not len(rows):
            return
        # Each distinct scoring time is formatted once (a chunk has one): per-row datetime formatting
        # was the slowest part of both paths. PostgreSQL reads ISO with offset; SQLAlchemy's SQLite
        # DateTime is naive 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here).
        at = _times_text(rows["scored_at"], "%Y-%m-%d %H:%M:%S.%f+00:00" if self.postgres else "%Y-%m-%d %H:%M:%S.%f")
        if self.postgres:
            rows = rows.assign(partition=self.partition, scored_at=at)
            for c in REASONS:
                if c not in rows.columns:
                    rows[c] = None
            cur = self.conn.connection.driver_connection.cursor()
            with cur.copy(f"COPY {TABLE} ({self._names}) FROM STDIN") as copy:
                copy.write(_copy_text(rows[self.COLUMNS]))
        else:
            self._write_sqlite(rows, at)
        self.rows += len(rows)

    _names = ", ".join(f'"{c}"' for c in COLUMNS)

    def _write_sqlite(self, rows: pd.DataFrame, at: np.ndarray) -> None:
        """Multi-row ``INSERT`` statements (up to 999 bound values each) on the columns as arrays: ~2x
        the rows/s of one statement per row, and the driver takes the GIL back once per statement, not
        per row. A column of one value (partition, model, version, scoring time) is a literal. The rows
        with no reasons (all but the explained share of a large day) go in their own statements with
        NULL literals for them: binding three None per row cost ~40% of the insert."""
        n = len(rows)
        columns = {c: rows[c].to_numpy() for c in ("customer_id", "churn_probability", "risk", "model_name",
                                                    "model_version")}
        # As int: the driver binds an exact int directly, a bool through its slower adaptation path.
        columns.update(will_churn=rows["will_churn"].to_numpy().astype(int), scored_at=at)
        reasons = {c: rows[c].to_numpy() for c in REASONS if c in rows.columns}
        explained = np.zeros(n, dtype=bool)
        for column in reasons.values():
            explained |= pd.notna(column)
        for part, with_reasons in ((~explained, False), (explained, True)):
            count = int(part.sum())
            if not count:
                continue
            marks, bound = [], []
            for c in self.COLUMNS:
                column = reasons.get(c) if c in REASONS else columns.get(c)
                if c == "partition":
                    marks.append(_quoted(self.partition))
                elif column is None or (c in REASONS and not with_reasons):
                    marks.append("NULL")  # every reason of a row without reasons is NULL
                else:
                    column = column if count == n else column[part]
                    literal = _sqlite_literal(column)
                    marks.append(literal or "?")
                    if literal is None:  # NOT NULL columns: a missing value fails the insert (IntegrityError)
                        bound.append(_nullable_list(column) if predictions.c[c].nullable else column.tolist())
            self._insert_many(f"({', '.join(marks)})", bound, count)

    def _insert_many(self, row: str, bound: list[list], n: int) -> None:
        """``n`` rows of the ``row`` template, its ``?`` taken from ``bound`` (one list per column)."""
        cur, width = self.conn.connection.driver_connection, len(bound)  # >= 1: will_churn is never a literal
        head = f"INSERT INTO {TABLE} ({self._names}) VALUES "
        per = _SQLITE_PARAMS // width
        flat = list(itertools.chain.from_iterable(zip(*bound)))
        full = n // per * per
        if full:
            step = per * width
            cur.executemany(head + ", ".join([row] * per), (flat[i:i + step] for i in range(0, full * width, step)))
        if n > full:
            cur.execute(head + ", ".join([row] * (n - full)), flat[full * width:])

    def wait(self) -> None:
        """Every chunk is written when ``write`` returns (``BackgroundWriter`` overlaps them)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, *_) -> None:
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()
            self.eng.dispose()


class BackgroundWriter:
    """A ``PartitionWriter`` in its own thread (a SQLite connection stays in the thread that opened it):
    ``write`` hands a chunk over once the one before is written, and returns; ``wait`` returns once
    every chunk is written and raises a write's error. The same one transaction: committed when the
    ``with`` block ends cleanly, rolled back when it raises or a write failed."""

    def __init__(self, url: str, partition: str):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="predictions-writer")
        try:
            self._writer = self._pool.submit(PartitionWriter, url, partition).result()
        except BaseException:
            self._pool.shutdown()
            raise
        self._pending: Future | None = None

    @property
    def rows(self) -> int:
        return self._writer.rows

    def write(self, rows: pd.DataFrame) -> None:
        self.wait()
        self._pending = self._pool.submit(self._writer.write, rows)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, *_) -> None:
        error = None
        try:
            self.wait()
        except BaseException as err:  # noqa: BLE001  (the last write failed: raised below unless the body raised)
            error = err
        try:  # commit, or roll back when the body or a write failed
            failed = exc_type or (type(error) if error is not None else None)
            self._pool.submit(self._writer.__exit__, failed, None, None).result()
        finally:
            self._pool.shutdown()
        if error is not None and exc_type is None:
            raise error


_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: pd.DataFrame) -> str:
    """Rows in COPY's text format: tab-separated, NULL as \\N, backslash escapes in strings, floats
    as ``repr`` (the shortest string that reads back to the same double: exact). Built with str
    joins, ~2x faster than ``DataFrame.to_csv``: a column of one value (partition, model, version,
    scoring time, reasons not computed) is formatted once, and strings are escaped only when the
    column holds a character that needs it."""
    fields = []
    for c in rows.columns:
        col = rows[c]
        if col.dtype == bool:
            fields.append(np.where(col.to_numpy(), "t", "f").tolist())
        elif col.dtype.kind == "f":
            fields.append([repr(v) if v == v else "\\N" for v in col.tolist()])
        elif col.isna().all():
            fields.append(["\\N"] * len(col))
        elif (col == col.iloc[0]).all():
            fields.append([str(col.iloc[0]).translate(_ESCAPE)] * len(col))
        else:
            values = [None if v is None or v is pd.NA or v != v else str(v) for v in col.tolist()]
            if any(ch in "".join(v for v in values if v is not None) for ch in "\\\t\n\r"):
                values = [None if v is None else v.translate(_ESCAPE) for v in values]
            fields.append(["\\N" if v is None else v for v in values])
    return "\n".join(map("\t".join, zip(*fields))) + "\n"


def _times_text(column: pd.Series, fmt: str) -> np.ndarray:
    """Each time of ``column`` as UTC text in ``fmt``, each distinct time formatted once."""
    at = column if isinstance(column.dtype, pd.DatetimeTZDtype) else pd.to_datetime(column, utc=True)
    codes, distinct = pd.factorize(at.dt.tz_convert("UTC"))  # any resolution (ns, us, ...)
    return np.array([v.strftime(fmt) for v in distinct], dtype=object)[codes]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sqlite_literal(values: np.ndarray) -> str | None:
    """The SQL literal of a column that holds one value (NULL, or a string quoted the SQL way), else None.
    The first and last values are compared before the whole column: most columns differ there."""
    first, last = values[0], values[-1]
    if pd.isna(first) and pd.isna(last) and pd.isna(values).all():
        return "NULL"
    if isinstance(first, str) and first == last and "\x00" not in first and (values == first).all():
        return _quoted(first)
    return None


def _nullable_list(values: np.ndarray) -> list:
    """The column as Python values, None where missing (NaN would be stored as a float)."""
    if values.dtype != object:
        return values.tolist() if not pd.isna(values).any() else [None if v != v else v for v in values.tolist()]
    missing = pd.isna(values)
    if not missing.any():
        return values.tolist()
    out = values.copy()
    out[missing] = None
    return out.tolist()


def scores_of(url: str, partition: str, ids: pd.Series) -> np.ndarray:
    """The stored probability of each id (a sample of a large partition), in the order of ``ids``."""
    keys = ids.astype(str).tolist()
    eng, found = engine(url), []
    try:
        with eng.connect() as conn:
            for i in range(0, len(keys), 900):  # under SQLite's bound-parameter limit
                q = sa.select(predictions.c.customer_id, predictions.c.churn_probability).where(
                    predictions.c.partition == partition, predictions.c.customer_id.in_(keys[i:i + 900]))
                found.append(pd.read_sql_query(q, conn))
    finally:
        eng.dispose()
    return scores_for(pd.concat(found, ignore_index=True), ids)


def read_partition(url: str, partition: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The stored rows of one partition (what drift and realized performance read), all columns or
    ``columns`` only (a partition of millions: read what is used)."""
    eng = engine(url)
    picked = [predictions.c[c] for c in columns] if columns else [predictions]
    try:
        with eng.connect() as conn:
            return pd.read_sql_query(sa.select(*picked).where(predictions.c.partition == partition), conn)
    finally:
        eng.dispose()


def scores_for(rows: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """The stored probability of each id, in the order of ``ids`` (a clear error if one is missing)."""
    by_id = rows.set_index("customer_id")["churn_probability"]
    keys = ids.astype(str)
    missing = keys[~keys.isin(by_id.index)]
    if len(missing):
        raise ValueError(f"{len(missing)} customers of the batch have no stored prediction "
                         f"(e.g. {list(missing[:3])}): re-run churn_predictions for this partition")
    return by_id.loc[keys].to_numpy(dtype=float)


def counts(url: str) -> pd.DataFrame:
    """Rows and distinct customers per partition (duplicates would show as rows > customers)."""
    eng = engine(url)
    q = sa.select(predictions.c.partition, sa.func.count().label("rows"),
                  sa.func.count(sa.distinct(predictions.c.customer_id)).label("customers")
                  ).group_by(predictions.c.partition).order_by(predictions.c.partition)
    try:
        with eng.connect() as conn:
            return pd.read_sql_query(q, conn)
    finally:
        eng.dispose()
