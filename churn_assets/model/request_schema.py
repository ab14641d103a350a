"""The serving request schema, generated from the data contract (pydantic).

The same rules as the pandera schema of training: numeric bounds (``ge``/``le``), whole
numbers for counts, ISO dates not after the as-of date, and row rules such as
``emails_opened <= emails_sent``. A violation names the field and the rule.

Types are strict: a number is a JSON number (not ``true``/``false``, not a string), a category a
string, a date (and ``as_of``) an ISO ``YYYY-MM-DD`` string; any field may be null (imputed) except
the id. Unknown fields are rejected (a misspelt field must not silently become a missing value), and
so are the target column and the columns the contract drops: they are not inputs of the model, and
a request carrying them gets a 400 naming the field (``not_an_input``), on HTTP and gRPC alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from churn_assets.model.contract import DataContract

AS_OF_FIELD = "as_of"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _iso_date(v: Any) -> Any:
    """A date field's input must be an ISO ``YYYY-MM-DD`` string (or, from Python, a ``date``).

    Pydantic's lax date took ``0`` (1970-01-01), Unix timestamps and datetime strings. A string of
    the documented shape goes on to pydantic's own date parsing (an impossible date such as
    2025-13-45 is its ``date_from_datetime_parsing``); anything else is ``date_type``."""
    if v is None or type(v) is dt.date:
        return v
    if type(v) is str and len(v) == 10 and v[4] == "-" and v[7] == "-" and v.isascii() \
            and v[:4].isdigit() and v[5:7].isdigit() and v[8:].isdigit():
        return v
    raise PydanticCustomError("date_type", "Input should be an ISO date string YYYY-MM-DD")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date),
                    Field(json_schema_extra={"pattern": ISO_DATE_PATTERN})]


def _numeric_field(c) -> Any:
    constraints: dict[str, Any] = {"strict": True}  # a number: not a bool, not a numeric string
    if c.min is not None:
        constraints["ge"] = c.min
    if c.max is not None:
        constraints["le"] = c.max
    if c.integer:
        constraints["multiple_of"] = 1
    kind = Annotated[float, Field(**constraints, description=c.reason)]
    return kind | None if c.nullable else kind


def not_inputs(contract: DataContract) -> dict[str, str]:
    """Raw columns that are not inputs of the model -> why: the target and every dropped column."""
    out = {c.name: f"dropped by the data contract ({c.reason})" for c in contract.columns if c.role == "drop"}
    out[contract.target_column] = "the target column (what the model predicts)"
    out.pop(contract.id_column, None)
    return out


def customer_model(contract: DataContract, name: str = "Customer") -> type[BaseModel]:
    """A pydantic model of one raw customer record of this data contract."""
    fields: dict[str, Any] = {
        contract.id_column: (Annotated[str, Field(strict=True)], Field(min_length=1, description="customer identifier")),
    }
    for c in contract.columns:
        if c.role == "numeric":
            fields[c.name] = (_numeric_field(c), ...)  # required, may be null (imputed)
        elif c.role == "date":
            fields[c.name] = (IsoDate | None if c.nullable else IsoDate,
                              Field(..., description="ISO date (YYYY-MM-DD), not after the as-of date"))
        elif c.role == "categorical":
            seen = f"{c.categories[:10]}..." if len(c.categories) > 10 else f"{c.categories}"
            kind = Annotated[str, Field(strict=True)]
            fields[c.name] = (kind | None if c.nullable else kind,
                              Field(..., description=f"one of {seen} (any other value counts as 'other')"))
    fields[AS_OF_FIELD] = (IsoDate | None, Field(None, description="score as of this date, ISO YYYY-MM-DD "
                                                 f"(default: the model's as-of date {contract.as_of or 'n/a'})"))
    unused = not_inputs(contract)
    unused_names = frozenset(unused)
    le_pairs = [tuple(p) for p in contract.column_le]
    date_cols = [c.name for c in contract.columns if c.role == "date"]
    # pydantic's multiple_of lets a float within 2.2e-16 of a whole number pass (2.6e-42 for a count);
    # training's check is exact (s % 1 == 0), and so is this one.
    int_cols = [c.name for c in contract.columns if c.role == "numeric" and c.integer]

    default_ref = dt.date.fromisoformat(contract.as_of) if contract.as_of else None

    def check_record(cls, data, handler):
        # Runs once per record on the serving path: one set test before, plain dict reads after.
        if type(data) is dict and not unused_names.isdisjoint(data):
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("not_an_input", "{column} is not an input of the model: {why}; "
                                                         "do not send it", {"column": k, "why": unused[k]}),
                loc=(k,), input=data[k]) for k in data if k in unused_names])
        self = handler(data)
        values = self.__dict__
        for c in int_cols:
            v = values[c]
            if v is not None and v % 1:
                raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                    type="multiple_of", loc=(c,), input=v, ctx={"multiple_of": 1})])
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

    rules = [f"{a} <= {b}" for a, b in le_pairs] + ([f"every date <= as_of (default {contract.as_of})"]
                                                     if date_cols else [])
    doc = ("One raw customer record. Row rules (a 400 names the rule when one is broken): "
           + ("; ".join(rules) if rules else "none") + ". Not inputs, rejected with a 400 naming the field "
           "(not_an_input): " + ", ".join(sorted(unused)) + ". Unknown fields are rejected too (extra_forbidden).")
    model = create_model(
        name,
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"description": doc}),
        __validators__={"record_rules": model_validator(mode="wrap")(check_record)},
        **fields,
    )
    return model


def example_record(contract: DataContract) -> dict[str, Any]:
    """A valid record generated from the contract alone (OpenAPI examples, Swagger's "Try it out"):
    dates 30 days before the as-of date, the most frequent seen category, numbers within their bounds,
    every row rule kept."""
    ref = dt.date.fromisoformat(contract.as_of) if contract.as_of else dt.date(2024, 1, 1)
    out: dict[str, Any] = {contract.id_column: "example-customer-1"}
    for c in contract.columns:
        if c.role == "numeric":
            lo, hi = c.min, c.max
            v = (lo + hi) / 2 if lo is not None and hi is not None else lo + 1 if lo is not None \
                else hi - 1 if hi is not None else 1.0
            v = float(round(v)) if c.integer else float(v)
            if (lo is not None and v < lo) or (hi is not None and v > hi):  # rounding left the bounds
                v = float(lo if lo is not None else hi)
            out[c.name] = v
        elif c.role == "date":
            out[c.name] = (ref - dt.timedelta(days=30)).isoformat()
        elif c.role == "categorical":
            out[c.name] = c.categories[0] if c.categories else (None if c.nullable else "other")
    for a, b in contract.column_le:  # a <= b: lift b to a when it is within b's bounds, else lower a
        va, vb = out.get(a), out.get(b)
        if va is not None and vb is not None and va > vb:
            hi = contract.column(b).max
            if hi is None or va <= hi:
                out[b] = va
            else:
                out[a] = vb
    return out
