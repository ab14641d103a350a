"""bento/metrics.py's bulk histogram observation (the records of one /predict_batch request) leaves the
same exposition as observing each record: same buckets, count and sum."""

from __future__ import annotations

import pytest


def _samples(arm: str, transport: str) -> dict:
    from prometheus_client import REGISTRY

    # `_created` is when the labelled child was made (a timestamp, not an observation): left out.
    return {(s.name, s.labels.get("le")): s.value for metric in REGISTRY.collect() for s in metric.samples
            if s.name.startswith("churn_prediction_duration_seconds") and not s.name.endswith("_created")
            and s.labels.get("arm") == arm
            and s.labels.get("transport") == transport}


@pytest.mark.parametrize("seconds", [0.0004, 0.003, 0.07, 0.5, 7.0])
def test_bulk_latency_equals_one_observation_per_record(seconds):
    from bento import metrics

    # Deltas: the registry is the process's (metrics of other tests, or of an earlier run in a
    # multiprocess directory, may already be there).
    single0, bulk0 = _samples("champion", f"single-{seconds}"), _samples("champion", f"bulk-{seconds}")
    for _ in range(37):
        metrics.latency("champion", f"single-{seconds}", seconds)
    metrics.latency("champion", f"bulk-{seconds}", seconds, 37)
    single = {k: v - single0.get(k, 0.0) for k, v in _samples("champion", f"single-{seconds}").items()}
    bulk = {k: v - bulk0.get(k, 0.0) for k, v in _samples("champion", f"bulk-{seconds}").items()}
    assert single and set(single) == set(bulk)
    for key, value in single.items():
        assert bulk[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert bulk[("churn_prediction_duration_seconds_count", None)] == 37
