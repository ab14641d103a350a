"""A small notifier: a log line always, plus a JSON POST to a webhook when one is configured."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request

log = logging.getLogger("churn_assets.alerts")


LINE = 200  # characters of an alert's details in the log line


def notify(event: str, message: str, webhook_url: str = "", timeout_s: float = 5.0, **details) -> bool:
    """Returns True when the webhook accepted the alert (or none is configured)."""
    payload = {"event": event, "message": message, "details": details,
               "at": dt.datetime.now(dt.UTC).isoformat()}
    text = json.dumps(details, default=str)  # the log line stays one readable line; the webhook gets it all
    log.warning("ALERT %s: %s %s", event, message, text if len(text) <= LINE else text[: LINE - 1] + "…")
    if not webhook_url:
        return True
    req = urllib.request.Request(webhook_url, data=json.dumps(payload, default=str).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return 200 <= resp.status < 300
    except OSError as err:  # an alert channel being down must never fail the pipeline
        log.error("webhook %s failed for %s: %s", webhook_url, event, err)
        return False
