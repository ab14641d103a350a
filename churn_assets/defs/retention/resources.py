"""The retention campaign's policy and its CRM (CHURN_RETENTION_*, CHURN_CRM_*)."""

import dagster as dg


class RetentionPolicy(dg.ConfigurableResource):
    campaign: str = "retention"
    capacity: int = 500
    budget: float = 0.0
    cost_per_contact: float = 5.0
    save_rate: float = 0.3
    control_share: float = 0.2
    cooldown_days: int = 30
    csv_dir: str = ""
    min_outcomes: int = 50
    confidence: float = 0.95
    resamples: int = 1_000
    seed: int = 42
    crm_webhook_url: str = ""  # empty: no CRM
    crm_batch_size: int = 500
    crm_retries: int = 3
    crm_backoff_s: float = 0.5
    uplift_capacity_share: float = 0.1  # the uplift gate compares rankings at this share of held-out customers

    def config(self):
        from churn_assets.core.retention.targeting import CampaignConfig

        return CampaignConfig(name=self.campaign, capacity=self.capacity, budget=self.budget,
                              cost_per_contact=self.cost_per_contact, control_share=self.control_share,
                              cooldown_days=self.cooldown_days, save_rate=self.save_rate)
