"""Sending a contact list to a CRM webhook: bounded batches, retries, an idempotency key per batch.

Each batch is one JSON POST ``{"campaign", "day", "batch", "idempotency_key", "customers": [...]}``
with the header ``Idempotency-Key``. The key is ``<campaign>:<day>:<sha256 of the batch's ids>[:16]``:
the same customers of the same day always get the same key, so a receiver that keeps keys can
drop a repeat. On our side the customers the CRM accepted (2xx) are recorded
(``store.crm_deliveries``) before the next batch goes, and a re-run sends only the customers of
the day not yet delivered: no duplicates, and an interrupted send resumes where it stopped.

Retries: a connection error, a timeout, 429 or a 5xx is retried ``retries`` times with waits of
``backoff_s`` x 1, 2, 4, ...; any other 4xx is the CRM refusing the payload: no retry. A batch that
still fails raises ``CrmError`` naming the batch, what was delivered and the last answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

log = logging.getLogger("churn_assets.retention.crm")
FIELDS = ("customer_id", "rank", "churn_probability", "value_at_stake", "expected_net_value", "cell")


class CrmError(RuntimeError):
    pass


@dataclass
class SendResult:
    batches_sent: int = 0
    customers_sent: int = 0
    already_delivered: int = 0
    retries: int = 0
    keys: tuple[str, ...] = ()


def batch_key(campaign: str, day: str, ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return f"{campaign}:{day}:{digest}"


def _post(url: str, payload: dict, key: str, timeout_s: float) -> int:
    req = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def send(url: str, rows: pd.DataFrame, *, campaign: str, day: str, already: set[str],
         record: Callable[[list[str], str], None], batch_size: int = 500, retries: int = 3,
         backoff_s: float = 0.5, timeout_s: float = 10.0) -> SendResult:
    """POST the treated customers of ``rows`` not in ``already``; ``record(ids, key)`` after each 2xx."""
    if batch_size < 1:
        raise ValueError(f"CRM batch size must be >= 1, got {batch_size}")
    res = SendResult()
    todo = rows[~rows["customer_id"].astype(str).isin(already)]
    res.already_delivered = len(rows) - len(todo)
    cols = [c for c in FIELDS if c in todo.columns]
    keys = []
    for b, start in enumerate(range(0, len(todo), batch_size)):
        part = todo.iloc[start:start + batch_size]
        ids = part["customer_id"].astype(str).tolist()
        key = batch_key(campaign, day, ids)
        payload = {"campaign": campaign, "day": day, "batch": b, "idempotency_key": key,
                   "customers": part[cols].to_dict("records")}
        last = None
        for attempt in range(retries + 1):
            try:
                status = _post(url, payload, key, timeout_s)
                last = f"HTTP {status}"
            except OSError as err:  # connection refused/reset, timeout
                status, last = None, f"{type(err).__name__}: {err}"
            if status is not None and 200 <= status < 300:
                break
            if status is not None and 400 <= status < 500 and status != 429:
                raise CrmError(f"CRM {url} refused batch {b} of {campaign} {day} ({last}); "
                               f"{res.customers_sent} customers were delivered before it; not retried (a 4xx)")
            if attempt < retries:
                res.retries += 1
                log.warning("CRM batch %s of %s %s: %s, retry %s/%s", b, campaign, day, last, attempt + 1, retries)
                time.sleep(backoff_s * 2**attempt)
        else:
            raise CrmError(f"CRM {url} failed batch {b} of {campaign} {day} after {retries + 1} attempts ({last}); "
                           f"{res.customers_sent} customers were delivered and are recorded: a re-run sends the rest")
        record(ids, key)
        keys.append(key)
        res.batches_sent += 1
        res.customers_sent += len(ids)
    res.keys = tuple(keys)
    return res
