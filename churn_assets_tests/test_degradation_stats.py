"""Degradation as a statistical statement (core/monitoring/performance.py): the bootstrap interval
covers the true metric as often as it says, a day is flagged only when the drop is significantly
larger than the tolerance, and the minimum-n and pooling rules. Simulated data, no services."""

import numpy as np
import pandas as pd
from scipy.stats import norm

from churn_assets.core.monitoring import performance as perf


def simulated_day(rng: np.random.Generator, n: int, separation: float, rate: float = 0.25,
                  threshold: float = 0.5, version: str = "1") -> pd.DataFrame:
    """Scores of a binormal model: negatives N(0, 1), positives N(separation, 1), so the true
    ROC-AUC is Phi(separation / sqrt(2)); the probability is a logistic squash of the score."""
    y = (rng.random(n) < rate).astype(int)
    score = rng.normal(size=n) + separation * y
    p = 1 / (1 + np.exp(-(score - separation / 2) * 1.5))
    return pd.DataFrame({"y": y, "pred": (p >= threshold).astype(int), "p": p, "model_version": version})


def true_auc(separation: float) -> float:
    return float(norm.cdf(separation / np.sqrt(2)))


def test_interval_covers_the_true_roc_auc_at_its_confidence():
    rng = np.random.default_rng(7)
    sep, hits, trials = 1.4, 0, 120
    for i in range(trials):
        day = simulated_day(rng, 500, sep)
        draws = perf.bootstrap_metrics(day["y"], day["pred"], day["p"], resamples=400, seed=i)
        lo, hi = perf._interval(draws["roc_auc"], 0.90)
        hits += lo <= true_auc(sep) <= hi
    # nominal 90%: a binomial of 120 trials stays inside [0.80, 0.97] with overwhelming probability
    assert 0.80 <= hits / trials <= 0.97, hits / trials


def test_bootstrap_is_seeded_and_matches_the_point_figures():
    from sklearn.metrics import f1_score, roc_auc_score

    day = simulated_day(np.random.default_rng(1), 800, 1.2)
    a = perf.bootstrap_metrics(day["y"], day["pred"], day["p"], 300, seed=3)
    b = perf.bootstrap_metrics(day["y"], day["pred"], day["p"], 300, seed=3)
    assert np.array_equal(a["roc_auc"], b["roc_auc"]) and np.array_equal(a["f1"], b["f1"])
    # the resample mean sits on the point estimate (bootstrap of a smooth statistic)
    assert abs(np.nanmean(a["roc_auc"]) - roc_auc_score(day["y"], day["p"])) < 0.01
    assert abs(np.mean(a["f1"]) - f1_score(day["y"], day["pred"])) < 0.02


def _training_figures(rng, sep, rate=0.25) -> tuple[float, float]:
    big = simulated_day(rng, 200_000, sep, rate)
    from sklearn.metrics import f1_score

    return float(f1_score(big["y"], big["pred"])), true_auc(sep)


def test_no_change_flags_almost_no_day_and_a_real_drop_is_flagged():
    rng = np.random.default_rng(11)
    sep, rate = 1.2, 0.12  # ROC-AUC 0.80, 12% churn: ~60 churners in a day of 500, a noisy F1
    f1_train, auc_train = _training_figures(rng, sep, rate)
    policy = perf.DegradationPolicy(resamples=400)
    # 40 days of 500 outcomes from the training distribution: the point rule with the same tolerances
    # flags several of them, the interval rule at most 5% (nominal: well below 2.5% per metric).
    results = [perf.judge(simulated_day(rng, 500, sep, rate), f1_train, auc_train, policy) for _ in range(40)]
    flagged = sum(r.degraded for r in results)
    point_flags = sum(r.f1_drop > policy.f1_tolerance or r.roc_auc_drop > policy.auc_tolerance for r in results)
    assert flagged <= 2 and point_flags >= 3, (flagged, point_flags)
    # A change of mechanism: ROC-AUC 0.80 -> 0.61 on 500 outcomes.
    changed = perf.judge(simulated_day(rng, 500, 0.4, rate), f1_train, auc_train, policy)
    assert changed.degraded and "ROC-AUC drop" in changed.why
    lo, hi = changed.roc_auc_drop_interval
    assert policy.auc_tolerance < lo <= changed.roc_auc_drop <= hi
    assert changed.decision.startswith("DEGRADED") and changed.pooled_rows == 500


def test_a_drop_the_size_of_the_tolerance_is_not_flagged():
    """The rule flags a drop *significantly larger* than the tolerance: a true drop equal to it is
    flagged at most (1 - confidence) / 2 of the time."""
    rng = np.random.default_rng(5)
    sep = 1.6
    policy = perf.DegradationPolicy(resamples=300)
    flagged = sum(perf.judge(simulated_day(rng, 500, sep), float("nan"), true_auc(sep) + policy.auc_tolerance,
                             policy).degraded for _ in range(40))
    assert flagged <= 3  # nominal 2.5% of 40 = 1


def test_minimum_outcomes_and_pooling():
    rng = np.random.default_rng(3)
    f1_train, auc_train = _training_figures(rng, 1.6)
    policy = perf.DegradationPolicy(min_outcomes=200, pool_days=3, resamples=200)
    small = simulated_day(rng, 60, 0.2)  # a bad day, but only 60 outcomes
    alone = perf.judge(small, f1_train, auc_train, policy)
    assert not alone.degraded and alone.decision.startswith("not judged") and "60" in alone.decision
    assert alone.pooled_rows == 60 and alone.pooled_days == []
    # Pooled with earlier unflagged days (newest first) until the minimum is reached, no further.
    earlier = [(f"2025-07-0{d}", simulated_day(rng, 80, 1.6)) for d in (4, 3, 2, 1)]
    pooled = perf.judge(small, f1_train, auc_train, policy, earlier)
    assert pooled.pooled_days == ["2025-07-04", "2025-07-03"] and pooled.pooled_rows == 220
    assert pooled.rows == 60 and "pooled with 2025-07-04, 2025-07-03" in pooled.decision
    # pool_days bounds the look-back: one day of 80 is not enough
    short = perf.judge(small, f1_train, auc_train, perf.DegradationPolicy(min_outcomes=200, pool_days=1), earlier)
    assert short.pooled_days == ["2025-07-04"] and short.decision.startswith("not judged") and not short.degraded
    # a day that is large enough is never pooled
    big = perf.judge(simulated_day(rng, 300, 1.6), f1_train, auc_train, policy, earlier)
    assert big.pooled_days == [] and big.pooled_rows == 300


def test_realized_joins_predictions_with_outcomes():
    preds = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "churn_probability": [0.9, 0.2, 0.7, 0.1],
                          "will_churn": [True, False, True, False], "model_version": "1"})
    labels = pd.DataFrame({"id": ["a", "b", "c", "x"], "churned": ["yes", "no", "no", "yes"]})
    out = perf.realized(preds, labels, "id", "churned", training_f1=0.6, training_roc_auc=0.8,
                        policy=perf.DegradationPolicy(min_outcomes=10))
    assert out.rows == 3 and out.roc_auc == 1.0 and not out.degraded and "not judged" in out.decision
