"""Retention of personal data: stores that hold each served or scored customer keep them for a
configured number of days, then this removes them.

* the prediction log (every validated request, as JSON): rows served before the cut-off day;
* the validated scoring batches (Parquet, ``<batches_dir>/<dataset>/<day>.parquet``): days before it.

The predictions table keeps its rows (the business reads scores by customer; see docs/PRIVACY.md).
Days count back from ``as_of`` (a date given by the caller: the schedule's own date), never the clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")


@dataclass
class Purged:
    cutoff_log: str  # rows served before this day were removed
    cutoff_batches: str  # batches of days before this day were removed
    log_rows: int = 0
    batch_files: list[str] = field(default_factory=list)
    batch_bytes: int = 0


def cutoff(as_of: dt.date, keep_days: int) -> dt.date:
    """The first day kept: ``keep_days`` days up to and including ``as_of``."""
    if keep_days < 1:
        raise ValueError(f"keep at least one day, got {keep_days}")
    return as_of - dt.timedelta(days=keep_days - 1)


def purge_prediction_log(url: str, before: dt.date) -> int:
    """Delete the log rows served before ``before`` (UTC); the number deleted. No table: nothing to do."""
    from churn_assets.model.prediction_log import LOG_TABLE, TABLE, engine

    eng = engine(url)
    try:
        if not sa.inspect(eng).has_table(TABLE):
            return 0
        with eng.begin() as conn:
            res = conn.execute(sa.delete(LOG_TABLE).where(
                LOG_TABLE.c.served_at < dt.datetime.combine(before, dt.time())))
            return int(res.rowcount or 0)
    finally:
        eng.dispose()


def purge_scoring_batches(root: str | Path, before: dt.date) -> tuple[list[str], int]:
    """Delete every ``<root>/<dataset>/<day>.parquet`` of a day before ``before``; (files, bytes)."""
    files, size = [], 0
    for path in sorted(Path(root).glob("*/*.parquet")) if Path(root).is_dir() else []:
        m = DAY_FILE.match(path.name)
        if m and dt.date.fromisoformat(m.group(1)) < before:
            size += path.stat().st_size
            path.unlink()
            files.append(str(path))
    return files, size


def purge(as_of: dt.date, log_url: str, log_days: int, batches_dir: str, batch_days: int) -> Purged:
    log_cut, batch_cut = cutoff(as_of, log_days), cutoff(as_of, batch_days)
    out = Purged(cutoff_log=log_cut.isoformat(), cutoff_batches=batch_cut.isoformat())
    if log_url:
        out.log_rows = purge_prediction_log(log_url, log_cut)
    if batches_dir:
        out.batch_files, out.batch_bytes = purge_scoring_batches(batches_dir, batch_cut)
    return out
