"""Personal columns: declared in the spec (``pii_columns``), dropped as the data is read, used for
nothing; and a guess that flags likely personal columns the spec did not declare, for the user to
confirm.

A declared column never reaches a store: ``raw_customers`` drops it right after reading the source
(so the raw, clean and quarantine tables, the features, splits, MLflow artifacts, drift references
and reports never hold it), each day's scoring batch drops it as it is read, and the Bento's request
schema, generated from the contract, rejects it as an unknown field (HTTP 422 naming the field)
rather than accept and log it.

The guess looks at a column's name (name, surname, e-mail, phone, address, birth date, national ids,
IBAN...) and at its values (e-mail addresses, phone numbers) on a sample. A guess is a flag, not a
decision: it is reported with its reason and the ``personal_columns_declared`` check warns until the
spec says what the column is (``pii_columns`` to drop it, ``not_pii`` to keep it).
"""

from __future__ import annotations

import re

import pandas as pd

from churn_assets.core.data.errors import DataError

# Column names that usually hold personal data (matched on the name's words, case-insensitive).
NAME_PATTERNS: dict[str, str] = {
    r"^(name|((sur|last|first|given|family|full|middle|maiden|customer|contact|user|account_?holder)_?name))$":
        "a person's name",
    r"(^|_)(sur|last|first|given|family|full)_?name$": "a person's name",
    r"(^|_)e_?mail(_?address|_?addr)?$": "an e-mail address",
    r"(^|_)(phone|mobile|telephone|cell_?phone|msisdn|fax)(_?number|_?no|_?nr)?$": "a phone number",
    r"(^|_)(street|address|street_address|postcode|zip_?code|postal_?code)$": "an address",
    r"(^|_)(birth_?date|date_?of_?birth|dob|birthday)$": "a birth date",
    r"(^|_)(ssn|social_?security(_?number)?|national_?id|passport(_?number|_?no)?|tax_?id|iban|"
    r"credit_?card(_?number)?|card_?number)$": "a national or financial identifier",
    r"(^|_)ip(_?address)?$": "an IP address",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")  # dates look like phone numbers to PHONE
SAMPLE = 500


def _words(name: str) -> str:
    """``CustomerEmail`` / ``customer-email`` / ``Customer Email`` -> ``customer_email``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def guess_personal(df: pd.DataFrame, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Likely personal columns of ``df`` (but ``skip``), each with why it looks personal."""
    out: dict[str, str] = {}
    for col in df.columns:
        if col in skip:
            continue
        words = _words(col)
        for pattern, what in NAME_PATTERNS.items():
            if re.search(pattern, words):
                out[col] = f"its name looks like {what}"
                break
        else:
            values = df[col].dropna()
            if values.empty or pd.api.types.is_numeric_dtype(values):
                continue
            text = values.astype(str).str.strip().head(SAMPLE)
            if text.str.match(EMAIL).mean() >= 0.5:
                out[col] = f"{text.str.match(EMAIL).mean():.0%} of sampled values are e-mail addresses"
            elif text.str.match(PHONE).mean() >= 0.8 and text.str.count(r"\d").median() >= 7 \
                    and text.str.match(DATE).mean() < 0.5:
                out[col] = f"{text.str.match(PHONE).mean():.0%} of sampled values look like phone numbers"
    return out


def drop_personal(df: pd.DataFrame, declared: list[str] | tuple[str, ...], where: str = "",
                  strict: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """``df`` without the declared personal columns (those present), and which were dropped.
    ``strict``: a declared column that is not in ``df`` is a DataError (the training source: a typo
    in the spec must not leave the real column in)."""
    present = [c for c in declared if c in df.columns]
    missing = [c for c in declared if c not in df.columns]
    if strict and missing:
        raise DataError(f"pii_columns names columns that are not in the data: {missing} (columns: "
                        f"{', '.join(map(str, df.columns))})", source=where, rule="pii_columns are columns of the source")
    return (df.drop(columns=present) if present else df), present
