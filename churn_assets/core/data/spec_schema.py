"""The schema of a dataset spec (YAML), as pydantic models: an unknown key is an error naming it.

A misspelt key (``id_colum``, ``checks: {Balance: {mn: 0}}``) must not be silently ignored: the
error names the key, where it is, and the closest known key. ``load_spec`` validates with
``SpecModel`` and builds the ``DatasetSpec`` dataclass the pipeline uses.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Role = Literal["numeric", "categorical", "date", "drop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceModel(_Strict):
    kind: Literal["synthetic", "file", "sql"] | None = None
    path: str | None = Field(None, description="CSV (.csv, .csv.gz, .tsv) or Parquet file")
    url: str | None = Field(None, description="SQLAlchemy URL")
    table: str | None = None
    query: str | None = None
    rows: int = Field(100_000, gt=0, description="synthetic only")
    seed: int = Field(42, description="synthetic only")
    encoding: str | None = Field(None, description="CSV encoding; default: detected (UTF-8 with/without BOM, "
                                                   "else cp1252/latin-1)")
    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="CSV delimiter; default: sniffed from the header (, ; tab |)")
    decimal: Literal[".", ","] | None = Field(None, description="decimal mark; default: a decimal comma is "
                                                                "detected when unambiguous")


class BatchSourceModel(_Strict):
    """``scoring``/``labels``: where each day's rows are; ``{date}`` / ``:date`` is filled in."""

    path: str | None = None
    url: str | None = None
    query: str | None = None
    table: str | None = None


class ValueModel(_Strict):
    """``value``: what a customer is worth (retention targeting, core/retention/value.py)."""

    column: str
    unit: Literal["monthly_revenue", "annual_revenue", "lifetime_value"] = "monthly_revenue"
    horizon_months: float = Field(12.0, gt=0, description="expected loss = churn probability x value x horizon")


class CampaignHistoryModel(_Strict):
    """``campaign_history``: a past randomized campaign (uplift targeting, core/retention/uplift.py)."""

    path: str
    treatment_column: str = "treated"
    outcome_column: str = "churned"


class CheckRules(_Strict):
    min: float | None = None
    max: float | None = None
    integer: bool | None = None
    nullable: bool | None = None


class SpecModel(_Strict):
    name: str | None = None
    source: SourceModel
    id_column: str
    target_column: str
    positive_label: Any = 1
    as_of: dt.date | None = None
    column_types: dict[str, Role] = {}
    drop_columns: list[str] = []
    pii_columns: list[str] = Field([], description="personal columns (names, e-mails, ...): dropped as the data is "
                                                   "read, stored nowhere (core/data/personal.py)")
    not_pii: list[str] = Field([], description="columns the personal-data guess flagged that are not personal")
    checks: dict[str, CheckRules] = {}
    column_le: list[tuple[str, str]] = []
    infer: bool = True
    scoring: BatchSourceModel | None = None
    labels: BatchSourceModel | None = None
    value: ValueModel | None = None
    campaign_history: CampaignHistoryModel | None = None
    campaign_outcomes: BatchSourceModel | None = None
    null_values: list[str] | None = Field(None, description="strings that mean 'missing' (besides blanks); "
                                                            "default: missing.DEFAULT_NULL_VALUES")
    max_missing_share: float = Field(0.5, ge=0.0, le=1.0, description="a feature column with more missing "
                                                                       "values than this is dropped")

    @field_validator("source", mode="before")
    @classmethod
    def _path_shorthand(cls, v):
        return {"path": v} if isinstance(v, str) else v

    @field_validator("as_of", mode="before")
    @classmethod
    def _empty_date(cls, v):
        return None if v == "" else v


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model that holds the key at ``loc`` (``checks.<column>.<rule>`` skips the column)."""
    if len(loc) == 1:
        return SpecModel
    if loc[0] == "source":
        return SourceModel
    if loc[0] in ("scoring", "labels", "campaign_outcomes"):
        return BatchSourceModel
    if loc[0] == "value":
        return ValueModel
    if loc[0] == "campaign_history":
        return CampaignHistoryModel
    if loc[0] == "checks" and len(loc) == 3:
        return CheckRules
    return None


def explain(err: ValidationError, where: str) -> str:
    """One line per problem, naming the key and, for an unknown key, the closest known one."""
    lines, missing = [], []
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"])
        key = ".".join(loc)
        if e["type"] == "missing":
            missing.append(key)
        elif e["type"] == "extra_forbidden":
            model = _model_at(loc)
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            lines.append(f"unknown key {key!r}{hint}")
        else:
            lines.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
    if missing:
        lines.insert(0, f"lacks required keys: {', '.join(missing)}")
    return f"dataset spec {where}: " + "; ".join(lines)
