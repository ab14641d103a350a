"""Missing is not wrong: blanks and null tokens are missing values, never quarantine reasons.

Files arrive with every cell as written (no pandas NA guessing); this module decides, once, which
strings mean "no value": empty or whitespace-only cells and the spec's ``null_values`` tokens
(compared case-insensitively after stripping). Missing feature values flow to the imputer (median
plus a missing indicator); only a present value that breaks a rule is quarantined.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

# Covers pandas' own default NA strings (so nothing that used to be missing becomes a value)
# plus the tokens common in exports: "-", "--", "?", "nil".
DEFAULT_NULL_VALUES: tuple[str, ...] = (
    "NA", "N/A", "#N/A", "#NA", "<NA>", "NaN", "-NaN", "null", "None", "nil", "-", "--", "?",
)
DEFAULT_MAX_MISSING_SHARE = 0.5


def _tokens(null_values: Iterable[str] | None) -> set[str]:
    values = DEFAULT_NULL_VALUES if null_values is None else null_values
    return {str(v).strip().lower() for v in values} | {""}


def missing_mask(s: pd.Series, null_values: Iterable[str] | None = None) -> pd.Series:
    """True where the value is absent: NA, blank/whitespace, or a null token."""
    mask = s.isna()
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        text = s.where(s.map(type) == str)  # only real strings are compared with the tokens
        mask |= text.str.strip().str.lower().isin(_tokens(null_values)).fillna(False).astype(bool)
    return mask


def normalize_missing(df: pd.DataFrame, null_values: Iterable[str] | None = None,
                      columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with every missing value of ``columns`` (default: all) set to NA."""
    out = df.copy()
    for c in (list(columns) if columns is not None else list(df.columns)):
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            mask = missing_mask(s, null_values)
            if mask.any():
                out[c] = s.where(~mask, None)
    return out


def missing_shares(df: pd.DataFrame) -> dict[str, float]:
    """Share of missing values per column of an already normalized frame."""
    if not len(df):
        return {c: 0.0 for c in df.columns}
    return {str(c): float(v) for c, v in df.isna().mean().items()}
