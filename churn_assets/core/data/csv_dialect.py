"""Read a messy CSV as written: encoding, delimiter and decimal comma detected or set in the spec.

Every cell is read as a string, exactly as in the file (no pandas NA guessing: ``missing.py``
decides what is absent), so a bad value is quarantined as it arrived. Each problem pandas would
raise as a traceback becomes one ``DataError`` naming the file and the rule.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from churn_assets.core.data.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
# A number written with a decimal comma and nothing else: "3,5", "-12,75".
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
# With decimal="," set explicitly: "." may group thousands ("1.234,5").
_EUROPEAN = re.compile(r"^\s*[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s*$")
_DOTTED = re.compile(r"^\s*[+-]?\d*\.\d+\s*$")


@dataclass
class CsvDialect:
    encoding: str
    delimiter: str
    decimal_comma_columns: list[str]


def read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot be read ({err})", source=str(path), rule="readable file") from None


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes, else Windows-1252, else latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ("utf-8", "cp1252"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            pass
    return "latin-1"  # decodes any byte sequence


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the header into the most fields (ties: the comma)."""
    header = next(iter(text.splitlines()), "")
    best, fields = ",", 1
    for d in DELIMITERS:
        n = len(next(csv.reader([header], delimiter=d), []))
        if n > fields:
            best, fields = d, n
    return best


def header_fields(text: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])


def decimal_comma_columns(df: pd.DataFrame, delimiter: str, decimal: str | None) -> list[str]:
    """Columns whose numbers use a decimal comma: all when ``decimal: ","`` is set, else detected.

    Detection only where unambiguous: the delimiter is not a comma, some values look like "3,5",
    no value of the column looks like "3.5", and every comma-bearing value is such a number.
    """
    if decimal == ".":
        return []
    cols = []
    for c in df.columns:
        s = df[c].dropna()
        has_comma = s.str.contains(",", regex=False)
        if not has_comma.any():
            continue
        detected = delimiter != "," and s[has_comma].str.match(_DECIMAL_COMMA).all() \
            and not s.str.match(_DOTTED).any()
        if decimal == "," or detected:
            cols.append(c)
    return cols


def to_dot(s: pd.Series, explicit: bool) -> pd.Series:
    pattern = _EUROPEAN if explicit else _DECIMAL_COMMA
    ok = s.notna() & s.str.match(pattern).fillna(False).astype(bool)
    fixed = s[ok].str.replace(".", "", regex=False) if explicit else s[ok]
    return s.where(~ok, fixed.str.replace(",", ".", regex=False))


def read_csv_text(path: Path, encoding: str | None = None, delimiter: str | None = None,
                  decimal: str | None = None) -> tuple[pd.DataFrame, CsvDialect]:
    data = read_bytes(path)
    if not data.strip():
        raise DataError("the file is empty (no header, no rows)", source=str(path), rule="non-empty file")
    enc = encoding or detect_encoding(data)
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as err:
        raise DataError(f"does not decode as {enc!r} ({err}); set `encoding:` in the spec's source",
                        source=str(path), rule="encoding") from None
    text = text.removeprefix("\ufeff")  # a BOM under an explicit "utf-8"
    sep = delimiter or sniff_delimiter(text)
    names = header_fields(text, sep)
    dups = sorted(n for n, k in Counter(names).items() if k > 1)
    if dups:
        raise DataError(f"duplicate column names in the header: {dups}; rename them in the file "
                        "(which copy is right cannot be guessed)", source=str(path), rule="unique column names")
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.ParserError as err:
        raise DataError(f"cannot be parsed with delimiter {sep!r}: {str(err).strip()}; set `delimiter:` "
                        "in the spec's source", source=str(path), rule="consistent field count") from None
    cols = decimal_comma_columns(df, sep, decimal)
    for c in cols:
        df[c] = to_dot(df[c], explicit=decimal == ",")
    dialect = CsvDialect(encoding=enc, delimiter=sep, decimal_comma_columns=cols)
    df.attrs["csv_dialect"] = asdict(dialect)  # shown in the raw_customers metadata
    return df, dialect
