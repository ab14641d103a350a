"""Forget customers everywhere the platform keeps them (the right to erasure).

A request names customers by pseudonym (model/pseudonym.py): the CLI hashes the ids it is given, so
no clear id is written to the run's configuration or the audit. Each store is searched by hashing
the ids it holds (under every key of the ring) and the matching rows are removed:

* every table of the platform's databases (predictions table, prediction log, retention lists and
  campaign outcomes) with the data set's id column or ``customer_id`` (clear ids or pseudonyms);
* Parquet and CSV files under the platform's folders (scoring batches, labelled days, synthetic
  outcomes, retention lists, reports, a local MLflow artifact store), rewritten without the rows;
* text files there (HTML reports, JSON readouts, run logs): a found id is replaced by ``[forgotten]``;
* Dagster's stored asset values (pickled data frames: raw, clean, features, splits...), rewritten.

The pseudonyms go on a suppression list (``forgotten_customers``) that ingestion applies, so a source
that still holds a customer does not bring it back, and an audit row (``forget_audit``) records the
time, the stores touched, the rows removed and the models trained on those customers. Idempotent: a
second request removes nothing and says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from churn_assets.model.pseudonym import Pseudonyms, is_pseudonym

SUPPRESSION_TABLE, AUDIT_TABLE = "forgotten_customers", "forget_audit"
_META = sa.MetaData()
SUPPRESSION = sa.Table(SUPPRESSION_TABLE, _META,
                       sa.Column("pseudonym", sa.String(80), primary_key=True),
                       sa.Column("forgotten_at", sa.DateTime(timezone=False), nullable=False))
AUDIT = sa.Table(AUDIT_TABLE, _META,
                 sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                 sa.Column("at", sa.DateTime(timezone=False), nullable=False),
                 sa.Column("customers", sa.Integer, nullable=False),
                 sa.Column("pseudonyms", sa.Text, nullable=False),  # JSON list (first key)
                 sa.Column("rows_removed", sa.Integer, nullable=False),
                 sa.Column("stores", sa.Text, nullable=False),  # JSON {store: rows removed}
                 sa.Column("models", sa.Text, nullable=False),  # JSON list of "name/version" trained on them
                 sa.Column("run_id", sa.String(64)))
TEXT_SUFFIXES = {".json", ".jsonl", ".html", ".htm", ".txt", ".md", ".log", ".out", ".err", ".yaml", ".yml"}
TEXT_LIMIT = 256 * 1024 * 1024
FORGOTTEN = "[forgotten]"
ID_COLUMNS = ("customer_id",)


@dataclass
class Stores:
    """Where the platform keeps customers (see docs/PRIVACY.md)."""

    id_column: str
    databases: list[str]  # SQLAlchemy URLs: predictions database (also the suppression list), prediction log
    folders: list[Path]  # Parquet/CSV/text files
    asset_storage: Path | None = None  # Dagster's fs io manager folder (pickled asset values)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.id_column, *ID_COLUMNS)))


@dataclass
class Forgotten:
    customers: int
    stores: dict[str, int] = field(default_factory=dict)  # store -> rows removed (or ids replaced)
    files: list[str] = field(default_factory=list)  # files rewritten
    models: list[str] = field(default_factory=list)
    newly_suppressed: int = 0
    found_ids: int = 0  # distinct stored ids the pseudonyms matched

    @property
    def rows_removed(self) -> int:
        return sum(self.stores.values())


class Matcher:
    """Which stored values are forgotten customers: a value matches when it is one of the pseudonyms,
    or when its pseudonym (under any key) is. Memoised per value across stores."""

    def __init__(self, pseudonyms: Iterable[str], ring: Pseudonyms) -> None:
        self.targets, self.ring = set(pseudonyms), ring
        self.found: set[str] = set()  # clear ids seen to match
        self._seen: set[str] = set()
        self._matched: set[str] = set()  # stored values (clear ids or pseudonyms) that match

    def mask(self, values: pd.Series) -> pd.Series:
        text = values.astype("string").fillna("")
        new = [v for v in pd.unique(text.to_numpy()) if v not in self._seen]
        if new:
            hits = self._hits(new)
            self._seen.update(new)
            matched = [v for v, h in zip(new, hits) if h]
            self._matched.update(matched)
            self.found.update(v for v in matched if not is_pseudonym(v))
        # isin against the few matched values: a lookup table of every stored value costs seconds a store
        return text.isin(self._matched).astype(bool)

    def _hits(self, values: list[str]) -> list[bool]:
        hits = [v in self.targets for v in values]
        for i in range(len(self.ring.keys)):
            hits = [hit or p in self.targets for hit, p in zip(hits, self.ring.under(i, values))]
        return hits


# -- databases -----------------------------------------------------------------------------------
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def forget_in_database(url: str, columns: tuple[str, ...], matcher: Matcher, chunk: int = 500) -> dict[str, int]:
    """Delete the matching rows of every table with one of ``columns``; {table: rows removed}."""
    eng, out = _engine(url), {}
    try:
        insp = sa.inspect(eng)
        for name in insp.get_table_names():
            if name in (SUPPRESSION_TABLE, AUDIT_TABLE):
                continue
            cols = [c["name"] for c in insp.get_columns(name) if c["name"] in columns]
            if not cols:
                continue
            table = sa.Table(name, sa.MetaData(), autoload_with=eng)
            removed = 0
            with eng.begin() as conn:
                for col in cols:
                    stored = pd.read_sql(sa.select(table.c[col]).distinct(), conn)[col]
                    hit = stored[matcher.mask(stored).to_numpy()].tolist()  # as stored (text or numbers)
                    for i in range(0, len(hit), chunk):
                        res = conn.execute(sa.delete(table).where(table.c[col].in_(hit[i:i + chunk])))
                        removed += int(res.rowcount or 0)
            if removed:
                out[name] = removed
        if out:
            _compact(eng, list(out))
    finally:
        eng.dispose()
    return out


def _compact(eng: sa.Engine, tables: list[str]) -> None:
    """Deleted rows leave their bytes in free pages (and SQLite's write-ahead log) until the database
    is rewritten: SQLite is vacuumed (and its log truncated), PostgreSQL's tables vacuumed."""
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if eng.dialect.name == "sqlite":
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif eng.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM " + ", ".join(eng.dialect.identifier_preparer.quote(n) for n in tables))


# -- files ---------------------------------------------------------------------------------------
def _replace(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.forget-tmp")
    write(tmp)
    os.replace(tmp, path)


def forget_in_parquet(path: Path, columns: tuple[str, ...], matcher: Matcher) -> int:
    import pyarrow.parquet as pq

    cols = [c for c in pq.read_schema(path).names if c in columns]
    if not cols:
        return 0
    table = pq.read_table(path)
    drop = None
    for c in cols:
        m = matcher.mask(table.column(c).to_pandas()).to_numpy()
        drop = m if drop is None else drop | m
    n = int(drop.sum())
    if n:
        import pyarrow as pa

        kept = table.filter(pa.array(~drop))
        _replace(path, lambda tmp: pq.write_table(kept, tmp))
    return n


def forget_in_csv(path: Path, columns: tuple[str, ...], matcher: Matcher) -> int:
    header = pd.read_csv(path, nrows=0, dtype=str)
    cols = [c for c in header.columns if c in columns]
    if not cols:
        return 0
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    drop = pd.Series(False, index=df.index)
    for c in cols:
        drop |= matcher.mask(df[c])
    n = int(drop.sum())
    if n:
        _replace(path, lambda tmp: df[~drop].to_csv(tmp, index=False))
    return n


def forget_in_text(path: Path, pattern: re.Pattern | None) -> int:
    if pattern is None or path.stat().st_size > TEXT_LIMIT:
        return 0
    data = path.read_bytes()
    new, n = pattern.subn(FORGOTTEN.encode(), data)
    if n:
        _replace(path, lambda tmp: tmp.write_bytes(new))
    return n


def _id_pattern(ids: Iterable[str]) -> re.Pattern | None:
    ids = sorted({i for i in ids if i}, key=len, reverse=True)
    if not ids:
        return None
    alternation = b"|".join(re.escape(i.encode()) for i in ids)
    return re.compile(rb"(?<![\w-])(?:" + alternation + rb")(?![\w-])")


# -- Dagster's stored asset values ---------------------------------------------------------------
def without(obj, columns: tuple[str, ...], matcher: Matcher):
    """``obj`` without the matching rows: data frames (by an id column or an id index), series indexed
    by id, and dataclasses, dicts, lists and tuples holding them. (value, rows removed)."""
    if isinstance(obj, pd.DataFrame):
        drop = pd.Series(False, index=obj.index)
        for c in (c for c in columns if c in obj.columns):
            drop |= matcher.mask(obj[c]).to_numpy()
        if obj.index.name in columns:
            drop |= matcher.mask(pd.Series(obj.index, index=obj.index)).to_numpy()
        n = int(drop.sum())
        return (obj[~drop.to_numpy()], n) if n else (obj, 0)
    if isinstance(obj, pd.Series) and obj.index.name in columns:
        drop = matcher.mask(pd.Series(obj.index, index=obj.index)).to_numpy()
        n = int(drop.sum())
        return (obj[~drop], n) if n else (obj, 0)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes, total = {}, 0
        for f in dataclasses.fields(obj):
            value, n = without(getattr(obj, f.name), columns, matcher)
            if n:
                changes[f.name], total = value, total + n
        if not total:
            return obj, 0
        if not type(obj).__dataclass_params__.frozen:
            for k, v in changes.items():
                setattr(obj, k, v)
            return obj, total
        return dataclasses.replace(obj, **changes), total
    if isinstance(obj, dict):
        out, total = {}, 0
        for k, v in obj.items():
            out[k], n = without(v, columns, matcher)
            total += n
        return (out, total) if total else (obj, 0)
    if isinstance(obj, list | tuple):
        parts = [without(v, columns, matcher) for v in obj]
        total = sum(n for _, n in parts)
        return (type(obj)(v for v, _ in parts), total) if total else (obj, 0)
    return obj, 0


def forget_in_pickle(path: Path, columns: tuple[str, ...], matcher: Matcher) -> int:
    with path.open("rb") as f:
        if f.read(1) != b"\x80":
            return 0
    with path.open("rb") as f:
        try:
            obj = pickle.load(f)
        except Exception:  # noqa: BLE001  (not a pickle after all, or of a class gone since: left alone)
            return 0
    value, n = without(obj, columns, matcher)
    if n:
        _replace(path, lambda tmp: tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))
    return n


def _files(root: Path) -> Iterable[Path]:
    if root.is_dir():
        for dirpath, _, names in os.walk(root):
            for name in names:
                if not name.endswith(".forget-tmp"):
                    yield Path(dirpath) / name


# -- the whole request ---------------------------------------------------------------------------
def forget(pseudonyms: Iterable[str], stores: Stores, ring: Pseudonyms,
           models: Callable[[set[str]], list[str]] | None = None, run_id: str = "",
           now: dt.datetime | None = None) -> Forgotten:
    """Remove the customers named by ``pseudonyms`` (or clear ids: hashed here) from every store,
    suppress them in later ingests and write the audit row. ``models(targets)`` lists the registered
    model versions trained on them (the MLflow rosters)."""
    targets = {p if is_pseudonym(p) else ring.of(p) for p in pseudonyms if str(p).strip()}
    if not targets:
        raise ValueError("no customer to forget")
    matcher, columns = Matcher(targets, ring), stores.columns
    out = Forgotten(customers=len(targets))
    databases = list(dict.fromkeys(stores.databases))
    for url in databases:
        for table, n in forget_in_database(url, columns, matcher).items():
            out.stores[f"table {table}"] = out.stores.get(f"table {table}", 0) + n
    texts: list[Path] = []
    folders = [Path(f) for f in dict.fromkeys(map(str, stores.folders)) if f]
    storage = stores.asset_storage
    for root in folders + ([storage] if storage else []):
        kind = "asset values" if root == storage else f"files {root.name}"
        for path in _files(root):
            suffix = path.suffix.lower()
            if suffix == ".parquet":
                n = forget_in_parquet(path, columns, matcher)
            elif suffix == ".csv":
                n = forget_in_csv(path, columns, matcher)
            elif suffix in TEXT_SUFFIXES:
                texts.append(path)
                continue
            elif root == storage and not suffix:
                n = forget_in_pickle(path, columns, matcher)
            else:
                continue
            if n:
                out.stores[kind] = out.stores.get(kind, 0) + n
                out.files.append(str(path))
    pattern = _id_pattern(matcher.found)  # the clear ids the structured stores held
    for path in texts:
        n = forget_in_text(path, pattern)
        if n:
            out.stores["text files"] = out.stores.get("text files", 0) + n
            out.files.append(str(path))
    out.found_ids = len(matcher.found)
    out.models = sorted(models(targets | ring.every_of_many(matcher.found))) if models else []
    out.newly_suppressed = _record(databases[0], targets, out, run_id, now or dt.datetime.now(dt.UTC))
    return out


def create_tables(url: str) -> None:
    eng = _engine(url)
    try:
        _META.create_all(eng, checkfirst=True)
    finally:
        eng.dispose()


def _record(url: str, targets: set[str], done: Forgotten, run_id: str, now: dt.datetime) -> int:
    when = now.replace(tzinfo=None)
    create_tables(url)
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            known = set(conn.execute(sa.select(SUPPRESSION.c.pseudonym)).scalars())
            new = sorted(targets - known)
            if new:
                conn.execute(sa.insert(SUPPRESSION), [{"pseudonym": p, "forgotten_at": when} for p in new])
            conn.execute(sa.insert(AUDIT).values(
                at=when, customers=len(targets), pseudonyms=json.dumps(sorted(targets)),
                rows_removed=done.rows_removed, stores=json.dumps(done.stores), models=json.dumps(done.models),
                run_id=run_id or None))
        return len(new)
    finally:
        eng.dispose()


def suppressed(url: str) -> set[str]:
    """The pseudonyms of every forgotten customer (empty when nothing was ever forgotten)."""
    eng = _engine(url)
    try:
        if not sa.inspect(eng).has_table(SUPPRESSION_TABLE):
            return set()
        with eng.connect() as conn:
            return set(conn.execute(sa.select(SUPPRESSION.c.pseudonym)).scalars())
    finally:
        eng.dispose()


def audit(url: str) -> pd.DataFrame:
    eng = _engine(url)
    try:
        if not sa.inspect(eng).has_table(AUDIT_TABLE):
            return pd.DataFrame(columns=[c.name for c in AUDIT.columns])
        with eng.connect() as conn:
            return pd.read_sql(sa.select(AUDIT).order_by(AUDIT.c.id), conn)
    finally:
        eng.dispose()


def drop_suppressed(df: pd.DataFrame, id_column: str, url: str,
                    ring: Callable[[], Pseudonyms]) -> tuple[pd.DataFrame, int]:
    """``df`` without the forgotten customers (the suppression list of ``url``); (rows, removed). The
    ring is only made when someone was forgotten."""
    targets = suppressed(url) if url else set()
    if not targets or id_column not in df.columns or df.empty:
        return df, 0
    drop = Matcher(targets, ring()).mask(df[id_column]).to_numpy()
    n = int(drop.sum())
    return (df[~drop].reset_index(drop=True), n) if n else (df, 0)


def registered_models_trained_on(client, model_name: str) -> Callable[[set[str]], list[str]]:
    """``models(pseudonyms)`` for ``forget``: the versions of ``model_name`` whose training roster (the
    ``roster/pseudonyms.parquet`` artifact of the version's run) holds one of them."""

    def models(targets: set[str]) -> list[str]:
        import tempfile

        from mlflow.exceptions import MlflowException

        out = []
        try:
            versions = client.search_model_versions(f"name = '{model_name}'")
        except MlflowException:
            return out
        for v in versions:
            if not v.run_id:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    path = client.download_artifacts(v.run_id, "roster/pseudonyms.parquet", tmp)
                except (MlflowException, OSError):
                    continue  # trained before rosters were kept: not known
                roster = pd.read_parquet(path)["pseudonym"]
            if roster.isin(targets).any():
                out.append(f"{model_name}/{v.version}")
        return out

    return models


def without_forgotten(chunks: Iterable[pd.DataFrame], id_column: str, url: str,
                      ring: Callable[[], Pseudonyms]) -> Iterable[pd.DataFrame]:
    """Chunks of a day's batch without the forgotten customers (the list is read once)."""
    targets = suppressed(url) if url else set()
    if not targets:
        yield from chunks
        return
    matcher = Matcher(targets, ring())
    for chunk in chunks:
        if id_column in chunk.columns and len(chunk):
            chunk = chunk[~matcher.mask(chunk[id_column]).to_numpy()]
        yield chunk
