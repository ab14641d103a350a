
import dagster as dg

from churn_assets.core.notify import notify


class Notifier(dg.ConfigurableResource):
    """Alerts: a log line always, and a POST to ``webhook_url`` when set (CHURN_WEBHOOK_URL)."""

    webhook_url: str = ""

    def send(self, event: str, message: str, **details) -> bool:
        return notify(event, message, self.webhook_url, **details)


class ScoringSource(dg.ConfigurableResource):
    """Where daily batches come from. With the synthetic default, batches from ``shift_from`` on
    carry the documented ``shift`` (see core/synthetic.py SHIFTS) so the loop can be shown."""

    rows: int = 5_000
    seed: int = 42
    shift: str = "engagement_drop"
    shift_from: str = ""  # ISO date; empty: no shift
    intensity: float = 1.0
    labels_dir: str = ""
    predictions_url: str = ""
    reports_dir: str = ""
    f1_tolerance: float = 0.10  # degraded when realized F1 falls more than this share below training
    drift_share: float = 0.3  # share of drifted feature columns that flags data drift
    drift_sample_rows: int = 10_000

    def settings(self):
        from churn_assets.core.batches import BatchSettings

        return BatchSettings(rows=self.rows, seed=self.seed, shift=self.shift, shift_from=self.shift_from,
                             intensity=self.intensity)
