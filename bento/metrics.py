"""The Bento's own Prometheus metrics (served on /metrics next to BentoML's), bound once.

``.labels()`` takes a lock and a lookup: children used on the request path are cached here.
"""

from __future__ import annotations

import bentoml

REJECTED = bentoml.metrics.Counter(name="churn_rejected_requests", labelnames=["transport", "reason", "status"],
                                   documentation="Requests refused before scoring (client errors), by reason")
LOG_ROWS = bentoml.metrics.Counter(name="churn_prediction_log_rows", labelnames=["outcome"],
                                   documentation="Prediction-log rows: written, dropped (queue full), failed (store)")
_children: dict[tuple, object] = {}


def _child(metric, **labels):
    """``metric.labels(**labels)``, bound once per label set (the lock and lookup stay off the request path)."""
    key = (id(metric), *labels.values())
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(**labels)
    return child


def rejected(transport: str, reason: str, status: int | str) -> None:
    _child(REJECTED, transport=transport, reason=reason, status=str(status)).inc()


def log_rows(outcome: str, n: int) -> None:
    """Count prediction-log rows of one outcome (called from the writer thread and the request path)."""
    _child(LOG_ROWS, outcome=outcome).inc(n)


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


def predictions(arm: str, transport: str, served: bool, n: int) -> None:
    _child(PREDICTIONS, arm=arm, transport=transport, served=str(served).lower()).inc(n)


def latency(arm: str, transport: str):
    """The histogram child of (arm, transport): call ``.observe(seconds)``."""
    return _child(PREDICTION_LATENCY, arm=arm, transport=transport)
