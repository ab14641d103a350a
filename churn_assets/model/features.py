"""Feature engineering as sklearn transformers that work on DataFrames *and* on raw records.

Both entry points funnel into the same ``*_columns`` functions over a dict of numpy arrays,
so the trained Pipeline and the serving fast path compute identical numbers (a test proves it).

* ``FeatureBuilder``: raw columns -> engineered features (the seed's recency, frequency,
  monetary, engagement, flags and crosses where their columns exist; ``days_since_<date>``
  for every date against an as-of date, never the wall clock).
* ``MatrixEncoder``: features -> float matrix (median imputation with missing indicators,
  optional standardisation, one-hot categories with an "other" bucket).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

Columns = dict[str, np.ndarray]
AS_OF_KEY = "as_of"  # optional per-row reference date in the input


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=(b != 0) & ~np.isnan(b))
    return np.where(np.isnan(a) | np.isnan(b), np.nan, out)


# name -> (required raw/derived columns, function). Order matters: later recipes use earlier ones.
Recipe = tuple[tuple[str, ...], Callable[[Columns, "FeatureBuilder"], np.ndarray]]
RECIPES: dict[str, Recipe] = {
    "purchase_frequency": (("total_purchases", "customer_lifetime_months"),
                           lambda c, _: _div(c["total_purchases"], c["customer_lifetime_months"])),
    "login_frequency": (("logins_last_30_days",), lambda c, _: c["logins_last_30_days"] / 30.0),
    "average_purchase_value": (("total_spent", "total_purchases"),
                               lambda c, _: _div(c["total_spent"], c["total_purchases"])),
    "spending_per_month": (("total_spent", "customer_lifetime_months"),
                           lambda c, _: _div(c["total_spent"], c["customer_lifetime_months"])),
    "support_interaction_rate": (("support_tickets", "customer_lifetime_months"),
                                 lambda c, _: _div(c["support_tickets"], c["customer_lifetime_months"])),
    "support_burden": (("support_interaction_rate", "support_resolution_time"),
                       lambda c, _: c["support_interaction_rate"] * np.nan_to_num(c["support_resolution_time"])),
    "email_open_rate": (("emails_opened", "emails_sent"),
                        lambda c, _: _div(c["emails_opened"], c["emails_sent"])),
    "feature_usage_normalized": (("feature_usage_score",), lambda c, _: c["feature_usage_score"] / 100.0),
    "is_active": (("days_since_last_purchase",),
                  lambda c, _: (c["days_since_last_purchase"] < 90).astype(float)),
    "is_high_value": (("total_spent",),
                      lambda c, fb: (c["total_spent"] > fb.high_value_threshold_).astype(float)),
    "is_engaged": (("email_open_rate",), lambda c, _: (c["email_open_rate"] > 0.5).astype(float)),
    "recency_frequency": (("days_since_last_purchase", "purchase_frequency"),
                          lambda c, _: c["days_since_last_purchase"] * c["purchase_frequency"]),
    "recency_monetary": (("days_since_last_purchase", "average_purchase_value"),
                         lambda c, _: c["days_since_last_purchase"] * c["average_purchase_value"]),
    "frequency_monetary": (("purchase_frequency", "average_purchase_value"),
                           lambda c, _: c["purchase_frequency"] * c["average_purchase_value"]),
}


def days_name(column: str) -> str:
    base = column.removesuffix("_date")
    return f"days_since_{base}"


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day_number(v: Any) -> float:
    """One date (date/datetime object, ISO string, None/NaN/NaT/blank) -> days since 1970-01-01.

    A blank string is a missing date (a contract without dates has the as-of date ""), not an error."""
    if v is None or v != v or v is pd.NaT:
        return np.nan
    if isinstance(v, str):
        if not v.strip():
            return np.nan
        v = dt.date.fromisoformat(v[:10])
    elif isinstance(v, np.datetime64):
        return float(v.astype("datetime64[D]").astype(np.int64))
    return float(v.toordinal() - _EPOCH_ORDINAL)


def _to_days(values: Any) -> np.ndarray:
    """Dates of any form -> float days since 1970-01-01 (NaN when missing).

    Whole days as floats: subtracting two of them is exact, so every path (DataFrame, records)
    gives the same ``days_since_*`` to the last bit.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        days = arr.astype("datetime64[D]")
        return np.where(np.isnat(days), np.nan, days.astype(np.int64).astype(np.float64))
    return np.fromiter((_day_number(v) for v in arr), dtype=np.float64, count=len(arr))


class FeatureBuilder(TransformerMixin, BaseEstimator):
    def __init__(self, numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                 dates: Sequence[str] = (), as_of: str = ""):
        self.numeric = numeric
        self.categorical = categorical
        self.dates = dates
        self.as_of = as_of

    # -- inputs -> column dict -------------------------------------------------------------
    def columns_from_frame(self, X: pd.DataFrame) -> Columns:
        cols: Columns = {c: X[c].to_numpy(dtype=float, na_value=np.nan) for c in self.numeric}
        cols.update({c: X[c].to_numpy(dtype=object) for c in self.categorical})
        cols.update({c: _to_days(X[c].to_numpy()) for c in self.dates})
        if AS_OF_KEY in X.columns:
            cols[AS_OF_KEY] = _to_days(X[AS_OF_KEY].to_numpy())
        return cols

    def columns_from_records(self, records: Sequence[Mapping[str, Any]]) -> Columns:
        cols: Columns = {}
        if self.numeric:  # one pass over the records for all numeric columns (None -> NaN)
            block = np.array([[r.get(c) for c in self.numeric] for r in records], dtype=float).reshape(
                len(records), len(self.numeric))
            cols.update({c: block[:, i] for i, c in enumerate(self.numeric)})
        cols.update({c: np.array([r.get(c) for r in records], dtype=object) for c in self.categorical})
        cols.update({c: _to_days([r.get(c) for r in records]) for c in self.dates})
        if any(r.get(AS_OF_KEY) for r in records):
            cols[AS_OF_KEY] = _to_days([r.get(AS_OF_KEY) or self.as_of for r in records])
        return cols

    # -- the one implementation ------------------------------------------------------------
    def features_from_columns(self, cols: Columns) -> Columns:
        out: Columns = {c: cols[c] for c in self.numeric}
        if self.dates:
            ref = cols.get(AS_OF_KEY, _day_number(self.as_of) if self.as_of else np.nan)
            for c in self.dates:
                out[days_name(c)] = ref - cols[c]  # whole days, NaN when the date is missing
        for name in self.recipes_:
            _, fn = RECIPES[name]
            out[name] = fn(out, self)
        out.update({c: cols[c] for c in self.categorical})
        return out

    # -- sklearn API -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None):
        available = set(self.numeric) | {days_name(d) for d in self.dates}
        self.recipes_ = []
        for name, (needs, _) in RECIPES.items():
            if all(n in available for n in needs):
                self.recipes_.append(name)
                available.add(name)
        spent = "total_spent"
        self.high_value_threshold_ = (
            float(np.nanpercentile(X[spent].to_numpy(dtype=float, na_value=np.nan), 75))
            if spent in self.numeric else np.nan
        )
        self.numeric_features_ = [c for c in self.features_from_columns(
            self.columns_from_frame(X.head(2))) if c not in self.categorical]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.features_from_columns(self.columns_from_frame(X)), index=X.index)

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> Columns:
        return self.features_from_columns(self.columns_from_records(records))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(self.numeric_features_ + list(self.categorical), dtype=object)


ENCODE_CHUNK_ROWS = 250_000
_FACTORIZE_FROM = 64  # rows; below this (serving's records) the per-value loop is cheaper


def _category_index(values: np.ndarray, cats: dict[str, int]) -> np.ndarray:
    """Each value's one-hot position: its category, else ``len(cats)`` (other, and missing).

    A value is looked up by ``str(value)``. Large columns are factorized first, so that each distinct
    value is looked up once; that is exact only when the distinct values are all strings (factorize
    merges 1, 1.0 and True, whose ``str`` differ), so any other column takes the per-value loop.
    """
    other = len(cats)
    if len(values) >= _FACTORIZE_FROM:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        if all(isinstance(u, str) for u in uniques):
            lut = np.array([cats.get(u, other) for u in uniques] + [other], dtype=np.intp)
            return lut[codes]  # code -1 (None, NaN, NaT, pd.NA) -> the last entry: other
    return np.fromiter((cats.get(v if isinstance(v, str) else str(v), other) if v is not None and v is not pd.NA
                        and v == v else other for v in values), dtype=np.intp, count=len(values))


class MatrixEncoder(TransformerMixin, BaseEstimator):
    def __init__(self, categorical: Sequence[str] = (), scale: bool = False,
                 max_categories: int = 20, min_frequency: int = 5):
        self.categorical = categorical
        self.scale = scale
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y=None):
        self.numeric_ = [c for c in X.columns if c not in self.categorical]
        num = X[self.numeric_].to_numpy(dtype=float, na_value=np.nan)
        self.medians_ = np.nan_to_num(np.nanmedian(num, axis=0)) if len(num) else np.zeros(len(self.numeric_))
        self.missing_cols_ = [i for i in range(len(self.numeric_)) if np.isnan(num[:, i]).any()]
        filled = np.where(np.isnan(num), self.medians_, num)
        self.means_ = filled.mean(axis=0) if self.scale else np.zeros(len(self.numeric_))
        std = filled.std(axis=0) if self.scale else np.ones(len(self.numeric_))
        self.stds_ = np.where(std > 0, std, 1.0)
        self.categories_ = {}
        for c in self.categorical:
            counts = X[c].dropna().astype(str).value_counts()
            keep = counts[counts >= self.min_frequency].index[: self.max_categories]
            self.categories_[c] = {v: i for i, v in enumerate(keep)}
        names = list(self.numeric_) + [f"{self.numeric_[i]}_missing" for i in self.missing_cols_]
        for c, cats in self.categories_.items():
            names += [f"{c}={v}" for v in cats] + [f"{c}=<other>"]
        self.feature_names_ = names
        # Mean of the encoded training matrix: the background of exact linear explanations (model/explain.py).
        onehot = [np.bincount([cats.get(str(v), len(cats)) if v is not None and v == v else len(cats)
                               for v in X[c].to_numpy(dtype=object)], minlength=len(cats) + 1) / max(len(X), 1)
                  for c, cats in self.categories_.items()]
        self.encoded_means_ = np.concatenate([(filled.mean(axis=0) - self.means_) / self.stds_ if len(num)
                                              else np.zeros(len(self.numeric_)),
                                              np.isnan(num[:, self.missing_cols_]).mean(axis=0), *onehot])
        return self

    def encode_columns(self, cols: Columns, out: np.ndarray | None = None) -> np.ndarray:
        """The encoded matrix, written into ``out`` when given (rows x features).

        In-place arithmetic on one working copy: the same IEEE operations per element as
        ``(where(nan, median, x) - mean) / std``, so the matrix is equal to the last bit, with one
        full-size temporary instead of five (each fresh one costs page faults at 200k rows).
        """
        n = len(next(iter(cols.values()))) if cols else 0
        out = np.empty((n, len(self.feature_names_))) if out is None else out
        k, m = len(self.numeric_), len(self.missing_cols_)
        num = np.empty((n, k))
        for i, c in enumerate(self.numeric_):
            num[:, i] = np.asarray(cols[c], dtype=float)
        nan = np.isnan(num)
        np.copyto(num, np.broadcast_to(self.medians_, num.shape), where=nan)
        num -= self.means_
        num /= self.stds_
        out[:, :k] = num
        out[:, k:k + m] = nan[:, self.missing_cols_]
        at = k + m
        for c, cats in self.categories_.items():
            block = out[:, at:at + len(cats) + 1]
            block[:] = 0.0
            block[np.arange(n), _category_index(cols[c], cats)] = 1.0
            at += len(cats) + 1
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        if len(X) <= ENCODE_CHUNK_ROWS:
            return self.encode_columns({c: X[c].to_numpy() for c in X.columns})
        return self.encode_into(X, np.empty((len(X), len(self.feature_names_))))

    def encode_into(self, X: pd.DataFrame, out: np.ndarray) -> np.ndarray:
        """``transform(X)`` written into ``out`` (rows x features), in row chunks.

        The arithmetic is row by row, so chunks give the same matrix; they bound the working copies
        to one chunk, and ``out`` can be a slice of a larger matrix (train and validation in one block).
        """
        for i in range(0, len(X), ENCODE_CHUNK_ROWS):
            part = X.iloc[i:i + ENCODE_CHUNK_ROWS]
            self.encode_columns({c: part[c].to_numpy() for c in part.columns}, out[i:i + len(part)])
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(self.feature_names_, dtype=object)
