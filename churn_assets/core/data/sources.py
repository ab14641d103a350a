"""Read raw customers from the configured source: synthetic, a CSV/Parquet file, or a SQL table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from churn_assets.core.data.csv_dialect import read_csv_text
from churn_assets.core.data.errors import DataError
from churn_assets.core.data.spec import DatasetSpec
from churn_assets.core.data.synthetic import DEFAULT_AS_OF, generate_customers


def load_raw(spec: DatasetSpec) -> pd.DataFrame:
    """The training data as it arrived; a source with no rows or ambiguous columns is a DataError."""
    src = spec.source
    if src.kind == "synthetic":
        return generate_customers(n=src.rows, seed=src.seed, as_of=spec.as_of or DEFAULT_AS_OF)
    if src.kind == "file":
        df, where = read_file(src.path, encoding=src.encoding, delimiter=src.delimiter,
                              decimal=src.decimal), src.path
    elif src.kind == "sql":
        df, where = read_sql(src.url, table=src.table, query=src.query), f"{src.table or 'query'} at {src.url}"
    else:
        raise ValueError(f"unknown source kind {src.kind!r}: use synthetic, file or sql")
    check_loaded(df, where)
    return df


def check_loaded(df: pd.DataFrame, where: str) -> None:
    dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dups:
        raise DataError(f"duplicate column names: {dups}", source=where, rule="unique column names")
    if df.empty:
        raise DataError(f"no data rows (columns: {', '.join(map(str, df.columns)) or 'none'})",
                        source=where, rule="at least one row")


def read_file(path: str | None, encoding: str | None = None, delimiter: str | None = None,
              decimal: str | None = None) -> pd.DataFrame:
    """A CSV (optionally .gz) or Parquet file; CSV cells arrive as strings exactly as written."""
    if not path:
        raise ValueError("source.path is required for a file source")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file not found: {p}")
    suffixes = [s.lower() for s in p.suffixes[-2:]]
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        with _parquet_errors(p):
            return pd.read_parquet(p)
    if suffixes[-1:] in ([".csv"], [".txt"], [".tsv"], [".gz"]):
        return read_csv_text(p, encoding=encoding, delimiter=delimiter or ("\t" if ".tsv" in suffixes else None),
                             decimal=decimal)[0]
    raise ValueError(f"unsupported file type {p.suffix!r} for {p}: use .csv, .csv.gz, .tsv or .parquet")


@contextlib.contextmanager
def _parquet_errors(p: Path) -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise DataError(f"not a readable Parquet file ({type(err).__name__}: {err})",
                        source=str(p), rule="readable file") from None


def read_sql(url: str | None, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    import sqlalchemy as sa

    if not url or not (table or query):
        raise ValueError("a sql source needs `url` and either `table` or `query`")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if query:
                return pd.read_sql_query(sa.text(query), conn)
            return pd.read_sql_table(table, conn)
    finally:
        engine.dispose()


WHOLE_FILE_BYTES = 64 << 20  # smaller files are read whole (full dialect detection), then sliced


def read_file_chunks(path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A scoring file in chunks of at most ``chunk_rows`` rows, with bounded memory at any size:
    Parquet by row batches; a large CSV with the dialect (encoding, delimiter, decimal comma)
    detected on its head and applied to every chunk."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file not found: {p}")
    if p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        with _parquet_errors(p):
            pf = pq.ParquetFile(p)
        if pf.metadata.num_rows == 0:
            yield pf.schema_arrow.empty_table().to_pandas()
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
        return
    if p.stat().st_size <= WHOLE_FILE_BYTES:
        df = read_file(str(p))
        for start in range(0, max(len(df), 1), chunk_rows):
            yield df.iloc[start:start + chunk_rows]
        return
    yield from _csv_chunks(p, chunk_rows)


def _csv_chunks(p: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import gzip

    from churn_assets.core.data.csv_dialect import decimal_comma_columns, detect_encoding, sniff_delimiter, to_dot

    gz = p.suffix.lower() == ".gz"
    with gzip.open(p, "rb") if gz else p.open("rb") as f:
        head = f.read(1 << 20)
    enc = detect_encoding(head)
    text = head.decode(enc, errors="ignore").removeprefix("\ufeff")
    sep = "\t" if ".tsv" in [x.lower() for x in p.suffixes] else sniff_delimiter(text)
    cols = None
    reader = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding=enc,
                         chunksize=chunk_rows, encoding_errors="strict")
    try:
        for chunk in reader:
            cols = decimal_comma_columns(chunk, sep, None) if cols is None else cols
            for c in cols:
                chunk[c] = to_dot(chunk[c], explicit=False)
            yield chunk
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"cannot be read as {enc!r} CSV with delimiter {sep!r}: {str(err).strip()}",
                        source=str(p), rule="consistent field count") from None
