"""The experiment readout's statistics (core/experiment/readout.py, core/experiment/stats.py) on data with a
known answer: figures equal scikit-learn's, a truly better challenger is found better, equal models
are not, too few outcomes are inconclusive."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churn_assets.core.experiment.readout import ReadoutConfig, last_predictions, outcomes_frame, read_out
from churn_assets.core.experiment.stats import bootstrap, interval, point, resample_counts, weighted_metrics

# Hand-built: ties inside a class (0.8, 0.35) and across classes (0.35), scores 0 and 1.
Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1])
P = np.array([0.1, 0.35, 0.35, 0.8, 0.4, 0.8, 0.2, 0.65, 0.35, 0.05, 0.9, 0.5, 0.0, 1.0])


def test_point_figures_equal_sklearn_with_ties():
    m = point(P, Y)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, P), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y, P), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(40 / 49, abs=1e-12)  # 49 pairs: 39 ordered, two ties at 0.35 count half


def test_expected_calibration_error_by_hand():
    # bins of width 0.1: [0.05] gap -0.05; [0.15, 0.15] gaps +0.85 and -0.15 -> |0.7|; [0.95] gap +0.05
    m = point(np.array([0.05, 0.15, 0.15, 0.95]), np.array([0, 1, 0, 1]))
    assert m["ece"] == pytest.approx((0.05 + 0.7 + 0.05) / 4, abs=1e-12)


def test_a_resample_as_counts_equals_sklearn_on_the_drawn_rows():
    rng = np.random.default_rng(3)
    p, y = rng.random(300).round(2), (rng.random(300) < 0.3).astype(int)  # rounding makes ties
    idx = rng.integers(0, 300, size=(5, 300))
    w = np.stack([np.bincount(i, minlength=300) for i in idx]).astype(float)
    got = weighted_metrics(p, y, w)
    for j, i in enumerate(idx):
        assert got["roc_auc"][j] == pytest.approx(roc_auc_score(y[i], p[i]), abs=1e-12)
        assert got["pr_auc"][j] == pytest.approx(average_precision_score(y[i], p[i]), abs=1e-12)
        assert got["brier"][j] == pytest.approx(brier_score_loss(y[i], p[i]), abs=1e-12)
    counts = resample_counts(np.random.default_rng(0), 300, 4)
    assert counts.shape == (4, 300) and (counts.sum(1) == 300).all()


def test_single_class_resamples_are_undefined_not_wrong():
    got = weighted_metrics(np.array([0.2, 0.7]), np.array([0, 1]), np.array([[2.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(got["roc_auc"][0]) and np.isnan(got["pr_auc"][0]) and got["roc_auc"][1] == 1.0
    assert got["brier"][0] == pytest.approx(0.04)  # Brier and ECE stay defined on one class
    assert all(np.isnan(interval(np.array([np.nan, np.nan]), 0.95)))
    assert interval(np.array([np.nan, 0.5, 0.7]), 0.5) == pytest.approx((0.55, 0.65))


def _world(n: int, seed: int, noise_champion: float, noise_challenger: float, same_noise: bool = False):
    """Customers with a latent risk z; each model sees z through its own noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * z - 1.2)))).astype(int)
    e1 = rng.normal(size=n)
    e2 = e1 if same_noise else rng.normal(size=n)
    pa = 1 / (1 + np.exp(-(1.5 * (z + noise_champion * e1) - 1.2)))
    pb = 1 / (1 + np.exp(-(1.5 * (z + noise_challenger * e2) - 1.2)))
    ids = [f"C{i:05d}" for i in range(n)]
    return ids, y, pa, pb


def _log(rows: list[tuple]) -> pd.DataFrame:
    """Rows (customer, arm, served, probability, version) as prediction_log.read_day returns them."""
    t0 = pd.Timestamp("2026-11-27 09:00:00")
    return pd.DataFrame([{"id": i + 1, "request_id": f"r{i}", "served_at": t0 + pd.Timedelta(seconds=i),
                          "transport": "http", "customer_id": c, "arm": arm, "served": served,
                          "churn_probability": float(p), "model_version": v}
                         for i, (c, arm, served, p, v) in enumerate(rows)])


def _shadow(ids, pa, pb) -> pd.DataFrame:
    return _log([r for c, a, b in zip(ids, pa, pb) for r in ((c, "champion", True, a, "1"),
                                                             (c, "challenger", False, b, "2"))])


def _outcomes(ids, y) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "outcome": y})


CFG = ReadoutConfig(resamples=500, seed=11)


def test_a_truly_better_challenger_in_shadow_mode_is_better():
    ids, y, pa, pb = _world(3000, 1, noise_champion=1.2, noise_challenger=0.4)
    r = read_out(_shadow(ids, pa, pb), _outcomes(ids, y), CFG)
    assert r.design == "paired" and r.decision == "better" and r.better
    assert r.arms["champion"].metrics["roc_auc"] == pytest.approx(roc_auc_score(y, pa), abs=1e-12)
    assert r.arms["challenger"].metrics["roc_auc"] == pytest.approx(roc_auc_score(y, pb), abs=1e-12)
    assert r.arms["challenger"].metrics["pr_auc"] == pytest.approx(average_precision_score(y, pb), abs=1e-12)
    lo, hi = r.difference_ci["roc_auc"]
    assert 0 < lo < r.difference["roc_auc"] < hi
    assert r.difference["roc_auc"] == pytest.approx(roc_auc_score(y, pb) - roc_auc_score(y, pa), abs=1e-12)
    a, b = r.arms["champion"], r.arms["challenger"]
    assert (a.customers, a.outcomes, b.customers, b.outcomes) == (3000, 3000, 3000, 3000)
    assert (a.served_share, b.served_share, a.served_rows, b.shadow_rows) == (1.0, 0.0, 3000, 3000)
    assert (a.model_versions, b.model_versions) == (["1"], ["2"])
    assert a.ci["roc_auc"][0] < a.metrics["roc_auc"] < a.ci["roc_auc"][1]
    assert sum(q["n"] for q in b.reliability) == 3000
    assert "challenger better at 95%" in r.reason and "paired" in r.reason
    table = r.table()
    assert list(table["arm"]) == ["champion", "challenger", "challenger - champion"]


def test_equal_models_are_not_better():
    ids, y, pa, _ = _world(3000, 2, 0.8, 0.8)
    same = read_out(_shadow(ids, pa, pa), _outcomes(ids, y), CFG)  # the same model in both arms
    assert same.decision == "not_better" and same.difference["roc_auc"] == 0.0
    assert same.difference_ci["roc_auc"] == (0.0, 0.0)
    ids, y, pa, pb = _world(3000, 2, 0.8, 0.8)  # equally good, different errors
    r = read_out(_shadow(ids, pa, pb), _outcomes(ids, y), CFG)
    lo, hi = r.difference_ci["roc_auc"]
    assert r.decision == "not_better" and lo < 0 < hi and "no significant difference" in r.reason


def test_a_worse_challenger_is_not_better_and_said_worse():
    ids, y, pa, pb = _world(3000, 4, 0.4, 1.2)
    r = read_out(_shadow(ids, pa, pb), _outcomes(ids, y), CFG)
    assert r.decision == "not_better" and r.difference_ci["roc_auc"][1] < 0 and "challenger worse" in r.reason


def test_too_few_outcomes_is_inconclusive():
    ids, y, pa, pb = _world(3000, 1, 1.2, 0.4)
    r = read_out(_shadow(ids, pa, pb), _outcomes(ids[:150], y[:150]), CFG)  # outcomes for 150 customers only
    assert r.decision == "inconclusive" and not r.difference
    assert "too few outcomes" in r.reason and "150 customers with an outcome" in r.reason
    assert r.counts["customers_awaiting_outcome"] == 2 * 2850
    assert r.arms["challenger"].outcomes == 150 and r.arms["challenger"].customers == 3000
    assert r.arms["challenger"].metrics["roc_auc"] == pytest.approx(roc_auc_score(y[:150], pb[:150]), abs=1e-12)
    single = read_out(_shadow(ids, pa, pb), _outcomes(ids, np.zeros(3000, int)), CFG)  # nobody churned
    assert single.decision == "inconclusive" and "both classes" in single.reason


def test_ab_split_is_unpaired_with_traffic_shares():
    ids, y, pa, pb = _world(4000, 5, 1.2, 0.3)
    arm = np.array([zlib.crc32(c.encode()) % 10 < 3 for c in ids])  # ~30% challenger, by customer
    rows = [(c, "challenger" if ch else "champion", True, b if ch else a, "2" if ch else "1")
            for c, ch, a, b in zip(ids, arm, pa, pb)]
    r = read_out(_log(rows), _outcomes(ids, y), CFG)
    assert r.design == "unpaired" and r.decision == "better"
    assert r.arms["challenger"].customers == int(arm.sum()) and r.arms["champion"].customers == int((~arm).sum())
    assert r.arms["challenger"].served_share == pytest.approx(arm.mean(), abs=1e-12)
    assert r.arms["challenger"].metrics["roc_auc"] == pytest.approx(roc_auc_score(y[arm], pb[arm]), abs=1e-12)
    none = read_out(_log([r_ for r_ in rows if r_[1] == "champion"]), _outcomes(ids, y), CFG)
    assert none.design == "none" and none.decision == "inconclusive" and "single mode" in none.reason


def test_the_decision_follows_the_configured_metric():
    """Same ranking, different calibration: not better on ROC-AUC, better on the Brier score."""
    ids, y, p_true, _ = _world(3000, 6, 0.0, 0.0)
    overconfident = np.clip(p_true, 1e-6, 1) ** 0.35  # monotone: identical ranking
    log = _shadow(ids, overconfident, p_true)
    by_auc = read_out(log, _outcomes(ids, y), CFG)
    by_brier = read_out(log, _outcomes(ids, y), ReadoutConfig(metric="brier", resamples=500, seed=11))
    assert by_auc.decision == "not_better" and by_auc.difference["roc_auc"] == pytest.approx(0, abs=1e-12)
    assert by_brier.decision == "better" and by_brier.difference_ci["brier"][1] < 0
    with pytest.raises(ValueError, match="readout metric 'f1'"):
        ReadoutConfig(metric="f1")


def test_the_last_prediction_of_a_customer_counts():
    rows = [("A", "champion", True, 0.9, "1"), ("A", "champion", True, 0.2, "1"), ("B", "champion", True, 0.5, "1")]
    last = last_predictions(_log(rows))
    assert dict(zip(last["customer_id"], last["churn_probability"])) == {"A": 0.2, "B": 0.5}
    shuffled = last_predictions(_log(rows).iloc[[1, 2, 0]])  # order by time, not by position
    assert dict(zip(shuffled["customer_id"], shuffled["churn_probability"])) == {"A": 0.2, "B": 0.5}
    ids, y, pa, pb = _world(600, 7, 1.0, 0.5)
    repeated = _shadow(ids + ids[:100], np.r_[pa * 0 + 0.5, pa[:100]], np.r_[pb * 0 + 0.5, pb[:100]])
    r = read_out(repeated, _outcomes(ids, y), ReadoutConfig(resamples=200, min_outcomes=50))
    assert r.counts["champion_repeat_predictions"] == 100 and r.arms["champion"].customers == 600
    expected = np.r_[pa[:100], np.full(500, 0.5)]
    assert r.arms["champion"].metrics["roc_auc"] == pytest.approx(roc_auc_score(y, expected), abs=1e-12)


def test_bootstrap_is_seeded_and_paired_needs_the_same_customers():
    _, y, pa, pb = _world(800, 8, 1.0, 0.5)
    a1, b1 = bootstrap(pa, y, pb, y, True, 300, seed=5)
    a2, b2 = bootstrap(pa, y, pb, y, True, 300, seed=5)
    a3, _ = bootstrap(pa, y, pb, y, True, 300, seed=6)
    assert np.array_equal(a1["roc_auc"], a2["roc_auc"]) and np.array_equal(b1["brier"], b2["brier"])
    assert not np.array_equal(a1["roc_auc"], a3["roc_auc"]) and len(a1["roc_auc"]) == 300
    with pytest.raises(ValueError, match="same customers"):
        bootstrap(pa[:10], y[:10], pb, y, True, 10, seed=1)


def test_outcomes_from_labels():
    labels = pd.DataFrame({"id": [1, 2, 2, 3, 4], "left": ["Yes", "No", "Yes", None, "no"]})
    out = outcomes_frame(labels, "id", "left", "yes")
    assert out.values.tolist() == [["1", 1], ["2", 1], ["4", 0]]  # last row of a customer; no outcome dropped
    with pytest.raises(ValueError, match="'churn'"):
        outcomes_frame(labels, "id", "churn", 1)
