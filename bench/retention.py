"""Benchmark "retention": does targeting save customers, and can we tell? (python -m bench.retention)

1. Uplift vs risk ranking, 3 seeds: a T-learner fitted on a past randomized campaign of the
   synthetic world (core/retention/world.py) against ranking by a churn model's risk, at the same
   capacity (10% of a day's customers), on *true* saves (known in the world). Target: uplift saves
   >= 1.3x what risk ranking saves on every seed. The oracle risk (the world's own churn probability)
   is reported too: a stricter risk ranking than any model.
2. Readout coverage: 50 simulated campaigns (fresh customers each); the 95% bootstrap interval of
   the absolute churn reduction must cover the true effect (the listed customers' mean of
   p_control - p_treated) in >= 90% of them.
3. Scale: a 100,000-customer campaign (value, grid, ranking, assignment, outcomes, readout with
   1,000 resamples per cell) in < 60 s.

Results: a table on stdout and bench/results/retention.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, machine, table

SEEDS = (1, 2, 3)
DAY_ROWS, PAST_ROWS, CAPACITY_SHARE = 50_000, 40_000, 0.10
CAMPAIGNS, CAMPAIGN_ROWS, CAMPAIGN_CAPACITY = 50, 6_000, 2_000
SCALE_ROWS = 100_000
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "retention-qini.png"


def uplift_vs_risk() -> list[dict]:
    from churn_assets.core.retention import simulate as sim

    rows = []
    for seed in SEEDS:
        t0 = time.perf_counter()
        contract = sim.synthetic_contract(seed)
        model = sim.churn_model(seed, contract=contract)
        day = sim.make_day(DAY_ROWS, 500 + seed, model)
        up = sim.fit_uplift_on_past(seed, rows=PAST_ROWS, contract=contract, capacity_share=CAPACITY_SHARE,
                                    resamples=300)
        if seed == SEEDS[0]:  # the README's picture: the Qini curves of uplift and risk ranking
            from churn_assets.core.retention.plots import qini_png

            FIGURE.parent.mkdir(parents=True, exist_ok=True)
            FIGURE.write_bytes(qini_png(up["curves"]))
        cap = int(DAY_ROWS * CAPACITY_SHARE)
        saves = sim.true_saves_at_capacity(day, {"uplift": up["model"].predict(day.customers),
                                                 "risk": day.scored["churn_probability"].to_numpy(),
                                                 "oracle_risk": day.truth["p_control"].to_numpy()}, cap, seed)
        s = {k: v["expected_saves"] for k, v in saves.items()}
        rows.append({"seed": seed, "capacity": cap, "uplift_saves": s["uplift"], "risk_saves": s["risk"],
                     "oracle_risk_saves": s["oracle_risk"], "random_saves": s["random"],
                     "uplift_over_risk": s["uplift"] / s["risk"], "uplift_over_oracle_risk": s["uplift"] / s["oracle_risk"],
                     "qini_uplift": up["auuc"]["uplift"]["qini_coefficient"],
                     "qini_risk": up["auuc"]["risk"]["qini_coefficient"], "gate": up["gate"].ranking,
                     "gate_reason": up["gate"].reason, "seconds": time.perf_counter() - t0,
                     "pass": s["uplift"] >= 1.3 * s["risk"]})
    return rows


def coverage() -> dict:
    from churn_assets.core.retention import simulate as sim
    from churn_assets.core.retention.targeting import CampaignConfig

    covered, widths, effects = [], [], []
    cfg = CampaignConfig(name="coverage", capacity=CAMPAIGN_CAPACITY, cost_per_contact=0.0)
    for i in range(CAMPAIGNS):
        day = sim.make_day(CAMPAIGN_ROWS, 10_000 + i, None)  # the world's risk ranks: coverage is about the readout
        res = sim.run_campaign(day, cfg, resamples=1_000, seed=i)
        lo, hi = res["readout"].overall["absolute_reduction_ci"]
        covered.append(lo <= res["true_effect"] <= hi)
        widths.append(hi - lo)
        effects.append(res["true_effect"])
    share = float(np.mean(covered))
    return {"campaigns": CAMPAIGNS, "customers_per_campaign": CAMPAIGN_ROWS, "listed": CAMPAIGN_CAPACITY,
            "covered": int(np.sum(covered)), "coverage": share, "mean_interval_width": float(np.mean(widths)),
            "mean_true_effect": float(np.mean(effects)), "pass": share >= 0.90}


def scale() -> dict:
    from churn_assets.core.retention import simulate as sim
    from churn_assets.core.retention.targeting import CampaignConfig

    t0 = time.perf_counter()
    day = sim.make_day(SCALE_ROWS, 7, None)
    made = time.perf_counter() - t0
    cfg = CampaignConfig(name="scale", capacity=SCALE_ROWS, cost_per_contact=0.0)
    t1 = time.perf_counter()
    res = sim.run_campaign(day, cfg, resamples=1_000)
    took = time.perf_counter() - t1
    return {"customers": SCALE_ROWS, "listed": res["targets"].counts["selected"], "cells": len(res["readout"].cells),
            "seconds_targets_assignment_readout": took, "seconds_world_and_value": made,
            "decision": res["readout"].decision, "pass": took < 60}


def main() -> int:
    t0 = time.perf_counter()
    s = scale()
    print(table([s], list(s), "retention: a 100,000-customer campaign (targets, assignment, outcomes, readout)"))
    c = coverage()
    print(table([c], list(c), "retention: readout 95% interval coverage of the true effect"))
    u = uplift_vs_risk()
    cols = ["seed", "capacity", "uplift_saves", "risk_saves", "oracle_risk_saves", "random_saves", "uplift_over_risk",
            "uplift_over_oracle_risk", "qini_uplift", "qini_risk", "gate", "seconds", "pass"]
    print(table(u, cols, "retention: true saves at equal capacity (10% of 50,000)"))
    ok = s["pass"] and c["pass"] and all(r["pass"] for r in u)
    payload = {"benchmark": "retention", "machine": machine(), "scale": s, "coverage": c, "uplift_vs_risk": u,
               "pass": ok, "seconds": time.perf_counter() - t0}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retention.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nretention: {'PASS' if ok else 'FAIL'} ({payload['seconds']:.0f} s) -> bench/results/retention.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
