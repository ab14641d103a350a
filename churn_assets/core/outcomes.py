"""Labelled outcomes: the customers scored on a day joined with the outcomes that arrived for them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class Joined:
    rows: pd.DataFrame  # batch columns plus the target, one row per customer with an outcome
    batch_rows: int
    awaiting: int  # scored customers with no outcome yet
    unmatched: int  # outcomes for customers that were not in the day's batch
    duplicate_outcomes: int  # extra outcome rows for one customer (the last one counts)


def join(batch: pd.DataFrame, labels: pd.DataFrame, id_column: str, target: str) -> Joined:
    if id_column not in labels.columns or target not in labels.columns:
        raise ValueError(f"outcomes need the columns {id_column!r} and {target!r}; got {list(labels.columns)}")
    lab = labels[[id_column, target]].copy()
    lab[id_column] = lab[id_column].astype(str)
    dups = int(lab[id_column].duplicated(keep="last").sum())
    lab = lab.drop_duplicates(subset=[id_column], keep="last")
    left = batch.drop(columns=[target], errors="ignore").copy()
    left["_id"] = left[id_column].astype(str)
    rows = left.merge(lab.rename(columns={id_column: "_id"}), on="_id", how="inner").drop(columns=["_id"])
    unmatched = int((~lab[id_column].isin(set(left["_id"]))).sum())
    return Joined(rows=rows, batch_rows=len(batch), awaiting=len(batch) - len(rows), unmatched=unmatched,
                  duplicate_outcomes=dups)
