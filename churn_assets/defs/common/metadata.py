"""Helpers that turn frames, figures and dicts into Dagster metadata people like to look at.

How the Dagster UI (1.13) shows each kind, which decides what to use:

- floats are printed as they are (``0.8491592080240942``): round them (``number``, ``floats``: 4 decimals);
- ``MetadataValue.table`` is always drawn inline as a table (``table``, ``counts``), the right kind for a
  list of records or a dict of counts;
- ``MetadataValue.json`` and ``MetadataValue.md`` are inline only under 1,000 characters; longer ones
  are a ``[Show JSON]`` / ``[Show Markdown]`` link that opens a dialog;
- a Markdown image renders in that dialog (its sanitizer allows ``data:`` image sources), but a PNG as a
  data URI is always over 1,000 characters, so a plot is one click away: it cannot show inline.
"""


import base64
import math
from typing import Any

import dagster as dg
import pandas as pd

ID_COLUMNS = ("customer_id",)


def preview(df: pd.DataFrame, rows: int = 5, hide: tuple[str, ...] = ()) -> dg.MarkdownMetadataValue:
    """The first rows as a table, without customer ids (``hide``: the data set's id column;
    ``customer_id`` always): the UI's event log is not a store that `forget` can clean."""
    gone = [c for c in (*hide, *ID_COLUMNS) if c in df.columns]
    return dg.MetadataValue.md(df.head(rows).drop(columns=gone).to_markdown(index=False))


def image(png: bytes, alt: str) -> dg.MarkdownMetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def column_schema(df: pd.DataFrame) -> dg.TableSchemaMetadataValue:
    """For the standard ``dagster/column_schema`` key: the UI shows it as the asset's columns and
    Dagster's column lineage and catalog search read it."""
    return dg.MetadataValue.table_schema(
        dg.TableSchema(columns=[dg.TableColumn(str(c), str(t)) for c, t in df.dtypes.items()])
    )


# Dagster compiles a @record class's constructor on its first instantiation and keeps the caller's local
# variables in that constructor's namespace for good (dagster_shared.record, update_from_frame). The
# first TableSchema used to be built here for a step's table, which then stayed in memory for the life
# of the process (the raw customers, found at 10M). Build the first one now, from a one-row frame.
column_schema(pd.DataFrame({"warm_up": [0]}))


DIGITS = 4  # decimals of every float shown in the UI


def number(v: Any, digits: int = DIGITS) -> float:
    """A float for display: rounded to ``digits`` decimals (NaN and infinities stay as they are)."""
    v = float(v)
    return round(v, digits) if math.isfinite(v) else v


def floats(d: dict[str, Any], keys=None) -> dict[str, dg.FloatMetadataValue]:
    return {k: dg.MetadataValue.float(number(v)) for k, v in d.items() if keys is None or k in keys}


def _cell(v: Any) -> Any:
    """A JSON-safe table cell: floats rounded, NaN as None, numpy scalars as Python ones."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return number(v) if math.isfinite(v) else None
    return str(v)


def _kind(values: list) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def table(rows: "pd.DataFrame | list[dict]", limit: int | None = None) -> dg.TableMetadataValue:
    """Records as a table the UI draws inline (floats rounded to ``DIGITS`` decimals)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if limit is not None:
        df = df.head(limit)
    records = [{str(k): _cell(v) for k, v in r.items()} for r in df.to_dict("records")]
    columns = [dg.TableColumn(str(c), _kind([r[str(c)] for r in records])) for c in df.columns]
    return dg.MetadataValue.table(records=[dg.TableRecord(r) for r in records], schema=dg.TableSchema(columns=columns))


def counts(d: dict, key: str, value: str = "rows") -> dg.TableMetadataValue:
    """A dict of counts as a two-column table, largest first."""
    items = sorted(((str(k), int(v)) for k, v in d.items()), key=lambda kv: (-kv[1], kv[0]))
    return table(pd.DataFrame(items, columns=[key, value]))


def partitions_note(start: str, what: str = "the day's batch of customers",
                    missing: str = "days before your data begins are never scored") -> str:
    """What the daily partitions of an asset are, for its description: the partition bar counts every
    day from the start date to today, and the days nobody scores stay 'missing' for good."""
    return (f" Partitions: one per UTC day from {start} (CHURN_SCORING_START) to today, each {what}. Days nobody "
            f"scores stay 'missing' in the partition bar ({missing}; on the synthetic demo, every day after the "
            "six of July 2025 it scores): expected, not a backlog. Set CHURN_SCORING_START to the first day of "
            "your data.")


table([{"warm_up": 0}])  # the same for TableRecord (see column_schema above)
