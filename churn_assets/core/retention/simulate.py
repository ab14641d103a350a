"""Whole campaigns in the synthetic world, without Dagster: what the demo (sim/retention.py) prints
and the bench (bench/retention.py) measures.

A day: ``n`` synthetic customers (``generate_customers``), their churn scores from a churn model,
their value (``monthly_revenue``), the world's potential outcomes (``world.py``). A campaign: the
contact list at a capacity, treatment/control by the hash, outcomes as the world gives them, the
readout. Uplift: a T-learner fitted on a past randomized campaign, compared with risk ranking at the
same capacity on true saves (known in the world).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_assets.core.data.synthetic import DEFAULT_AS_OF, generate_customers, monthly_revenue
from churn_assets.core.retention import world
from churn_assets.core.retention.readout import campaign_readout
from churn_assets.core.retention.targeting import TREATMENT, CampaignConfig, Cuts, build_targets
from churn_assets.core.retention.value import ValueSpec


def synthetic_contract(seed: int = 42):
    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.spec import synthetic_spec

    return resolve_contract(synthetic_spec(), generate_customers(2_000, seed=seed))


def churn_model(seed: int = 42, rows: int = 20_000, contract=None):
    """A quick churn Pipeline (histogram boosting) on synthetic customers: the risk ranking."""
    from churn_assets.core.training.modeling import assemble, feature_steps, make_estimator

    contract = contract or synthetic_contract(seed)
    df = generate_customers(rows, seed=seed + 10_000)
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(df).transform(df)).transform(builder.transform(df))
    est = make_estimator("hist_gradient_boosting", {"max_leaf_nodes": 15, "learning_rate": 0.1}, seed=seed)
    return assemble(builder, encoder, est.fit(X, df["churn"].astype(int)))


@dataclass
class Day:
    customers: pd.DataFrame
    truth: pd.DataFrame
    scored: pd.DataFrame  # customer_id, churn_probability, value_at_stake


def make_day(n: int, seed: int, pipeline, as_of: dt.date = DEFAULT_AS_OF, horizon_months: float = 12.0) -> Day:
    customers = generate_customers(n, seed=seed, as_of=as_of, with_labels=False, id_prefix=f"S{seed}-")
    truth = world.potential_outcomes(customers, as_of, seed=seed)
    p = pipeline.predict_proba(customers)[:, 1] if pipeline is not None else truth["p_control"].to_numpy()
    factor = ValueSpec("monthly_revenue", "monthly_revenue", horizon_months).factor()
    scored = pd.DataFrame({"customer_id": customers["customer_id"].astype(str), "churn_probability": p,
                           "value_at_stake": monthly_revenue(customers, seed).to_numpy() * factor})
    return Day(customers, truth, scored)


def run_campaign(day: Day, cfg: CampaignConfig, cuts: Cuts | None = None, ranking: str = "risk",
                 uplift: np.ndarray | None = None, resamples: int = 1_000, seed: int = 42, min_outcomes: int = 50):
    """The list, the world's outcomes for it, the readout, and the truth about the treated."""
    scored = day.scored if uplift is None else day.scored.assign(uplift=uplift)
    cuts = cuts or Cuts.terciles(scored["churn_probability"], scored["value_at_stake"], "the day's terciles")
    t = build_targets(scored, cfg, cuts, ranking=ranking)
    truth = day.truth.set_index("customer_id").loc[t.table["customer_id"]]
    treated = (t.table["group"] == TREATMENT).to_numpy()
    churned = world.realized(truth.reset_index(), treated).astype(int)
    outcomes = pd.DataFrame({"customer_id": t.table["customer_id"].to_numpy(), "churned": churned})
    r = campaign_readout(t.table, outcomes, resamples=resamples, seed=seed, min_outcomes=min_outcomes)
    effect = truth["p_control"].to_numpy() - truth["p_treated"].to_numpy()
    return {"targets": t, "readout": r, "true_effect": float(effect.mean()),
            "true_saves_treated": float(effect[treated].sum()),
            "true_value_saved_treated": float((effect * t.table["value_at_stake"].to_numpy())[treated].sum())}


def fit_uplift_on_past(seed: int, rows: int = 40_000, contract=None, family: str = "hist_gradient_boosting",
                       capacity_share: float = 0.1, resamples: int = 500):
    """A T-learner on a past randomized campaign (50% treated) of the world; held-out Qini, AUUC and
    the gate at ``capacity_share``."""
    from churn_assets.core.retention import uplift as up

    contract = contract or synthetic_contract(seed)
    past = generate_customers(rows, seed=seed + 20_000, with_labels=False, id_prefix=f"P{seed}-")
    camp = world.past_campaign(past, DEFAULT_AS_OF, seed=seed)
    frame = up.campaign_frame(camp, "treated", "churned", "past campaign (synthetic world)")
    train, hold = up.split(frame, 0.3, seed)
    model = up.fit_uplift(train, contract, family=family, seed=seed)
    u, risk = model.predict(hold), model.risk(hold)
    curves = {"uplift": up.qini_curve(u, hold["_treated"], hold["_churned"]),
              "risk": up.qini_curve(risk, hold["_treated"], hold["_churned"])}
    cmp_ = up.compare_at_capacity({"uplift": u, "risk": risk}, hold["_treated"], hold["_churned"], capacity_share,
                                  resamples=resamples, seed=seed)
    return {"model": model, "gate": up.gate(cmp_), "comparison": cmp_, "curves": curves,
            "auuc": {k: up.auuc(c, len(hold)) for k, c in curves.items()}, "held_out": len(hold)}


def true_saves_at_capacity(day: Day, scores: dict[str, np.ndarray], capacity: int, seed: int = 0) -> dict:
    """Expected true saves of contacting the top ``capacity`` by each score (and at random)."""
    out = {}
    n = len(day.truth)
    for name, s in {**scores, "random": np.random.default_rng(seed).random(n)}.items():
        m = np.zeros(n, bool)
        m[np.argsort(-np.asarray(s, float), kind="stable")[:capacity]] = True
        out[name] = world.true_saves(day.truth, m)
    return out


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0
