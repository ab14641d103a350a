"""Deterministic stratified 70/15/15 split with no customer in two splits."""

from __future__ import annotations

import pandas as pd

from churn_assets.core.asset_values import Splits

__all__ = ["Splits", "split"]


def split(df: pd.DataFrame, target: str, id_column: str, seed: int = 42,
          val_share: float = 0.15, test_share: float = 0.15) -> Splits:
    from sklearn.model_selection import train_test_split

    if df[id_column].duplicated().any():
        raise ValueError(f"{id_column} has duplicates: clean the data before splitting")
    rest, test = train_test_split(df, test_size=test_share, stratify=df[target], random_state=seed)
    train, val = train_test_split(
        rest, test_size=val_share / (1 - test_share), stratify=rest[target], random_state=seed
    )
    return Splits(train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True))
