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


# Champion/challenger: every scored prediction by arm, transport and whether it was returned (False:
# a shadow answer, logged only), and its latency from the request's arrival at the edge (HTTP) or
# the gRPC handler to the end of its arm's scoring in the batch.
PREDICTIONS = bentoml.metrics.Counter(name="churn_predictions", labelnames=["arm", "transport", "served"],
                                      documentation="Predictions scored, by arm (champion|challenger), transport "
                                                    "and served (false: shadow, logged only)")
PREDICTION_LATENCY = bentoml.metrics.Histogram(
    name="churn_prediction_duration_seconds", labelnames=["arm", "transport"],
    documentation="Time from a request's arrival to the end of its arm's scoring, by arm and transport",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
_predictions: dict[tuple[str, str, bool], object] = {}
_latency: dict[tuple[str, str], object] = {}


def predictions(arm: str, transport: str, served: bool, n: int) -> None:
    key = (arm, transport, served)
    child = _predictions.get(key)
    if child is None:
        child = _predictions[key] = PREDICTIONS.labels(arm=arm, transport=transport, served=str(served).lower())
    child.inc(n)


def latency(arm: str, transport: str):
    """The histogram child of (arm, transport): call ``.observe(seconds)``."""
    child = _latency.get((arm, transport))
    if child is None:
        child = _latency[(arm, transport)] = PREDICTION_LATENCY.labels(arm=arm, transport=transport)
    return child
