"""retention_targets and campaign_readout through Dagster on a real trained champion: the day's list
in the table and as CSV, sent to a CRM receiver on 127.0.0.1, a re-run that replaces the list and
sends nothing twice, and the readout of the outcomes the synthetic world gives the list."""


import dagster as dg
import pandas as pd
import pytest

from churn_assets.core.data.batches import synthetic_batch
from churn_assets.core.retention import campaign, store
from churn_assets_tests.conftest import materialized, resources, settings
from churn_assets_tests.receiver import http_receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # the first test may train the session champion

DAY = "2025-07-01"


@pytest.fixture(scope="module")
def crm():
    with http_receiver("/crm") as receiver:
        yield receiver.url, receiver.posts


def test_targets_crm_rerun_and_readout(trained, crm, tmp_path):
    from churn_assets.definitions import build_defs

    values = {"predictions_url": f"sqlite:///{tmp_path}/pred.db", "retention_dir": tmp_path / "retention",
              "scoring_batches_dir": tmp_path / "batches", "batch_rows": 6000, "retention_capacity": 1500,
              "retention_cost_per_contact": 1.0, "crm_webhook_url": crm[0], "crm_batch_size": 200,
              "readout_resamples": 300}
    s = settings(trained["settings"], **values)
    inst = trained["instance"]
    d = build_defs(s)
    d.resolve_job_def("churn_scoring").execute_in_process(instance=inst, partition_key=DAY)
    res = resources(s)
    targets_def, readout_def = d.resolve_assets_def("retention_targets"), d.resolve_assets_def("campaign_readout")

    first = dg.materialize([targets_def], partition_key=DAY, instance=inst)
    meta = materialized(first, "retention_targets")
    listed = store.read_targets(s.predictions_url, DAY, s.retention_campaign)
    assert meta["selected"] == len(listed) == 1500 and meta["value_mode"] == "value"
    assert meta["treatment"] + meta["control"] == 1500 and abs(meta["control"] / 1500 - 0.2) < 0.04
    assert (listed.sort_values("rank")["expected_net_value"].diff().dropna() <= 1e-12).all()
    assert pd.read_csv(meta["csv"])["customer_id"].tolist() == listed.sort_values("rank")["customer_id"].tolist()
    assert "champion's training scores" in meta["cut_points"]
    assert meta["grid_heatmap"].startswith("![risk x value grid](data:image/png;base64,")
    sent = [c["customer_id"] for _, b in crm[1] for c in b["customers"]]
    treated = set(listed.loc[listed["group"] == "treatment", "customer_id"])
    assert len(sent) == len(set(sent)) == len(treated) and set(sent) == treated
    assert max(len(b["customers"]) for _, b in crm[1]) <= 200

    again = dg.materialize([targets_def], partition_key=DAY, instance=inst)  # a re-run
    assert materialized(again, "retention_targets")["crm"].startswith("0 customers in 0 batches sent, "
                                                                      f"{len(treated)} already delivered")
    relisted = store.read_targets(s.predictions_url, DAY, s.retention_campaign)
    assert len(relisted) == 1500 and set(relisted["customer_id"]) == set(listed["customer_id"])
    assert len(crm[1]) == len({h["Idempotency-Key"] for h, _ in crm[1]})  # no batch twice

    # outcomes: not yet -> the sensor waits and the asset fails clearly; then the world's outcomes for the
    # list arrive -> the sensor asks for the day's readout once
    from churn_assets.defs.retention.sensors import campaign_outcomes_sensor

    def tick(cursor=None):
        ctx = dg.build_sensor_context(instance=inst, cursor=cursor,
                                      resources={"dataset": res["dataset"], "retention": res["retention"]})
        return campaign_outcomes_sensor()(ctx), ctx.cursor

    waiting, _ = tick()
    assert isinstance(waiting, dg.SkipReason) and "no contact list with newly arrived outcomes" in waiting.skip_message
    with pytest.raises(dg.Failure, match="have not arrived"):
        dg.materialize([readout_def], partition_key=DAY, instance=inst)
    customers = synthetic_batch(DAY, res["dataset"].batches())
    src = campaign.outcomes_source(res["dataset"].spec(), s.retention_dir, s.retention_campaign)
    campaign.write_world_outcomes(relisted, customers, DAY, s.seed, src["path"])
    requests, cursor = tick()
    assert [(r.partition_key, r.run_key) for r in requests] == [(DAY, f"campaign-readout-{DAY}")]
    assert isinstance(tick(cursor)[0], dg.SkipReason)  # once per day
    out = materialized(dg.materialize([readout_def], partition_key=DAY, instance=inst),
                       "campaign_readout")
    assert out["decision"] in ("works", "no_evidence") and out["unknown_ids"] == 0 and out["awaiting"] == 0
    assert out["treatment"] + out["control"] == 1500
    assert out["absolute_reduction_interval"].startswith("[")


def test_uplift_model_gates_and_targets_follow(trained, tmp_path):
    from churn_assets.core.training import tracking
    from churn_assets.definitions import build_defs
    from churn_assets.defs.retention.assets import RANKING_TAG

    values = {"predictions_url": f"sqlite:///{tmp_path}/pred.db", "retention_dir": tmp_path / "retention",
              "scoring_batches_dir": tmp_path / "batches", "batch_rows": 3000, "retention_capacity": 600,
              "readout_resamples": 200}
    s, inst, day = settings(trained["settings"], **values), trained["instance"], "2025-07-02"
    d, res = build_defs(s), resources(s)
    meta = materialized(dg.materialize([d.resolve_assets_def("uplift_model")], instance=inst),
                        "uplift_model")
    assert meta["ranking"] == "uplift", meta["gate"]  # the world's persuadables are not the riskiest
    assert meta["uplift_qini_coefficient"] > meta["risk_qini_coefficient"]
    assert meta["qini_curve"].startswith("![Qini curve](data:image/png;base64,")
    client = tracking.client(s.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(res["mlflow"].model_name, "champion")
    assert champion.tags[RANKING_TAG] == "uplift"
    try:
        _targets_follow(d, inst, res, s, day)
    finally:  # the session's champion is shared: leave it as it was
        client.delete_model_version_tag(champion.name, champion.version, RANKING_TAG)


def _targets_follow(d, inst, res, s, day):
    d.resolve_job_def("churn_scoring").execute_in_process(instance=inst, partition_key=day)
    out = materialized(dg.materialize([d.resolve_assets_def("retention_targets")], partition_key=day, instance=inst),
                       "retention_targets")
    assert out["ranking"] == "uplift" and out["selected"] > 0
    listed = store.read_targets(s.predictions_url, day, s.retention_campaign)
    assert listed["uplift"].notna().all() and (listed["ranking"] == "uplift").all()
    # the uplift ranking lands on lower-risk customers than risk ranking would pick
    assert listed["churn_probability"].mean() < 0.9
