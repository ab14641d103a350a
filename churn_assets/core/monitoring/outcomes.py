"""Labelled outcomes: the customers scored on a day joined with the outcomes that arrived for them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.core.data.validation import validate
from churn_assets.core.scoring.parquet_store import RowGroups, SeenIds
from churn_assets.model.contract import DataContract


@dataclass
class LabelledDay:
    """A day's labelled customers written to Parquet chunk by chunk, and what the join found."""
    path: str
    rows: int
    positives: int
    batch_rows: int
    awaiting: int
    unmatched: int
    duplicate_outcomes: int
    quarantined: int
    reasons: Counter  # quarantine reason -> rows
    head: pd.DataFrame  # the first clean rows (the asset's preview)


def join_to_parquet(chunks: Iterable[pd.DataFrame], labels: pd.DataFrame, contract: DataContract,
                    path: str | Path, as_of: str) -> LabelledDay:
    """``join`` and validation, one batch chunk at a time: memory is bounded by the chunk and the
    outcomes (an id and a label per customer), not by the day. Ids are matched exactly (an index of
    the outcomes' ids); a customer repeated in a later chunk is quarantined as a duplicate id, as
    whole-day validation would. A re-run replaces the file whole."""
    id_column, target = contract.id_column, contract.target_column
    if id_column not in labels.columns or target not in labels.columns:
        raise ValueError(f"outcomes need the columns {id_column!r} and {target!r}; got {list(labels.columns)}")
    ids = labels[id_column].astype(str)
    dups = int(ids.duplicated(keep="last").sum())
    last = ~ids.duplicated(keep="last").to_numpy()
    index, outcome = pd.Index(ids[last]), labels[target].to_numpy()[last]
    matched = np.zeros(len(index), bool)
    seen = SeenIds()
    out = LabelledDay(str(path), 0, 0, 0, 0, 0, dups, 0, Counter(), pd.DataFrame())
    with RowGroups(path, contract) as parquet:
        for chunk in chunks:
            chunk = chunk.drop(columns=[target], errors="ignore").reset_index(drop=True)
            at = index.get_indexer(chunk[id_column].astype(str)) if id_column in chunk.columns else \
                np.full(len(chunk), -1)
            has = at >= 0
            matched[at[has]] = True
            res = validate(chunk[has].assign(**{target: outcome[at[has]]}), contract, with_target=True, as_of=as_of)
            clean = res.clean
            again = seen.again(clean[id_column])
            if again.any():
                out.reasons["duplicate id"] += int(again.sum())
                clean = clean[~again]
            clean = clean.assign(as_of=pd.Timestamp(as_of))
            if not parquet.groups:
                out.head = clean.head(20)
            parquet.write(clean)
            out.rows += len(clean)
            out.positives += int(clean[target].sum())
            out.batch_rows += len(chunk)
            out.awaiting += int((~has).sum())
            out.quarantined += len(res.quarantined) + int(again.sum())
            out.reasons.update(res.reasons)
    out.unmatched = int((~matched).sum())
    return out
