"""The serving request schema, generated from the data contract (pydantic).

The same rules as the pandera schema of training: numeric bounds (``ge``/``le``), whole
numbers for counts, ISO dates not after the as-of date, and row rules such as
``emails_opened <= emails_sent``. A violation names the field and the rule. Unknown fields are
rejected (a misspelt field must not silently become a missing value).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from churn_assets.model.contract import DataContract

AS_OF_FIELD = "as_of"


def _numeric_field(c) -> Any:
    constraints = {}
    if c.min is not None:
        constraints["ge"] = c.min
    if c.max is not None:
        constraints["le"] = c.max
    if c.integer:
        constraints["multiple_of"] = 1
    kind = Annotated[float, Field(**constraints, description=c.reason)]
    return kind | None if c.nullable else kind


def customer_model(contract: DataContract, name: str = "Customer") -> type[BaseModel]:
    """A pydantic model of one raw customer record of this data contract."""
    fields: dict[str, Any] = {
        contract.id_column: (str, Field(min_length=1, description="customer identifier")),
    }
    for c in contract.columns:
        if c.role == "numeric":
            fields[c.name] = (_numeric_field(c), ...)  # required, may be null (imputed)
        elif c.role == "date":
            fields[c.name] = (dt.date | None, Field(..., description="ISO date (YYYY-MM-DD)"))
        elif c.role == "categorical":
            fields[c.name] = (str | None, Field(..., description=f"one of {c.categories[:10]}..."
                                                   if len(c.categories) > 10 else f"one of {c.categories}"))
        else:  # dropped columns may be sent (they are raw columns) and are ignored
            fields[c.name] = (Any, Field(None, description=f"ignored ({c.reason})"))
    fields[contract.target_column] = (Any, Field(None, description="ignored at serving time"))
    fields[AS_OF_FIELD] = (dt.date | None, Field(None, description="score as of this date "
                                                    f"(default: the model's as-of date {contract.as_of or 'n/a'})"))
    le_pairs = [tuple(p) for p in contract.column_le]
    date_cols = [c.name for c in contract.columns if c.role == "date"]

    default_ref = dt.date.fromisoformat(contract.as_of) if contract.as_of else None

    def check_rows(self):
        # Runs once per record on the serving path: plain dict reads, the default date parsed once.
        values = self.__dict__
        for a, b in le_pairs:
            va, vb = values[a], values[b]
            if va is not None and vb is not None and va > vb:
                raise ValueError(f"{a} ({va:g}) must be <= {b} ({vb:g})")
        ref = values[AS_OF_FIELD] or default_ref
        if ref is not None:
            for d in date_cols:
                v = values[d]
                if v is not None and v > ref:
                    raise ValueError(f"{d} ({v}) is after the as-of date {ref}")
        return self

    model = create_model(
        name,
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        __validators__={"row_rules": model_validator(mode="after")(check_rows)},
        **fields,
    )
    return model


def to_record(obj: BaseModel) -> dict[str, Any]:
    """Validated model -> the plain record the scorer reads (dates stay ``date`` objects)."""
    return obj.__dict__
