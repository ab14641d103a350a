"""Deterministic stratified 70/15/15 split with no customer in two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_assets.core.training.asset_values import Splits

__all__ = ["Splits", "split"]


def split(df: pd.DataFrame, target: str, id_column: str, seed: int = 42,
          val_share: float = 0.15, test_share: float = 0.15) -> Splits:
    from sklearn.model_selection import train_test_split

    if df[id_column].duplicated().any():
        raise ValueError(f"{id_column} has duplicates: clean the data before splitting")
    # Row positions are split, then each part taken once: the same rows as splitting the frame itself
    # (scikit-learn shuffles the same way), with one copy of the data instead of three or four.
    y = df[target].to_numpy()
    rest, test = train_test_split(np.arange(len(df)), test_size=test_share, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_share / (1 - test_share), stratify=y[rest],
                                  random_state=seed)
    return Splits(*(_take(df, rows) for rows in (train, val, test)))


def _take(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    part = df.take(rows)
    part.index = pd.RangeIndex(len(part))  # reset in place (reset_index would copy again)
    return part
