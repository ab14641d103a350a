"""Resolve a DatasetSpec against raw data into a DataContract, inferring column roles."""

from __future__ import annotations

import pandas as pd

from churn_assets.core.data.errors import DataError
from churn_assets.core.data.spec import DatasetSpec
from churn_assets.model.contract import ColumnContract, DataContract
from churn_assets.model.missing import DEFAULT_NULL_VALUES, missing_shares, normalize_missing

PARSE_SHARE = 0.95  # a column is numeric/date when this share of its values parse
MAX_CATEGORIES = 50  # more distinct strings than this is free text, not a category
NON_NEGATIVE_TOLERANCE = 0.005  # <= 0.5% negatives: the negatives are errors, infer min 0
RARE_POSITIVE_SHARE = 0.01  # fewer positives than this: training works, but metrics are noisy


def normalize_label(value) -> str:
    """Compare labels across types: 1, "1", 1.0 and True/"true" all meet."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    if text.lower() in ("true", "yes"):
        return "1"
    if text.lower() in ("false", "no"):
        return "0"
    try:
        f = float(text)
    except ValueError:
        return text.lower()
    return str(int(f)) if f.is_integer() else repr(f)


def encode_target(series: pd.Series, positive_label) -> pd.Series:
    """1.0 for the positive label, 0.0 for any other value, NaN where missing."""
    pos = normalize_label(positive_label)
    mapping = {v: float(normalize_label(v) == pos) for v in series.dropna().unique()}
    return series.map(mapping).astype(float)


def _infer_column(name: str, s: pd.Series, spec: DatasetSpec) -> ColumnContract:
    nn = int(s.notna().sum())
    if nn == 0:
        return ColumnContract(name, "drop", "dropped: no values")
    if pd.api.types.is_bool_dtype(s):
        return ColumnContract(name, "numeric", "numeric: boolean as 0/1", min=0, max=1, integer=True)
    num = s if pd.api.types.is_numeric_dtype(s) else pd.to_numeric(s, errors="coerce")
    num_share = num.notna().sum() / nn
    if num_share >= PARSE_SHARE:
        valid = num.dropna()
        integer = bool((valid % 1 == 0).all())
        if integer and valid.is_unique and len(valid) > 20:
            diffs = valid.diff().dropna()
            what = "a row counter" if (diffs == 1).all() else "an identifier (every value unique)"
            return ColumnContract(name, "drop", f"dropped: {what}")
        col = ColumnContract(name, "numeric", f"numeric: {num_share:.1%} of values parse as numbers",
                             integer=integer)
        negatives = int((valid < 0).sum())
        if negatives / max(len(valid), 1) <= NON_NEGATIVE_TOLERANCE:
            col.min = 0.0
            col.reason += f"; inferred >= 0 ({negatives} violating rows)"
        return col
    if not pd.api.types.is_numeric_dtype(s):
        dates = pd.to_datetime(s, errors="coerce", format="ISO8601")
        date_share = dates.notna().sum() / nn
        if date_share >= PARSE_SHARE:
            return ColumnContract(name, "date", f"date: {date_share:.1%} of values parse as ISO dates")
    uniques = s.dropna().astype(str).value_counts()
    if len(uniques) <= MAX_CATEGORIES:
        return ColumnContract(name, "categorical", f"categorical: {len(uniques)} distinct values",
                              categories=[str(v) for v in uniques.index])
    return ColumnContract(name, "drop", f"dropped: free text, {len(uniques)} distinct values")


def _declared_column(name: str, role: str, s: pd.Series | None) -> ColumnContract:
    col = ColumnContract(name, role, "set by spec")
    if role == "categorical" and s is not None:
        col.categories = [str(v) for v in s.dropna().astype(str).value_counts().index[:MAX_CATEGORIES]]
    return col


def resolve_contract(spec: DatasetSpec, raw: pd.DataFrame) -> DataContract:
    """Give every raw column a role and rules; the result is reported and saved with the model."""
    for key in (spec.id_column, spec.target_column):
        if key not in raw.columns:
            raise ValueError(
                f"column {key!r} named in the dataset spec is not in the data; "
                f"columns are: {', '.join(map(str, raw.columns))}"
            )
    unknown = [c for c in list(spec.column_types) + spec.drop_columns if c not in raw.columns]
    if unknown:
        raise ValueError(f"dataset spec names columns that are not in the data: {unknown}")

    null_values = list(DEFAULT_NULL_VALUES if spec.null_values is None else spec.null_values)
    # Blanks and null tokens are missing values: infer roles from the values that are present.
    raw = normalize_missing(raw, null_values)
    check_target(raw[spec.target_column], spec.positive_label, source_name(spec))
    # Infer from one row per id: a duplicated row must not make a row counter look like data.
    raw = raw.drop_duplicates(subset=[spec.id_column], keep="first")
    shares = missing_shares(raw)
    columns: list[ColumnContract] = []
    for name in raw.columns:
        if name in (spec.id_column, spec.target_column):
            continue
        share = shares[name]
        if name in spec.drop_columns:
            col = ColumnContract(name, "drop", "dropped by spec")
        elif share > spec.max_missing_share:
            col = ColumnContract(name, "drop", f"dropped: {share:.1%} of values missing "
                                               f"(more than max_missing_share {spec.max_missing_share:.0%})")
        elif name in spec.column_types:
            col = _declared_column(name, spec.column_types[name], raw[name])
        elif spec.infer:
            col = _infer_column(name, raw[name], spec)
        else:
            col = ColumnContract(name, "drop", "dropped: not declared and inference is off")
        for rule, value in spec.checks.get(name, {}).items():
            if rule not in ("min", "max", "integer", "nullable"):
                raise ValueError(f"checks.{name}.{rule}: unknown rule (min, max, integer, nullable)")
            setattr(col, rule, value)
        col.missing_share = round(share, 6)
        columns.append(col)

    for a, b in spec.column_le:
        for c in (a, b):
            if c not in raw.columns:
                raise ValueError(f"column_le names {c!r}, which is not in the data")

    as_of = spec.as_of
    if as_of is None:
        dates = [pd.to_datetime(raw[c.name], errors="coerce", format="ISO8601").max()
                 for c in columns if c.role == "date"]
        dates = [d for d in dates if pd.notna(d)]
        as_of = max(dates).date() if dates else None
    return DataContract(
        dataset=spec.name,
        id_column=spec.id_column,
        target_column=spec.target_column,
        positive_label=spec.positive_label,
        as_of=as_of.isoformat() if as_of else "",
        columns=columns,
        column_le=list(spec.column_le),
        null_values=null_values,
    )


def source_name(spec: DatasetSpec) -> str:
    """Where the data came from, for error messages: the file, the table, or the generator."""
    src = spec.source
    if src.kind == "file" and src.path:
        return str(src.path)
    if src.kind == "sql":
        return f"{src.table or 'query'} at {src.url}"
    return spec.name


def check_target(target: pd.Series, positive_label, where: str) -> None:
    """A binary target that contains the positive label, else one DataError naming what was seen."""
    seen = target.dropna()
    values = seen.astype(str).value_counts()
    shown = ", ".join(f"{v!r} ({n:,})" for v, n in values.head(10).items()) or "none"
    classes = {normalize_label(v) for v in values.index}
    name = target.name
    if not classes:
        raise DataError("the target has no values", source=where, column=name, rule="binary target")
    if len(classes) > 2:
        raise DataError(f"the target has {len(classes)} classes, a binary target is needed "
                        f"(values seen: {shown})", source=where, column=name, rule="binary target")
    if normalize_label(positive_label) not in classes:
        raise DataError(f"positive_label {positive_label!r} never occurs (values seen: {shown}); "
                        "set `positive_label:` in the spec", source=where, column=name, rule="positive label present")
    if len(classes) < 2:
        raise DataError(f"the target has a single class (values seen: {shown})", source=where,
                        column=name, rule="binary target")


def positive_share_warning(y: pd.Series) -> str | None:
    """A warning (not an error) when positives are rare: splits, tuning and metrics get noisy."""
    if not len(y):
        return None
    share, n = float(y.mean()), int(y.sum())
    if share >= RARE_POSITIVE_SHARE:
        return None
    return (f"target {y.name!r}: only {n:,} positives of {len(y):,} rows ({share:.2%} < "
            f"{RARE_POSITIVE_SHARE:.0%}); ROC-AUC and the threshold will be noisy, consider more data")
