"""Retention on a user's own data, through Dagster: a telecom-style spec (generated here, not by the
project's generator) with a value column (`MonthlyCharges`), a day's customers and outcomes, and a
past randomized campaign file (`Offer` yes/no, `Left` yes/no). Trained, scored, listed under a
capacity ranked by expected net value, uplift model fitted on the past campaign (Qini, gate in the
registry), and the day's readout launched by campaign_outcomes_sensor once the outcomes arrive."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from churn_assets.core.retention import store
from churn_assets.local import runs
from churn_assets_tests.conftest import materialized, settings
from churn_assets_tests.telecom import telecom

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
DAY = "2025-07-01"


def past_campaign(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Half offered at random. The offer saves DSL customers without tech support (a third of their
    churn), does nothing for month-to-month electronic-check payers (lost causes), and a few two-year
    customers leave *because* they were contacted."""
    frame = telecom(rng, n, "P", changed=False)
    offer = rng.random(n) < 0.5
    left = frame["Churn"].eq("Yes").to_numpy()
    saved = offer & (frame["InternetService"].eq("DSL") & frame["TechSupport"].eq("No")).to_numpy() \
        & (rng.random(n) < 0.6)
    provoked = offer & frame["Contract"].eq("Two year").to_numpy() & (rng.random(n) < 0.08)
    left = (left & ~saved) | provoked
    return frame.drop(columns=["Churn"]).assign(Offer=np.where(offer, "Yes", "No"), Left=np.where(left, "Yes", "No"))


def test_value_targets_uplift_and_readout_on_a_user_spec(tmp_path, instance):
    from churn_assets.core.training import tracking
    from churn_assets.defs.retention.assets import RANKING_TAG
    from churn_assets.defs.retention.sensors import campaign_outcomes_sensor

    rng = np.random.default_rng(7)
    data = tmp_path / "telecom"
    (data / "batches").mkdir(parents=True)
    (data / "outcomes").mkdir()
    telecom(rng, 2500, "B", changed=False).to_csv(data / "base.csv", index=False)
    day = telecom(rng, 1000, "D0-", changed=False)
    day.drop(columns=["Churn"]).to_csv(data / "batches" / f"{DAY}.csv", index=False)
    past_campaign(rng, 6000).to_csv(data / "past_campaign.csv", index=False)
    spec = data / "telecom.yaml"
    spec.write_text("name: telecom\nsource: {path: base.csv}\nid_column: customerID\ntarget_column: Churn\n"
                    "positive_label: \"Yes\"\nas_of: 2025-06-30\ncolumn_types: {SeniorCitizen: categorical}\n"
                    "scoring: {path: \"batches/{date}.csv\"}\nlabels: {path: \"outcomes/{date}.csv\"}\n"
                    "value: {column: MonthlyCharges, unit: monthly_revenue, horizon_months: 12}\n"
                    "campaign_history: {path: past_campaign.csv, treatment_column: Offer, outcome_column: Left}\n")
    s = settings(home=tmp_path / "home", dataset=str(spec), mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                 mlflow_artifacts=str(tmp_path / "mlartifacts"), optuna_storage=f"sqlite:///{tmp_path}/optuna.db",
                 predictions_url=f"sqlite:///{tmp_path}/pred.db", reports_dir=tmp_path / "reports",
                 retention_dir=tmp_path / "retention", scoring_batches_dir=tmp_path / "scoring_batches",
                 labelled_dir=tmp_path / "labelled", model_name="churn-telecom-retention", retention_capacity=200,
                 readout_resamples=200, card_bootstrap=0, batch_reasons=0)

    assert runs.train(3, instance, settings=s).success
    runs.execute("churn_scoring", instance, s, partition=DAY)
    listed_run = runs.execute("churn_retention", instance, s, partition=DAY)
    meta = materialized(listed_run, "retention_targets")
    listed = store.read_targets(s.predictions_url, DAY, s.retention_campaign)
    assert meta["value_mode"] == "value" and meta["selected"] == len(listed) == 200
    assert (listed.sort_values("rank")["expected_net_value"].diff().dropna() <= 1e-12).all()
    # expected loss = probability x monthly charges x 12 months, from the user's own column
    charges = day.set_index("customerID")["MonthlyCharges"]
    row = listed.iloc[0]
    assert row["value_at_stake"] == pytest.approx(charges[row["customer_id"]] * 12, rel=1e-9)
    assert row["expected_loss"] == pytest.approx(row["churn_probability"] * row["value_at_stake"], rel=1e-9)

    uplift = materialized(runs.execute("churn_uplift", instance, s), "uplift_model")
    assert uplift["source"] == str(data / "past_campaign.csv")
    assert uplift["campaign_customers"] + uplift["quarantined_rows"] == 6000 and uplift["ranking"] in ("uplift", "risk")
    assert uplift["uplift_qini_coefficient"] > uplift["risk_qini_coefficient"]  # the offer's effect is not the risk
    client = tracking.client(s.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(s.model_name, "champion")
    assert champion.tags[RANKING_TAG] == uplift["ranking"]  # the gate's verdict, in the registry

    # The day's outcomes arrive (the spec's `labels`: every customer of the day, listed or not).
    res = runs.load_defs(s).resources

    def tick(cursor=None):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"dataset": res["dataset"], "retention": res["retention"]})
        return campaign_outcomes_sensor()(ctx), ctx.cursor

    assert isinstance(tick()[0], dg.SkipReason)
    day[["customerID", "Churn"]].to_csv(data / "outcomes" / f"{DAY}.csv", index=False)
    requests, _ = tick()
    assert [r.partition_key for r in requests] == [DAY]
    out = materialized(runs.execute("churn_campaign_readout", instance, s, partition=DAY, tags=requests[0].tags),
                       "campaign_readout")
    assert out["treatment"] + out["control"] == 200 and out["awaiting"] == 0
    assert out["unknown_ids"] == 800  # outcomes of customers not on the list: counted, not dropped
    assert out["decision"] in ("works", "no_evidence", "harmful") and out["reason"]
