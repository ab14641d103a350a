"""The retention tables in the predictions database (CHURN_PREDICTIONS_URL) and the CSV of a list.

* ``retention_targets``: one row per (partition, campaign, customer): the day's contact list with
  its rank, scores, grid cell and group; re-running a partition replaces its rows in one transaction.
* ``retention_cuts``: the grid's cut points per (model, version): fixed once, reused every day.
* ``crm_deliveries``: the customers the CRM accepted, per (partition, campaign), with the batch's
  idempotency key: a re-run sends only what was not delivered.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from churn_assets.core.retention.targeting import Cuts

TARGETS, CUTS, DELIVERIES = "retention_targets", "retention_cuts", "crm_deliveries"
_meta = sa.MetaData()
targets = sa.Table(
    TARGETS, _meta,
    sa.Column("partition", sa.String(10), primary_key=True),
    sa.Column("campaign", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("churn_probability", sa.Float, nullable=False),
    sa.Column("value_at_stake", sa.Float, nullable=False),
    sa.Column("expected_loss", sa.Float, nullable=False),
    sa.Column("uplift", sa.Float, nullable=True),
    sa.Column("expected_net_value", sa.Float, nullable=False),
    sa.Column("risk_level", sa.String(8), nullable=False),
    sa.Column("value_level", sa.String(8), nullable=False),
    sa.Column("cell", sa.String(40), nullable=False),
    sa.Column("ranking", sa.String(8), nullable=False),
    sa.Column("group", sa.String(10), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
)
cuts_table = sa.Table(
    CUTS, _meta,
    sa.Column("model_name", sa.String(128), primary_key=True),
    sa.Column("model_version", sa.String(32), primary_key=True),
    sa.Column("risk_low", sa.Float, nullable=False), sa.Column("risk_high", sa.Float, nullable=False),
    sa.Column("value_low", sa.Float, nullable=False), sa.Column("value_high", sa.Float, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
)
deliveries = sa.Table(
    DELIVERIES, _meta,
    sa.Column("partition", sa.String(10), primary_key=True),
    sa.Column("campaign", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("idempotency_key", sa.String(128), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
)
COLUMNS = [c.name for c in targets.columns]


def engine(url: str) -> sa.Engine:
    eng = sa.create_engine(url)
    _meta.create_all(eng, checkfirst=True)
    return eng


def replace_targets(url: str, partition: str, campaign: str, rows: pd.DataFrame, model_version: str) -> int:
    """Delete and insert the day's list in one transaction: a re-run replaces, never duplicates."""
    df = rows.assign(partition=partition, campaign=campaign, model_version=str(model_version))
    if "uplift" not in df:
        df["uplift"] = None
    records = df[COLUMNS].astype(object).where(df[COLUMNS].notna(), None).to_dict("records")
    eng = engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(targets.delete().where(targets.c.partition == partition, targets.c.campaign == campaign))
            for i in range(0, len(records), 5_000):
                conn.execute(targets.insert(), records[i:i + 5_000])
    finally:
        eng.dispose()
    return len(records)


def read_targets(url: str, partition: str, campaign: str) -> pd.DataFrame:
    eng = engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql_query(sa.select(targets).where(targets.c.partition == partition,
                                                              targets.c.campaign == campaign), conn)
    finally:
        eng.dispose()


def recently_selected(url: str, campaign: str, day: str, days: int) -> set[str]:
    """Customers on the campaign's lists of the ``days`` days before ``day`` (the cool-down)."""
    if days <= 0:
        return set()
    start = (dt.date.fromisoformat(day) - dt.timedelta(days=days)).isoformat()
    eng = engine(url)
    try:
        with eng.connect() as conn:
            q = sa.select(targets.c.customer_id).where(targets.c.campaign == campaign, targets.c.partition >= start,
                                                       targets.c.partition < day)
            return set(conn.execute(q).scalars())
    finally:
        eng.dispose()


def load_cuts(url: str, model_name: str, version: str) -> Cuts | None:
    eng = engine(url)
    try:
        with eng.connect() as conn:
            row = conn.execute(sa.select(cuts_table).where(cuts_table.c.model_name == model_name,
                                                           cuts_table.c.model_version == str(version))).first()
    finally:
        eng.dispose()
    return Cuts((row.risk_low, row.risk_high), (row.value_low, row.value_high), row.source) if row else None


def save_cuts(url: str, model_name: str, version: str, cuts: Cuts) -> Cuts:
    """Store the cut points of a champion version once; an existing row wins (they stay fixed)."""
    existing = load_cuts(url, model_name, version)
    if existing is not None:
        return existing
    eng = engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(cuts_table.insert(), [{"model_name": model_name, "model_version": str(version),
                                                "risk_low": cuts.risk[0], "risk_high": cuts.risk[1],
                                                "value_low": cuts.value[0], "value_high": cuts.value[1],
                                                "source": cuts.source[:200]}])
    finally:
        eng.dispose()
    return cuts


def delivered(url: str, partition: str, campaign: str) -> set[str]:
    eng = engine(url)
    try:
        with eng.connect() as conn:
            q = sa.select(deliveries.c.customer_id).where(deliveries.c.partition == partition,
                                                          deliveries.c.campaign == campaign)
            return set(conn.execute(q).scalars())
    finally:
        eng.dispose()


def record_delivery(url: str, partition: str, campaign: str, ids: list[str], key: str) -> None:
    now = dt.datetime.now(dt.UTC)
    eng = engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(deliveries.insert(), [{"partition": partition, "campaign": campaign, "customer_id": i,
                                                "idempotency_key": key, "delivered_at": now} for i in ids])
    finally:
        eng.dispose()


def write_csv(rows: pd.DataFrame, folder: str | Path, campaign: str, partition: str) -> Path:
    path = Path(folder) / campaign / f"{partition}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    rows.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def partitions(url: str, campaign: str) -> list[str]:
    """The days the campaign has a list for, oldest first."""
    eng = engine(url)
    try:
        with eng.connect() as conn:
            q = sa.select(targets.c.partition).where(targets.c.campaign == campaign).distinct().order_by(
                targets.c.partition)
            return list(conn.execute(q).scalars())
    finally:
        eng.dispose()
