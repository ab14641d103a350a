"""Helpers that turn frames, figures and dicts into Dagster metadata people like to look at."""


import base64
from typing import Any

import dagster as dg
import pandas as pd


def preview(df: pd.DataFrame, rows: int = 5) -> dg.MarkdownMetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False))


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


def floats(d: dict[str, Any], keys=None) -> dict[str, dg.FloatMetadataValue]:
    return {k: dg.MetadataValue.float(float(v)) for k, v in d.items() if keys is None or k in keys}
