"""Retention without Dagster: customer value, the synthetic world, the contact list, the tables, the
campaign readout and uplift targeting (core/retention)."""

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.data.errors import DataError
from churn_assets.core.data.spec import load_spec, synthetic_spec
from churn_assets.core.data.synthetic import DEFAULT_AS_OF, REVENUE_COLUMN, generate_customers, monthly_revenue
from churn_assets.core.retention import store, world
from churn_assets.core.retention.readout import campaign_readout
from churn_assets.core.retention.targeting import CONTROL, TREATMENT, CampaignConfig, Cuts, assign, build_targets
from churn_assets.core.retention.uplift import auuc, campaign_frame, compare_at_capacity, gate, qini_curve
from churn_assets.core.retention.value import ValueSpec, resolve


@pytest.fixture(scope="module")
def day():
    df = generate_customers(20_000, seed=11, with_labels=False)
    truth = world.potential_outcomes(df, DEFAULT_AS_OF, seed=11)
    v = monthly_revenue(df) * 12
    scored = pd.DataFrame({"customer_id": df["customer_id"], "churn_probability": truth["p_control"],
                           "value_at_stake": v})
    return df, truth, scored


# -- value ---------------------------------------------------------------------------------------------

def test_revenue_column_is_additive_and_seeded():
    df = generate_customers(500)
    assert REVENUE_COLUMN not in df.columns  # the generator's output is untouched
    r = monthly_revenue(df)
    assert (r > 0).all() and r.equals(monthly_revenue(df))
    shuffled = df.sample(frac=1, random_state=1)
    assert monthly_revenue(shuffled).sort_index().equals(r)  # per customer, not per row position
    assert not r.equals(monthly_revenue(df, seed=7))
    spec = synthetic_spec()
    assert spec.value == {"column": "monthly_revenue", "unit": "monthly_revenue", "horizon_months": 12.0}


def test_value_rules():
    df = pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "MonthlyCharges": [10.0, None, -5.0, "x", 30.0]})
    v = resolve(df, ValueSpec("MonthlyCharges", "monthly_revenue", 12), "id")
    assert v.mode == "value" and list(v.ids) == ["a", "b", "e"]
    assert v.at_stake.tolist() == [120.0, 240.0, 360.0]  # b: the median (20) x 12
    assert v.imputed == 1 and "median" in v.reason
    q = v.quarantined.set_index("customer_id")["reason"]
    assert q["c"] == "MonthlyCharges: negative value (rule: >= 0)" and q["d"] == "MonthlyCharges: not a number"
    risk = resolve(df, None, "id")
    assert risk.mode == "risk_only" and (risk.at_stake == 1).all() and "no `value` section" in risk.reason
    absent = resolve(df, ValueSpec("Revenue"), "id", "batch 2025-07-01")
    assert absent.mode == "risk_only" and "'Revenue'" in absent.reason
    assert ValueSpec("x", "annual_revenue", 6).factor() == 0.5 and ValueSpec("x", "lifetime_value").factor() == 1
    with pytest.raises(ValueError, match="unit"):
        ValueSpec("x", "euros")


def test_spec_value_and_campaign_keys(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("source: data.csv\nid_column: id\ntarget_column: y\n"
                 "value: {column: MonthlyCharges, unit: monthly_revenue, horizon_months: 12}\n"
                 "campaign_history: {path: past.csv, treatment_column: offer, outcome_column: left}\n"
                 "campaign_outcomes: {path: 'out/{date}.csv'}\n")
    s = load_spec(p)
    assert s.value == {"column": "MonthlyCharges", "unit": "monthly_revenue", "horizon_months": 12.0}
    assert s.campaign_history["path"] == str(tmp_path / "past.csv") and s.campaign_history["treatment_column"] == "offer"
    p.write_text("source: data.csv\nid_column: id\ntarget_column: y\nvalue: {colum: M}\n")
    with pytest.raises(ValueError, match="did you mean 'column'"):
        load_spec(p)


# -- the world -----------------------------------------------------------------------------------------

def test_world_has_documented_segments(day):
    _, truth, _ = day
    share = truth["segment"].value_counts(normalize=True)
    assert set(share.index) == set(world.SEGMENTS)
    assert share["sleeping_dog"] < 0.05  # a small group
    by = truth.groupby("segment")[["p_control", "p_treated"]].mean()
    assert by.loc["lost_cause", "p_control"] > by.loc["persuadable", "p_control"]  # the riskiest cannot be saved
    assert by.loc["lost_cause", "p_control"] == by.loc["lost_cause", "p_treated"]
    assert by.loc["sleeping_dog", "p_treated"] > by.loc["sleeping_dog", "p_control"]
    assert (truth["churn_if_treated"] <= truth["churn_if_control"]).sum() > 0.95 * len(truth)
    again = world.potential_outcomes(generate_customers(20_000, seed=11, with_labels=False), DEFAULT_AS_OF, seed=11)
    pd.testing.assert_frame_equal(truth, again)


# -- the list ------------------------------------------------------------------------------------------

def test_capacity_budget_and_bad_config(day):
    _, _, scored = day
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    t = build_targets(scored, CampaignConfig(capacity=1000), cuts)
    assert len(t.table) == 1000 and t.table["expected_net_value"].is_monotonic_decreasing
    assert t.grid["customers"].sum() == len(scored) and t.grid["selected"].sum() == 1000
    assert (t.table["expected_net_value"] > 0).all()
    b = build_targets(scored, CampaignConfig(capacity=1000, budget=2_000, cost_per_contact=10), cuts)
    assert len(b.table) == 200
    with pytest.raises(DataError, match=r"capacity must be > 0.*\[rule: capacity > 0\]"):
        CampaignConfig(capacity=0)
    with pytest.raises(DataError, match="cost per contact"):
        CampaignConfig(budget=100, cost_per_contact=0)


def test_assignment_is_a_stable_hash():
    ids = [f"C{i}" for i in range(20_000)]
    g = assign("spring", ids, 0.2)
    assert abs((g == CONTROL).mean() - 0.2) < 0.01
    assert (assign("spring", ids[::-1], 0.2)[::-1] == g).all()  # per customer, order-free
    assert (assign("autumn", ids, 0.2) != g).any()  # another campaign, another split


def test_cooldown_and_tables(day, tmp_path):
    _, _, scored = day
    url = f"sqlite:///{tmp_path}/p.db"
    cfg = CampaignConfig(capacity=500, cooldown_days=30)
    cuts = store.save_cuts(url, "m", "1", Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "a"))
    assert store.save_cuts(url, "m", "1", Cuts((0, 0), (0, 0), "b")) == cuts  # fixed once
    first = build_targets(scored, cfg, cuts)
    store.replace_targets(url, "2025-07-01", cfg.name, first.table, "1")
    assert store.replace_targets(url, "2025-07-01", cfg.name, first.table, "1") == 500  # replaced
    assert len(store.read_targets(url, "2025-07-01", cfg.name)) == 500
    recent = store.recently_selected(url, cfg.name, "2025-07-02", 30)
    second = build_targets(scored, cfg, cuts, recent)
    assert second.counts["cooled_down"] == 500 and not set(second.table["customer_id"]) & recent
    assert store.recently_selected(url, cfg.name, "2025-08-15", 30) == set()  # outside the cool-down
    path = store.write_csv(first.table, tmp_path / "csv", cfg.name, "2025-07-01")
    assert pd.read_csv(path)["customer_id"].tolist() == first.table["customer_id"].tolist()


# -- the readout ---------------------------------------------------------------------------------------

def _simulate(truth, table):
    t = table.merge(truth, on="customer_id")
    churned = np.where(t["group"] == TREATMENT, t["churn_if_treated"], t["churn_if_control"]).astype(int)
    return pd.DataFrame({"customer_id": t["customer_id"], "churned": churned}), t


def test_readout_finds_a_working_campaign_and_counts_unknown_ids(day):
    _, truth, scored = day
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    t = build_targets(scored, CampaignConfig(capacity=6000), cuts)
    outcomes, joined = _simulate(truth, t.table)
    outcomes = pd.concat([outcomes, pd.DataFrame({"customer_id": ["nobody-1", "nobody-2"], "churned": [0, 1]})])
    r = campaign_readout(t.table, outcomes.iloc[100:], resamples=300)
    assert r.decision == "works" and r.counts["unknown_ids"] == 2 and r.counts["awaiting"] == 100
    lo, hi = r.overall["absolute_reduction_ci"]
    true_effect = float((joined["p_control"] - joined["p_treated"]).mean())
    assert lo < true_effect < hi
    assert {c["cell"] for c in r.cells} <= set(t.table["cell"])
    assert r.overall["value_saved"] > 0 and r.overall["customers_saved_ci"][0] > 0


def test_readout_calls_a_harmful_campaign_harmful(day):
    _, truth, scored = day
    dogs = scored[truth["segment"].to_numpy() == "sleeping_dog"]
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    t = build_targets(dogs, CampaignConfig(capacity=10_000, cost_per_contact=0, control_share=0.5), cuts)
    outcomes, _ = _simulate(truth, t.table)
    r = campaign_readout(t.table, outcomes, resamples=300, min_outcomes=20)
    assert r.decision == "harmful", r.reason


def test_readout_rejects_a_non_binary_outcome(day):
    _, _, scored = day
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    t = build_targets(scored.head(500), CampaignConfig(capacity=100), cuts)
    bad = pd.DataFrame({"customer_id": t.table["customer_id"], "churned": 2})
    with pytest.raises(DataError, match=r"out/2025-07-01.csv: column 'churned': .*not binary.*\[rule: binary"):
        campaign_readout(t.table, bad, source="out/2025-07-01.csv")


# -- uplift --------------------------------------------------------------------------------------------

def test_campaign_file_needs_a_binary_treatment():
    df = pd.DataFrame({"id": range(100), "offer": ["A", "B"] * 50, "left": [0, 1] * 50})
    with pytest.raises(DataError, match=r"past.csv: column 'offer': 100 values are not binary.*\[rule: binary"):
        campaign_frame(df, "offer", "left", "past.csv")
    with pytest.raises(DataError, match="column 'treated'"):
        campaign_frame(df, "treated", "left", "past.csv")


def test_qini_and_the_gate_rank_the_truth_first(day):
    df, truth, _ = day
    camp = world.past_campaign(df, DEFAULT_AS_OF, seed=11)
    oracle = (truth["p_control"] - truth["p_treated"]).to_numpy()
    curve = qini_curve(oracle, camp["treated"], camp["churned"])
    a = auuc(curve, len(camp))
    assert a["qini_coefficient"] > 0 and curve["share"].iloc[-1] == 1.0
    cmp_ = compare_at_capacity({"uplift": oracle, "risk": truth["p_control"].to_numpy()}, camp["treated"],
                               camp["churned"], 0.1, resamples=200)
    assert cmp_["saves"]["uplift"] > cmp_["saves"]["risk"] > cmp_["saves"]["random"]
    assert gate(cmp_).wins
    noise = np.random.default_rng(0).random(len(camp))
    assert not gate(compare_at_capacity({"uplift": noise, "risk": truth["p_control"].to_numpy()}, camp["treated"],
                                        camp["churned"], 0.1, resamples=200)).wins


def test_the_campaigns_own_lists_become_an_uplift_campaign(day):
    from churn_assets.core.retention.uplift import campaign_from_lists

    df, truth, scored = day
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    t = build_targets(scored, CampaignConfig(capacity=3000), cuts)
    outcomes, _ = _simulate(truth, t.table)
    outcomes = pd.concat([outcomes.iloc[10:].rename(columns={"churned": "churn"}),
                          pd.DataFrame({"customer_id": ["ghost"], "churn": [1]})])
    frame, counts = campaign_from_lists(t.table, outcomes, df.head(19_000), "customer_id", "churn", "out.csv")
    assert counts["unknown_ids"] == 1 and counts["awaiting"] == 10
    assert counts["campaign_customers"] + counts["no_columns"] == 2990 == len(frame) + counts["no_columns"]
    assert set(frame["treated"]) == {0, 1} and set(frame["churned"]) <= {0, 1}
    framed = campaign_frame(frame, "treated", "churned", "lists")
    assert framed["_treated"].sum() == (frame["treated"] == 1).sum()


def test_stored_lists_with_world_outcomes_feed_the_uplift_model(tmp_path):
    from churn_assets.core.data.batches import BatchSettings, synthetic_batch
    from churn_assets.core.retention import campaign

    url, spec, batches, d = f"sqlite:///{tmp_path}/p.db", synthetic_spec(), BatchSettings(rows=3000), "2025-07-01"
    customers = synthetic_batch(d, batches)
    values = campaign.day_values(campaign.value_columns(customers, spec), spec, 42, "batch")
    assert values.mode == "value" and values.at_stake.min() > 0  # the synthetic revenue, derived
    p = world.baseline_churn(customers, d)
    scored, unscored = campaign.scored_frame(pd.DataFrame({"customer_id": customers["customer_id"],
                                                           "churn_probability": p}), values)
    assert unscored == 0
    cuts = Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "test")
    plan = campaign.plan_day(url, d, scored, CampaignConfig(capacity=1500, cost_per_contact=0), cuts,
                             tmp_path / "ret", "1")
    assert campaign.lists_campaign(url, spec, "retention", tmp_path / "ret", batches) is None  # no outcomes yet
    src = campaign.outcomes_source(spec, tmp_path / "ret", "retention")
    campaign.write_world_outcomes(plan.targets.table, customers, d, 42, src["path"])
    frame, counts = campaign.lists_campaign(url, spec, "retention", tmp_path / "ret", batches)
    assert len(frame) == 1500 and counts["days"] == 1 and counts["unknown_ids"] == counts["awaiting"] == 0
    assert {"treated", "churned", "feature_usage_score"} <= set(frame.columns)
