"""The data contract: the resolved, JSON-serialisable schema of a data set (every column with its
role and rules, and why). Training builds it (``core.data``); the Bento reads it to generate its
request schema, so the serving kernel owns the type."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from churn_assets.model.missing import DEFAULT_NULL_VALUES


@dataclass
class ColumnContract:
    name: str
    role: str  # numeric | categorical | date | drop
    reason: str
    min: float | None = None
    max: float | None = None
    integer: bool = False
    nullable: bool = True
    categories: list[str] = field(default_factory=list)  # seen values (informative, not enforced)
    missing_share: float = 0.0  # share of training rows where the value is absent


@dataclass
class DataContract:
    """The resolved schema: the one description of a data set that every stage shares."""

    dataset: str
    id_column: str
    target_column: str
    positive_label: Any
    as_of: str  # ISO date; features are computed against it
    columns: list[ColumnContract]
    column_le: list[tuple[str, str]] = field(default_factory=list)
    # Strings read as missing values (besides blanks); validation applies them to every batch.
    null_values: list[str] = field(default_factory=lambda: list(DEFAULT_NULL_VALUES))

    def by_role(self, role: str) -> list[str]:
        return [c.name for c in self.columns if c.role == role]

    @property
    def feature_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.role != "drop"]

    def column(self, name: str) -> ColumnContract:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DataContract:
        raw = json.loads(text)
        raw["columns"] = [ColumnContract(**c) for c in raw["columns"]]
        raw["column_le"] = [tuple(p) for p in raw.get("column_le", [])]
        return cls(**raw)
