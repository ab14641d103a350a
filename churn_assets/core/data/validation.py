"""Validation with pandera: coerce types, drop duplicates, quarantine every bad row with its reason.

Row accounting always holds: ``len(raw) == len(clean) + len(quarantined)``; duplicates are
quarantined too (the first occurrence of an id is kept).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from churn_assets.core.data.contract_inference import encode_target
from churn_assets.core.data.errors import DataError
from churn_assets.model.contract import DataContract
from churn_assets.model.missing import normalize_missing

ROW = "_row"  # position of the row in the raw table
REASON = "_reason"
CHUNK_ROWS = 1_000_000  # rows pandera validates at a time


def build_schema(contract: DataContract, with_target: bool = True, as_of: str | None = None) -> pa.DataFrameSchema:
    """The pandera schema of a clean table, derived from the contract.

    Scoring batches have no target yet (``with_target=False``) and their own as-of date.
    """
    cols: dict[str, pa.Column] = {
        contract.id_column: pa.Column(str, nullable=False, unique=True, coerce=True),
    }
    if with_target:
        cols[contract.target_column] = pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=False, coerce=True)
    as_of = as_of or contract.as_of
    as_of = pd.Timestamp(as_of) if as_of else None
    for c in contract.columns:
        if c.role == "numeric":
            checks = []
            if c.min is not None:
                checks.append(pa.Check.ge(c.min))
            if c.max is not None:
                checks.append(pa.Check.le(c.max))
            if c.integer:
                checks.append(pa.Check(lambda s: s.isna() | (s % 1 == 0), name="is_integer"))
            cols[c.name] = pa.Column(float, checks, nullable=c.nullable, coerce=True)
        elif c.role == "date":
            checks = [pa.Check.le(as_of, name=f"not_after_as_of_{as_of.date()}")] if as_of is not None else []
            cols[c.name] = pa.Column("datetime64[ns]", checks, nullable=c.nullable, coerce=True)
        elif c.role == "categorical":
            cols[c.name] = pa.Column(str, nullable=c.nullable, coerce=True)
    frame_checks = [
        pa.Check(lambda df, a=a, b=b: ~(df[a] > df[b]), name=f"{a} <= {b}")
        for a, b in contract.column_le
    ]
    return pa.DataFrameSchema(cols, checks=frame_checks, strict=False)


@dataclass
class ValidationResult:
    clean: pd.DataFrame
    quarantined: pd.DataFrame
    raw_rows: int
    duplicate_rows: int
    reasons: Counter = field(default_factory=Counter)  # "column: check" -> rows

    @property
    def bad_share(self) -> float:
        return len(self.quarantined) / self.raw_rows if self.raw_rows else 0.0


def _prepare(raw: pd.DataFrame, contract: DataContract, with_target: bool) -> pd.DataFrame:
    keep = [contract.id_column] + ([contract.target_column] if with_target else []) + [
        c.name for c in contract.columns if c.role != "drop"
    ]
    missing = [c for c in keep if c not in raw.columns]
    if missing:
        raise DataError(f"data lacks columns required by the data contract: {missing}",
                        source=contract.dataset, rule="contract columns present")
    check_storage_types(raw, contract)
    # Missing is not wrong: blanks and null tokens become NA (imputed later), never a bad value.
    df = normalize_missing(raw[keep], contract.null_values)
    if with_target:
        df[contract.target_column] = encode_target(df[contract.target_column], contract.positive_label)
    for c in contract.columns:
        if c.role == "date" and not pd.api.types.is_datetime64_any_dtype(df[c.name]):
            # Strict ISO parsing: a value that does not parse is quarantined, never guessed.
            parsed = pd.to_datetime(df[c.name], errors="coerce", format="ISO8601")
            bad = parsed.isna() & df[c.name].notna()
            df[c.name] = parsed.astype(object).where(~bad, df[c.name])
    return df


def check_storage_types(raw: pd.DataFrame, contract: DataContract) -> None:
    """Typed sources (Parquet, SQL) whose column type cannot hold the contract's role: one DataError.

    Strings are always accepted (each value is coerced, a bad one quarantined); a float column
    where the contract says date, or a timestamp where it says numeric, is the wrong column.
    """
    for c in contract.columns:
        s = raw[c.name] if c.name in raw.columns else None
        if s is None or c.role not in ("numeric", "date") or s.isna().all():
            continue
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        datetime = pd.api.types.is_datetime64_any_dtype(s)
        if (c.role == "date" and (numeric or pd.api.types.is_bool_dtype(s))) or (c.role == "numeric" and datetime):
            raise DataError(f"the contract says {c.role} but the data stores {s.dtype} "
                            f"(e.g. {s.dropna().iloc[0]!r})", source=contract.dataset, column=c.name,
                            rule=f"{c.role} column type")


def _failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame | None:
    try:
        schema.validate(df, lazy=True)
        return None
    except pa.errors.SchemaErrors as err:
        return err.failure_cases


def _validate_chunk(schema: pa.DataFrameSchema, pending: pd.DataFrame, contract: DataContract,
                    reasons: dict[int, list[str]], counts: Counter) -> pd.DataFrame:
    """The clean, coerced rows of ``pending``; every bad row's reasons are added to ``reasons``."""
    # Coercion failures hide the value checks of their column, so validate until clean.
    for _ in range(4):
        fc = _failures(schema, pending)
        if fc is None:
            break
        unlocated = fc[fc["index"].isna()]
        located = fc[fc["index"].notna()]
        if located.empty:
            raise DataError(
                "schema failure not tied to rows (a column is missing or wholly invalid): "
                + "; ".join(f"{r.column}: {r.check} {r.failure_case}" for r in unlocated.itertuples())
            )
        seen: set[tuple[int, str]] = set()
        for r in located.itertuples():
            i, check = int(r.index), str(r.check)
            if r.schema_context == "DataFrameSchema":  # a row rule such as a <= b
                if (i, check) not in seen:
                    seen.add((i, check))
                    a, b = check.split(" <= ")
                    reasons.setdefault(i, []).append(
                        f"{check} violated ({a}={pending.at[i, a]!r}, {b}={pending.at[i, b]!r})")
                    counts[check] += 1
                continue
            column = r.column
            check = check.replace("coerce_dtype", "wrong type, expected")
            if check.startswith("dtype("):
                continue  # the same failure as the coercion, reported once
            if check == "not_nullable" and column == contract.target_column:
                check = "missing target"
            elif check == "not_nullable":
                check = "missing value (the contract says not nullable)"
            reasons.setdefault(i, []).append(f"{column}: {check} (value={r.failure_case!r})")
            counts[f"{column}: {check.split(' (')[0]}"] += 1
        pending = pending.drop(index=[int(i) for i in located["index"].unique() if int(i) in pending.index])
    else:
        raise RuntimeError("validation did not converge; please report this data set")

    return schema.validate(pending.copy())


def validate(raw: pd.DataFrame, contract: DataContract, with_target: bool = True,
             as_of: str | None = None) -> ValidationResult:
    raw = raw.reset_index(drop=True)
    if contract.id_column not in raw.columns:
        raise DataError(f"data lacks the id column (columns are: {', '.join(map(str, raw.columns))})",
                        source=contract.dataset, column=contract.id_column, rule="contract columns present")
    reasons: dict[int, list[str]] = {}
    counts: Counter = Counter()

    id_raw = normalize_missing(raw[[contract.id_column]], contract.null_values)[contract.id_column]
    ids = id_raw.astype(str).where(id_raw.notna())
    dup = ids.duplicated(keep="first") & ids.notna()
    first_at = ids[~dup].reset_index().set_index(contract.id_column)["index"]
    for i in dup[dup].index:
        reasons.setdefault(i, []).append(
            f"{contract.id_column}: duplicate id {ids[i]!r} (first seen at row {first_at[ids[i]]})"
        )
    counts["duplicate id"] += int(dup.sum())

    schema = build_schema(contract, with_target, as_of)
    pending = _prepare(raw, contract, with_target)[~dup]
    # pandera's lazy validation holds several copies of what it checks: chunks bound that working set
    # (the row rules are per row and duplicate ids were removed above, so chunks cannot disagree).
    parts = [_validate_chunk(schema, pending.iloc[i:i + CHUNK_ROWS], contract, reasons, counts)
             for i in range(0, max(len(pending), 1), CHUNK_ROWS)]
    clean = pd.concat(parts) if len(parts) > 1 else parts[0]
    del pending, parts
    if with_target:
        clean[contract.target_column] = clean[contract.target_column].astype(int)
    bad_index = sorted(reasons)
    quarantined = raw.loc[bad_index].copy()
    quarantined.insert(0, REASON, ["; ".join(reasons[i]) for i in bad_index])
    quarantined.insert(0, ROW, bad_index)
    return ValidationResult(
        clean=clean.reset_index(drop=True),
        quarantined=quarantined.reset_index(drop=True),
        raw_rows=len(raw),
        duplicate_rows=int(dup.sum()),
        reasons=counts,
    )
