"""Alerts as a resource: every domain may send one."""

import dagster as dg

from churn_assets.core.monitoring.notify import notify


class Notifier(dg.ConfigurableResource):
    """Alerts: a log line always, and a POST to ``webhook_url`` when set (CHURN_WEBHOOK_URL)."""

    webhook_url: str = ""

    def send(self, event: str, message: str, **details) -> bool:
        return notify(event, message, self.webhook_url, **details)
