"""The Bento's own Prometheus metrics (served on /metrics next to BentoML's), bound once.

``.labels()`` takes a lock and a lookup: children used on the request path are cached here.
"""

from __future__ import annotations

import bentoml

REJECTED = bentoml.metrics.Counter(name="churn_rejected_requests", labelnames=["transport", "reason", "status"],
                                   documentation="Requests refused before scoring (client errors), by reason")
LOG_ROWS = bentoml.metrics.Counter(name="churn_prediction_log_rows", labelnames=["outcome"],
                                   documentation="Prediction-log rows: written, dropped (queue full), failed (store)")
_rejected: dict[tuple[str, str, str], object] = {}


def rejected(transport: str, reason: str, status: int | str) -> None:
    key = (transport, reason, str(status))
    child = _rejected.get(key)
    if child is None:
        child = _rejected[key] = REJECTED.labels(transport=transport, reason=reason, status=str(status))
    child.inc()


_log_rows = {}


def log_rows(outcome: str, n: int) -> None:
    """Count prediction-log rows of one outcome (called from the writer thread and the request path)."""
    child = _log_rows.get(outcome)
    if child is None:
        child = _log_rows[outcome] = LOG_ROWS.labels(outcome=outcome)
    child.inc(n)
