"""An alert is one readable log line (details cut at LINE characters) and the whole payload on the
webhook (a real receiver on 127.0.0.1)."""

import logging

from churn_assets.core.monitoring.notify import LINE, notify
from churn_assets_tests.receiver import http_receiver


def test_a_long_alert_is_one_short_line_and_a_whole_payload(caplog):
    columns = [f"feature_number_{i}" for i in range(60)]
    with http_receiver("/alerts") as hook, caplog.at_level(logging.WARNING):
        assert notify("drift", "data drift in partition 2025-07-04", hook.url, drifted_columns=columns)
    [record] = [r for r in caplog.records if r.getMessage().startswith("ALERT drift")]
    line = record.getMessage()
    assert len(line) <= len("ALERT drift: data drift in partition 2025-07-04 ") + LINE and line.endswith("…")
    assert hook.bodies[0]["details"]["drifted_columns"] == columns  # nothing cut on the webhook


def test_a_short_alert_is_not_cut(caplog):
    with caplog.at_level(logging.WARNING):
        notify("promotion", "v2 promoted", model="m", version="2")
    assert caplog.records[-1].getMessage() == 'ALERT promotion: v2 promoted {"model": "m", "version": "2"}'
