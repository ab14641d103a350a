"""Dataset spec (what the user writes) and data contract (what the pipeline resolves from it).

The *spec* is a small YAML file: where the data lives, which column is the id and which the
target, optional overrides. The *contract* is the resolved, JSON-serialisable schema: every
column with its role, dtype and rules, plus why it got that role. The contract drives the
pandera schema (training), the feature transformer and the request schema of the Bento
(serving), so all three agree by construction.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from churn_assets.core.data.spec_schema import Role, SpecModel, explain
from churn_assets.model.contract import ColumnContract, DataContract
from churn_assets.model.missing import DEFAULT_MAX_MISSING_SHARE

__all__ = ["ROLES", "ColumnContract", "DataContract", "DatasetSpec", "SourceSpec", "load_spec", "synthetic_spec"]

ROLES = get_args(Role)  # numeric, categorical, date, drop


@dataclass
class SourceSpec:
    kind: str = "synthetic"  # synthetic | file | sql
    path: str | None = None  # CSV or Parquet
    url: str | None = None  # SQLAlchemy URL
    table: str | None = None
    query: str | None = None
    rows: int = 100_000  # synthetic only
    seed: int = 42  # synthetic only
    encoding: str | None = None  # CSV only; None: detected
    delimiter: str | None = None  # CSV only; None: sniffed
    decimal: str | None = None  # CSV only; None: a decimal comma is detected when unambiguous


@dataclass
class DatasetSpec:
    name: str
    source: SourceSpec
    id_column: str
    target_column: str
    positive_label: Any = 1
    as_of: dt.date | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    drop_columns: list[str] = field(default_factory=list)
    # Personal columns: dropped as the data is read (core/data/personal.py); ``not_pii`` answers the guess.
    pii_columns: list[str] = field(default_factory=list)
    not_pii: list[str] = field(default_factory=list)
    # Per-column rules, e.g. {"Balance": {"min": 0}}; {"col": {"min": None}} disables an inferred one.
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Row-level rules: pairs (a, b) meaning a <= b whenever both are present.
    column_le: list[tuple[str, str]] = field(default_factory=list)
    # Whether ambiguous columns may be inferred; the synthetic spec lists everything explicitly.
    infer: bool = True
    # Monitoring: where each day's customers and, later, their outcomes are ({date} is filled in),
    # e.g. {"path": "batches/{date}.csv"} or {"url": ..., "query": "... where day = :date"}.
    scoring: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    # Retention (core/retention): the customer's value {column, unit, horizon_months}, a past randomized
    # campaign {path, treatment_column, outcome_column}, and where a campaign's outcomes arrive
    # ({path: ".../{date}.csv"} or {url, query}; default: `labels`).
    value: dict[str, Any] | None = None
    campaign_history: dict[str, Any] | None = None
    campaign_outcomes: dict[str, Any] | None = None
    # Missing is not wrong: these strings (and blanks) are missing values; None = the defaults.
    null_values: list[str] | None = None
    # A feature column with a larger share of missing values is dropped (reason in the contract).
    max_missing_share: float = DEFAULT_MAX_MISSING_SHARE


def synthetic_spec(rows: int = 100_000, seed: int = 42) -> DatasetSpec:
    """The default: the seed's schema, every column typed and ruled explicitly."""
    from churn_assets.core.data.synthetic import DEFAULT_AS_OF

    counts = ["total_purchases", "support_tickets", "emails_sent", "emails_opened",
              "logins_last_30_days", "products_owned"]
    types = {c: "numeric" for c in counts + ["total_spent", "customer_lifetime_months",
                                             "support_resolution_time", "feature_usage_score"]}
    types.update({c: "date" for c in ["signup_date", "last_purchase_date", "last_login_date"]})
    checks: dict[str, dict[str, Any]] = {c: {"min": 0, "integer": True} for c in counts}
    checks.update({
        "total_spent": {"min": 0},
        "customer_lifetime_months": {"min": 1, "integer": True},
        "support_resolution_time": {"min": 0},
        "feature_usage_score": {"min": 0, "max": 100},
    })
    return DatasetSpec(
        name="synthetic",
        source=SourceSpec(kind="synthetic", rows=rows, seed=seed),
        id_column="customer_id",
        target_column="churn",
        positive_label=True,
        as_of=DEFAULT_AS_OF,
        column_types=types,
        checks=checks,
        column_le=[("emails_opened", "emails_sent")],
        infer=False,
        # synthetic.monthly_revenue: derived per customer, never a column of the data or a feature
        value={"column": "monthly_revenue", "unit": "monthly_revenue", "horizon_months": 12.0},
    )


def load_spec(path: str | os.PathLike | None) -> DatasetSpec:
    """Read and validate a YAML spec (``spec_schema``); relative paths resolve against its folder."""
    if not path:
        return synthetic_spec()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset spec not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:  # e.g. an unquoted {date} inside a {...} mapping
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise ValueError(f"dataset spec {path} is not valid YAML{at}: {getattr(err, 'problem', err)}; "
                         "quote values that contain braces, e.g. path: \"batches/{date}.csv\"") from None
    if not isinstance(raw, dict):  # a ValueError like every other spec problem
        msg = f"dataset spec {path}: expected a mapping of keys, got {type(raw).__name__}"
        raise ValueError(msg)  # noqa: TRY004
    try:
        m = SpecModel.model_validate(raw)
    except ValidationError as err:
        raise ValueError(explain(err, str(path))) from None
    src = m.source.model_dump()
    if src["kind"] is None:
        src["kind"] = "sql" if src.get("url") else "file" if src.get("path") else "synthetic"
    if src.get("path") and not os.path.isabs(src["path"]):
        src["path"] = str((path.parent / src["path"]).resolve())
    return DatasetSpec(
        name=m.name or path.stem,
        source=SourceSpec(**src),
        id_column=m.id_column,
        target_column=m.target_column,
        positive_label=m.positive_label,
        as_of=m.as_of,
        column_types=dict(m.column_types),
        drop_columns=list(m.drop_columns),
        pii_columns=list(m.pii_columns),
        not_pii=list(m.not_pii),
        checks={c: r.model_dump(exclude_unset=True) for c, r in m.checks.items()},
        column_le=[tuple(p) for p in m.column_le],
        infer=m.infer,
        scoring=_relative(_section(m.scoring), path.parent),
        labels=_relative(_section(m.labels), path.parent),
        value=_section(m.value),
        campaign_history=_relative(_section(m.campaign_history), path.parent),
        campaign_outcomes=_relative(_section(m.campaign_outcomes), path.parent),
        null_values=m.null_values,
        max_missing_share=m.max_missing_share,
    )


def _section(model) -> dict | None:
    return model.model_dump(exclude_none=True) if model is not None else None


def _relative(section: dict | None, base: Path) -> dict | None:
    if section and section.get("path") and not os.path.isabs(section["path"]):
        return {**section, "path": str(base / section["path"])}
    return section
