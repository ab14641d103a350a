"""A validated scoring partition on disk: Parquet, one row group per chunk, and a small manifest.

A daily partition can hold ten million customers. It is never one DataFrame: raw chunks are
validated one at a time (duplicate ids are caught across chunks by a 64-bit hash of the id), the
clean rows of each chunk become a row group, and the asset's value is the ``StoredBatch``
manifest. Scoring and drift read row groups back, so memory is bounded by the chunk size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churn_assets.core.data.validation import REASON, ROW, validate
from churn_assets.model.contract import DataContract

EXAMPLES = 5  # rejected rows kept (with their reasons) for the asset's metadata


@dataclass
class StoredBatch:
    path: str
    rows: int
    raw_rows: int
    rejected_rows: int
    chunks: int
    id_column: str
    reasons: dict = field(default_factory=dict)  # "column: check" -> rows
    rejected_examples: list = field(default_factory=list)  # [{"_row": .., "_reason": ..}]

    def iter_chunks(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        pf = pq.ParquetFile(self.path)
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, columns=columns).to_pandas()

    def head(self, n: int = 5) -> pd.DataFrame:
        pf = pq.ParquetFile(self.path)
        return next(pf.iter_batches(batch_size=n), pf.schema_arrow.empty_table()).to_pandas()

    def read(self) -> pd.DataFrame:
        """The whole partition in one frame (small partitions, tests)."""
        return pd.read_parquet(self.path)

    def sample(self, n: int, seed: int = 42) -> pd.DataFrame:
        """``n`` rows drawn uniformly without replacement (all rows when there are fewer), in file
        order, reading one row group at a time."""
        if self.rows <= n:
            return self.read()
        take = np.sort(np.random.default_rng(seed).choice(self.rows, size=n, replace=False))
        pf, parts, start = pq.ParquetFile(self.path), [], 0
        for i in range(pf.num_row_groups):
            size = pf.metadata.row_group(i).num_rows
            lo, hi = np.searchsorted(take, [start, start + size])
            if hi > lo:
                parts.append(pf.read_row_group(i).take(pa.array(take[lo:hi] - start)))
            start += size
        return pa.concat_tables(parts).to_pandas()


def arrow_schema(df: pd.DataFrame, contract: DataContract) -> pa.Schema:
    """One schema for every chunk, from the contract (a column that is empty in one chunk would
    otherwise change type between row groups)."""
    roles = {c.name: c.role for c in contract.columns}
    fields = []
    for name in df.columns:
        role, dtype = roles.get(name), df[name].dtype
        if name == contract.target_column and pd.api.types.is_integer_dtype(dtype):
            fields.append(pa.field(name, pa.int64()))  # labels stay 0/1 integers
        elif role == "numeric" or (role is None and pd.api.types.is_numeric_dtype(dtype)
                                 and not pd.api.types.is_bool_dtype(dtype)):
            fields.append(pa.field(name, pa.float64()))
        elif role == "date" or pd.api.types.is_datetime64_any_dtype(dtype):
            fields.append(pa.field(name, pa.timestamp("ns")))
        elif pd.api.types.is_bool_dtype(dtype):
            fields.append(pa.field(name, pa.bool_()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


class SeenIds:
    """Ids met in earlier chunks, as a sorted array of 64-bit hashes (80 MB at 10M customers)."""

    def __init__(self):
        self.hashes = np.empty(0, dtype=np.uint64)

    def again(self, ids: pd.Series) -> np.ndarray:
        """Which of ``ids`` (unique within the chunk) an earlier chunk had; the others are remembered."""
        h = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
        seen = self.hashes
        at = np.minimum(np.searchsorted(seen, h), max(len(seen) - 1, 0))
        again = seen[at] == h if len(seen) else np.zeros(len(h), bool)
        self.hashes = np.sort(np.concatenate([seen, h[~again]]), kind="stable")  # two sorted runs: a merge
        return again


class RowGroups:
    """Frames appended as row groups of one Parquet file, under one schema (``arrow_schema`` of the
    first frame). Written to a side file and renamed when the ``with`` block ends cleanly: a re-run
    replaces the file whole, never half-written."""

    def __init__(self, path: str | Path, contract: DataContract):
        self.path, self.contract = Path(path), contract
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp, self.writer, self.schema, self.groups = self.path.with_suffix(".part"), None, None, 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.writer is None:
            self.schema = arrow_schema(frame, self.contract)
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
        self.groups += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if self.writer is not None:
            self.writer.close()
        if exc_type is None:
            if self.writer is None:
                raise ValueError("the scoring source yielded no chunk (not even its columns)")
            self.tmp.replace(self.path)


def validate_to_parquet(chunks: Iterable[pd.DataFrame], contract: DataContract, path: str | Path,
                        as_of: str | None = None, extra: dict | None = None) -> StoredBatch:
    """Validate raw chunks against the champion's contract and write the clean rows to ``path``.

    ``extra`` columns (e.g. the partition's as-of date) are added to every clean row.
    """
    seen = SeenIds()
    rows = raw_rows = rejected = 0
    reasons: Counter = Counter()
    examples: list[dict] = []
    with RowGroups(path, contract) as out:
        for raw in chunks:
            raw = raw.drop(columns=[contract.target_column], errors="ignore")
            res = validate(raw, contract, with_target=False, as_of=as_of)
            clean = res.clean
            again = seen.again(clean[contract.id_column])
            if again.any():  # the same customer in an earlier chunk: the first one is scored
                reasons["duplicate id"] += int(again.sum())
                for row in np.flatnonzero(again)[:max(0, EXAMPLES - len(examples))]:
                    examples.append({ROW: raw_rows + int(row), REASON: f"{contract.id_column}: duplicate id "
                                     f"{clean[contract.id_column].iloc[row]!r} (also in an earlier chunk)"})
                clean = clean[~again]
            for _, q in res.quarantined.head(max(0, EXAMPLES - len(examples))).iterrows():
                examples.append({ROW: raw_rows + int(q[ROW]), REASON: q[REASON]})
            reasons.update(res.reasons)
            if len(clean) or not out.groups:  # the first chunk always: the file has the columns
                out.write(clean.assign(**(extra or {})))
            rows += len(clean)
            raw_rows += res.raw_rows
            rejected += len(res.quarantined) + int(again.sum())
    return StoredBatch(path=str(path), rows=rows, raw_rows=raw_rows, rejected_rows=rejected, chunks=out.groups,
                       id_column=contract.id_column, reasons=dict(reasons), rejected_examples=examples)
