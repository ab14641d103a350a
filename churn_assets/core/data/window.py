"""The training window: the base source plus the labelled days that arrived, and a time holdout.

Policy (documented in docs/OPERATIONS.md, "The loop that learns"): **base plus recent**. A retrain trains
on the base source and every labelled day inside the window (default: the 90 days up to the
newest labelled day), unweighted. The newest labelled day(s) are held out: neither the champion
nor the challenger trained on them, so the registry gate judges both there. Measured on the
synthetic shift (`make bench`): base-plus-recent recovers most of what recent-only recovers on
post-shift data and loses far less on pre-shift data than recency weights or recent-only.

A customer can appear in the base and in a labelled day (a snapshot taken again later): the
most recent labelled record wins, so splits stay disjoint by customer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SOURCE = "_source"  # column naming where a training row came from: "base" or the labelled day


@dataclass(frozen=True)
class WindowPolicy:
    days: int = 90  # labelled days no older than this (counted back from the newest one) train
    holdout_days: int = 1  # the newest labelled days, kept out of training for the time-based gate
    min_holdout_rows: int = 200  # below this (or with one class) there is no time holdout


@dataclass
class Window:
    train_days: list[str] = field(default_factory=list)
    holdout_days: list[str] = field(default_factory=list)
    skipped_days: list[str] = field(default_factory=list)  # labelled, but older than the window


def select_days(labelled: Iterable[str], policy: WindowPolicy) -> Window:
    """Split the labelled days (ISO dates) into training days, holdout days and days too old."""
    days = sorted(set(labelled))
    if not days:
        return Window()
    newest = dt.date.fromisoformat(days[-1])
    oldest = (newest - dt.timedelta(days=policy.days - 1)).isoformat()
    inside = [d for d in days if d >= oldest]
    skipped = [d for d in days if d < oldest]
    # With a single labelled day there is nothing to train on besides the base if it is held out:
    # it trains, and the gate falls back to the random test split.
    n_hold = policy.holdout_days if len(inside) > policy.holdout_days else 0
    return Window(train_days=inside[: len(inside) - n_hold], holdout_days=inside[len(inside) - n_hold:],
                  skipped_days=skipped)


WINDOW_TAG = "churn/window_days"  # run tag: the labelled days a training run trains (and holds out) on


def window_tag(days: Iterable[str]) -> str:
    """The run-tag value of a set of labelled days: sorted ISO dates, comma-separated ("none" for none)."""
    return ",".join(sorted(set(days))) or "none"


def parse_window_tag(value: str) -> list[str]:
    days = sorted({d.strip() for d in value.split(",") if d.strip() and d.strip() != "none"})
    for d in days:
        dt.date.fromisoformat(d)  # a clear error on a malformed tag
    return days


def window_key(train_days: Sequence[str], holdout_days: Sequence[str], base_rows: int) -> str:
    """What a trained model's data was, in one string: the base's rows, the labelled days it trained
    on and the days held out. Two models with equal keys (and equal configuration) are the same model."""
    return f"base={base_rows};train={window_tag(train_days)};holdout={window_tag(holdout_days)}"


def partition_path(root: str | Path, dataset: str, day: str) -> Path:
    return Path(root) / dataset / f"{day}.parquet"


def write_partition(root: str | Path, dataset: str, day: str, frame: pd.DataFrame) -> Path:
    """Idempotent: a re-run of a day replaces its file."""
    path = partition_path(root, dataset, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def read_days(root: str | Path, dataset: str, days: Sequence[str], columns: list[str] | None = None) -> pd.DataFrame:
    frames = []
    for day in days:
        path = partition_path(root, dataset, day)
        if not path.is_file():
            raise FileNotFoundError(f"labelled partition {day} is materialized but its file is missing: {path}")
        frames.append(pd.read_parquet(path, columns=columns).assign(**{SOURCE: day}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def combine(base: pd.DataFrame, recent: pd.DataFrame, id_column: str) -> tuple[pd.DataFrame, int]:
    """Base rows plus recent rows; the latest record of a customer wins. Returns (rows, replaced)."""
    if recent.empty:
        return base.assign(**{SOURCE: "base"}), 0
    columns = [c for c in base.columns if c in recent.columns]
    both = pd.concat([base.assign(**{SOURCE: "base"}), recent[columns + [SOURCE]]], ignore_index=True)
    order = both[SOURCE].map(lambda s: "" if s == "base" else s)  # base first, then days ascending
    both = both.iloc[order.argsort(kind="stable")]
    kept = both.drop_duplicates(subset=[id_column], keep="last").reset_index(drop=True)
    return kept, len(both) - len(kept)


def usable_holdout(frame: pd.DataFrame, target: str, policy: WindowPolicy) -> str | None:
    """None when the holdout can judge; else why not."""
    if len(frame) < policy.min_holdout_rows:
        return f"{len(frame)} rows < {policy.min_holdout_rows}"
    if frame[target].nunique() < 2:
        return "one class only"
    return None
