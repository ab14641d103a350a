"""The predictions table: one row per (partition, customer); re-scoring a partition replaces it."""

from __future__ import annotations

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
    # Top reasons, e.g. "support_resolution_time:+0.42" (core/explain.py); NULL when not explained.
    *[sa.Column(f"reason_{i}", sa.String(160), nullable=True) for i in (1, 2, 3)],
)
REASONS = ("reason_1", "reason_2", "reason_3")


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
    eng = engine(url)
    rows = rows.assign(partition=partition)
    for c in REASONS:  # older callers and unexplained batches: NULL reasons
        if c not in rows.columns:
            rows[c] = None
    records = rows.to_dict("records")
    try:
        with eng.begin() as conn:
            conn.execute(predictions.delete().where(predictions.c.partition == partition))
            if records:
                conn.execute(predictions.insert(), records)
    finally:
        eng.dispose()
    return len(records)


def read_partition(url: str, partition: str) -> pd.DataFrame:
    """The stored rows of one partition (what drift and realized performance read)."""
    eng = engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql_query(sa.select(predictions).where(predictions.c.partition == partition), conn)
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
