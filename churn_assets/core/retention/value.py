"""What a customer is worth, and what their churn would cost: expected loss = p x value x horizon.

The spec's ``value`` section names the column, its unit and the horizon::

    value: {column: MonthlyCharges, unit: monthly_revenue, horizon_months: 12}

Units: ``monthly_revenue`` (value x horizon_months), ``annual_revenue`` (value x horizon_months / 12),
``lifetime_value`` (already a total: the horizon does not apply). The synthetic default uses the
generator's documented ``monthly_revenue`` (``core/data/synthetic.py``), never a model feature.

Rules, stated once:

* no ``value`` section, or the column absent from the day's data: **risk only** (every customer is
  worth 1: expected loss = churn probability), with the reason in the asset's metadata;
* a customer whose value is missing: the day's median value (counted, with the reason);
* a value that is negative or not a number: the customer is **quarantined** (left out of the list,
  counted, with the reason and examples), like any bad row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

UNITS = ("monthly_revenue", "annual_revenue", "lifetime_value")


@dataclass(frozen=True)
class ValueSpec:
    column: str
    unit: str = "monthly_revenue"
    horizon_months: float = 12.0

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"value.unit {self.unit!r}: use one of {list(UNITS)}")
        if self.horizon_months <= 0:
            raise ValueError(f"value.horizon_months must be > 0, got {self.horizon_months}")

    def factor(self) -> float:
        """Multiplier from one value in the column to the value at stake over the horizon."""
        return {"monthly_revenue": self.horizon_months, "annual_revenue": self.horizon_months / 12.0,
                "lifetime_value": 1.0}[self.unit]


@dataclass
class Values:
    ids: pd.Series  # the customers kept, in input order
    at_stake: np.ndarray  # value over the horizon per kept customer (1.0 each when risk only)
    mode: str  # "value" | "risk_only"
    reason: str
    imputed: int = 0  # customers given the median (value missing)
    quarantined: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["customer_id", "reason"]))


def resolve(df: pd.DataFrame, spec: ValueSpec | None, id_column: str, source: str = "the day's customers") -> Values:
    """Each customer's value at stake over the horizon (``Values``), by the rules above."""
    ids = df[id_column].astype(str).reset_index(drop=True)
    if spec is None:
        return Values(ids, np.ones(len(df)), "risk_only", "no `value` section in the dataset spec: ranked by "
                      "churn risk only (expected loss = churn probability)")
    if spec.column not in df.columns:
        return Values(ids, np.ones(len(df)), "risk_only", f"{source} lack the value column {spec.column!r}: "
                      "ranked by churn risk only (expected loss = churn probability)")
    raw = df[spec.column].reset_index(drop=True)
    num = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna() | (raw.astype(str).str.strip() == "")
    not_number = num.isna() & ~missing
    negative = num < 0
    bad = (not_number | negative).to_numpy()
    reasons = np.where(not_number, f"{spec.column}: not a number", f"{spec.column}: negative value (rule: >= 0)")
    quarantined = pd.DataFrame({"customer_id": ids[bad].to_numpy(),
                                "value": raw[bad].astype(str).to_numpy(), "reason": reasons[bad]})
    keep = ~bad
    v = num[keep].to_numpy(float)
    miss = np.isnan(v)
    if miss.all():
        return Values(ids[keep].reset_index(drop=True), np.ones(int(keep.sum())), "risk_only",
                      f"{source}: no customer has a value in {spec.column!r}: ranked by churn risk only",
                      quarantined=quarantined)
    median = float(np.nanmedian(v))
    v[miss] = median
    reason = (f"{spec.column} ({spec.unit}) x {spec.factor():g} = value at stake over {spec.horizon_months:g} months"
              + (f"; {int(miss.sum())} customers without a value got the median {median:.2f}" if miss.any() else ""))
    return Values(ids[keep].reset_index(drop=True), v * spec.factor(), "value", reason, imputed=int(miss.sum()),
                  quarantined=quarantined)


def expected_loss(p: np.ndarray, at_stake: np.ndarray) -> np.ndarray:
    """Churn probability x value at stake over the horizon."""
    return np.asarray(p, float) * np.asarray(at_stake, float)
