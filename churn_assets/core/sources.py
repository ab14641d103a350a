"""Read raw customers from the configured source: synthetic, a CSV/Parquet file, or a SQL table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_assets.core.spec import DatasetSpec
from churn_assets.core.synthetic import DEFAULT_AS_OF, generate_customers


def load_raw(spec: DatasetSpec) -> pd.DataFrame:
    src = spec.source
    if src.kind == "synthetic":
        return generate_customers(n=src.rows, seed=src.seed, as_of=spec.as_of or DEFAULT_AS_OF)
    if src.kind == "file":
        return read_file(src.path)
    if src.kind == "sql":
        return read_sql(src.url, table=src.table, query=src.query)
    raise ValueError(f"unknown source kind {src.kind!r}: use synthetic, file or sql")


def read_file(path: str | None) -> pd.DataFrame:
    if not path:
        raise ValueError("source.path is required for a file source")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if suffix in (".csv", ".txt", ".gz"):
        # Strings first: validation coerces, and a bad value is quarantined exactly as it arrived.
        return pd.read_csv(p, dtype=str, keep_default_na=True)
    raise ValueError(f"unsupported file type {suffix!r} for {p}: use .csv or .parquet")


def read_sql(url: str | None, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    import sqlalchemy as sa

    if not url or not (table or query):
        raise ValueError("a sql source needs `url` and either `table` or `query`")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if query:
                return pd.read_sql_query(sa.text(query), conn)
            return pd.read_sql_table(table, conn)
    finally:
        engine.dispose()
