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


def latency(arm: str, transport: str, seconds: float, n: int = 1) -> None:
    """``n`` predictions of (arm, transport) that took ``seconds`` each (the records of one request).

    One bucket increment by ``n`` and one sum increment instead of ``n`` calls of
    ``Histogram.observe``: a 1,000-record /predict_batch spent 2.6 ms (10% of its time beyond the
    model) observing the same value 1,000 times. ``observe`` has no count argument, so this does what
    it does with one: prometheus_client's ``_sum``, ``_upper_bounds`` and ``_buckets`` of the child
    (churn_assets_tests/test_serving_metrics.py checks the exposition equals ``n`` observations)."""
    child = _child(PREDICTION_LATENCY, arm=arm, transport=transport)
    if n == 1:
        child.observe(seconds)
        return
    child._sum.inc(seconds * n)
    for i, bound in enumerate(child._upper_bounds):
        if seconds <= bound:
            child._buckets[i].inc(n)
            break
