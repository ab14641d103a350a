"""The one exception type for bad input data: its message names the file, the column and the rule.

A ``DataError`` is what a user sees when a data set cannot be used as it is (an empty file,
duplicate column names, a target that is not binary...). The Dagster assets turn it into a
``dg.Failure`` with the same message, so nobody has to read a pandas traceback.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. A ``ValueError`` so existing ``except ValueError`` callers keep working."""

    def __init__(self, message: str, *, source: str | None = None, column: str | None = None,
                 rule: str | None = None):
        parts = [f"{source}" if source else None, f"column {column!r}" if column else None, message]
        super().__init__(": ".join(p for p in parts if p) + (f" [rule: {rule}]" if rule else ""))
        self.source, self.column, self.rule = source, column, rule
