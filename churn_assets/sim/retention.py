"""The retention part of ``make demo``: from churn scores to saved customers, in the synthetic world
(core/retention/world.py) where the true effect of every contact is known.

``retention_demo()`` prints the contact list of a day, a simulated campaign with its holdout and
the readout, and risk vs uplift ranking at the same capacity. It takes a fitted churn Pipeline (the
demo passes the champion's; None fits a quick one) and needs no Dagster, MLflow or settings.
"""

from __future__ import annotations

from collections.abc import Callable


def retention_demo(pipeline=None, customers: int = 20_000, capacity: int = 2_000, seed: int = 42,
                   cost_per_contact: float = 5.0, control_share: float = 0.2,
                   out: Callable[[str], None] = print) -> dict:
    from churn_assets.core.retention import simulate as sim
    from churn_assets.core.retention.targeting import CampaignConfig

    contract = sim.synthetic_contract(seed)
    pipeline = pipeline if pipeline is not None else sim.churn_model(seed, contract=contract)
    day = sim.make_day(customers, seed, pipeline)
    cfg = CampaignConfig(name="demo", capacity=capacity, cost_per_contact=cost_per_contact,
                         control_share=control_share)
    risk = sim.run_campaign(day, cfg, seed=seed)
    t, r = risk["targets"], risk["readout"]
    tab = t.table
    out(f"Retention: {customers:,} customers scored; capacity {capacity:,}, cost {cost_per_contact:g} per contact, "
        f"{control_share:.0%} held out")
    out(f"  contact list   {t.counts['selected']:,} selected ({t.counts['treatment']:,} to contact, "
        f"{t.counts['control']:,} control), {t.counts['not_worth_it']:,} not worth a contact; value at stake "
        f"{tab['value_at_stake'].sum():,.0f}, expected loss {tab['expected_loss'].sum():,.0f}")
    top = tab["cell"].value_counts().head(3)
    out("  grid cells     " + ", ".join(f"{c}: {n:,}" for c, n in top.items()))
    o = r.overall
    lo, hi = o["absolute_reduction_ci"]
    out(f"  campaign       churn treated {o['treated_churn_rate']:.1%} vs control {o['control_churn_rate']:.1%}: "
        f"reduction {o['absolute_reduction']:+.3f} [{lo:+.3f}, {hi:+.3f}] (true {risk['true_effect']:+.3f})")
    slo, shi = o["customers_saved_ci"]
    vlo, vhi = o["value_saved_ci"]
    out(f"  saved          {o['customers_saved']:,.0f} customers [{slo:,.0f}, {shi:,.0f}], value "
        f"{o['value_saved']:,.0f} [{vlo:,.0f}, {vhi:,.0f}] (true {risk['true_saves_treated']:,.0f} customers)")
    out(f"  decision       {r.decision.upper()}: {r.reason}")
    up = sim.fit_uplift_on_past(seed, contract=contract, capacity_share=capacity / customers)
    g = up["gate"]
    out(f"Uplift (T-learner, {up['model'].family}) on a past randomized campaign, {up['held_out']:,} held out: "
        f"Qini coefficient uplift {up['auuc']['uplift']['qini_coefficient']:.4f} vs risk "
        f"{up['auuc']['risk']['qini_coefficient']:.4f}")
    out(f"  gate           {g.ranking.upper()}: {g.reason}")
    saves = sim.true_saves_at_capacity(day, {"uplift": up["model"].predict(day.customers),
                                             "risk": day.scored["churn_probability"].to_numpy()}, capacity, seed)
    out(f"  true saves at capacity {capacity:,}: uplift {saves['uplift']['expected_saves']:,.0f}, risk "
        f"{saves['risk']['expected_saves']:,.0f}, random {saves['random']['expected_saves']:,.0f} "
        f"(uplift / risk {saves['uplift']['expected_saves'] / saves['risk']['expected_saves']:.2f}x)")
    return {"targets": t.counts, "readout": {"decision": r.decision, **o}, "true_effect": risk["true_effect"],
            "gate": g.ranking, "true_saves": saves}
