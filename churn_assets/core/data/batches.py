"""Daily scoring batches and their later outcomes (labels).

Real use: the dataset spec's ``scoring`` section names where each day's customers are, e.g.
``scoring: {path: batches/{date}.csv}`` or ``scoring: {url: ..., query: "select ... where
snapshot_date = :date"}``; outcomes likewise under ``labels``. The synthetic default
generates a batch for any date, reproducibly (seed from the date), optionally shifted from
``shift_from`` on (see ``synthetic.SHIFTS``) so the monitoring loop can be shown and tested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churn_assets.core.data.sources import read_file_chunks, read_sql
from churn_assets.core.data.synthetic import generate_customers


@dataclass
class BatchSettings:
    rows: int = 5_000
    seed: int = 42
    shift: str = "none"  # a synthetic.SHIFTS name, applied from `shift_from` on
    shift_from: str = ""  # ISO date; empty: never
    intensity: float = 1.0
    chunk_rows: int = 200_000  # a partition larger than this is generated, read and scored in chunks
    personal: tuple[str, ...] = ()  # the spec's pii_columns: dropped from every chunk as it is read


def _day_seed(date: str, seed: int) -> int:
    return seed * 100_003 + dt.date.fromisoformat(date).toordinal()


def synthetic_chunks(date: str, s: BatchSettings, with_labels: bool = False) -> Iterator[pd.DataFrame]:
    """The day's customers in chunks of ``s.chunk_rows``, each seeded by (day, chunk): any chunk can
    be made alone, and memory stays bounded. A batch of one chunk is the one-call batch of before."""
    shifted = bool(s.shift_from) and date >= s.shift_from and s.shift != "none"
    one = s.rows <= s.chunk_rows
    for j, start in enumerate(range(0, s.rows, s.chunk_rows)):
        yield generate_customers(
            n=min(s.chunk_rows, s.rows - start), seed=_day_seed(date, s.seed) + (0 if one else 7_919 * (j + 1)),
            as_of=dt.date.fromisoformat(date), shift=s.shift if shifted else "none", intensity=s.intensity,
            id_prefix=f"C{date.replace('-', '')}-" + ("" if one else f"{j:05d}-"), with_labels=with_labels,
        )


def synthetic_batch(date: str, s: BatchSettings, with_labels: bool = False) -> pd.DataFrame:
    return pd.concat(list(synthetic_chunks(date, s, with_labels)), ignore_index=True)


def load_batch(scoring: dict | None, date: str, s: BatchSettings) -> pd.DataFrame:
    """The customers to score on ``date`` (no target column), in one frame."""
    return pd.concat(list(iter_batch(scoring, date, s)), ignore_index=True)


def iter_batch(scoring: dict | None, date: str, s: BatchSettings) -> Iterator[pd.DataFrame]:
    """The customers to score on ``date`` in chunks of at most ``s.chunk_rows`` rows: synthetic chunks,
    Parquet row batches, CSV chunks (the file's dialect is sniffed once) or SQL result chunks."""
    if not scoring:
        chunks = synthetic_chunks(date, s)
    elif scoring.get("path"):
        chunks = read_file_chunks(scoring["path"].format(date=date), s.chunk_rows)
    else:
        chunks = _sql_chunks(scoring, date, s.chunk_rows)
    for chunk in chunks:
        yield chunk.drop(columns=[c for c in s.personal if c in chunk.columns]) if s.personal else chunk


def load_labels(labels: dict | None, date: str, s: BatchSettings, labels_dir: str) -> pd.DataFrame | None:
    """Outcomes for ``date`` as (id, target), or None while they have not arrived."""
    if labels and labels.get("url"):
        df = read_sql_day(labels, date)
        return df if len(df) else None
    path = Path(labels["path"].format(date=date)) if labels and labels.get("path") else \
        Path(labels_dir) / f"{date}.csv"
    return pd.read_csv(path, dtype={0: str}) if path.is_file() else None


def outcomes_arrived(labels: dict | None, date: str, labels_dir: str) -> bool:
    """Cheap check for the outcomes sensor: the day's file exists, or the query returns a row."""
    if labels and labels.get("url"):
        return len(read_sql_day({**labels, "query": f"SELECT 1 AS one FROM ({labels['query']}) AS q LIMIT 1"}, date)) > 0
    path = Path(labels["path"].format(date=date)) if labels and labels.get("path") else Path(labels_dir) / f"{date}.csv"
    return path.is_file()


def write_synthetic_labels(date: str, s: BatchSettings, labels_dir: str, id_column: str = "customer_id",
                           target: str = "churn") -> Path:
    """Simulate outcomes arriving for a synthetic batch (the generator's own labels), chunk by chunk."""
    path = Path(labels_dir) / f"{date}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")  # the sensor sees the file only once it is whole
    for j, chunk in enumerate(synthetic_chunks(date, s, with_labels=True)):
        chunk[[id_column, target]].to_csv(tmp, mode="a" if j else "w", header=not j, index=False)
    tmp.replace(path)
    return path


def _sql_chunks(cfg: dict, date: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import sqlalchemy as sa

    engine = sa.create_engine(cfg["url"])
    try:  # a server-side cursor: the driver does not buffer the whole result
        with engine.connect().execution_options(stream_results=True) as conn:
            empty = True
            for chunk in pd.read_sql_query(sa.text(cfg["query"]), conn, params={"date": date}, chunksize=chunk_rows):
                empty = False
                yield chunk
            if empty:  # the columns of an empty result still reach validation
                yield pd.read_sql_query(sa.text(cfg["query"]), conn, params={"date": date})
    finally:
        engine.dispose()


def read_sql_day(cfg: dict, date: str) -> pd.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(cfg["url"])
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(cfg["query"]), conn, params={"date": date})
    finally:
        engine.dispose()


__all__ = ["BatchSettings", "iter_batch", "load_batch", "load_labels", "outcomes_arrived", "read_sql", "synthetic_batch", "write_synthetic_labels"]
