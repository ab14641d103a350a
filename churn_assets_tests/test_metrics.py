import numpy as np
import pytest
from sklearn.metrics import f1_score

from churn_assets.core.training.metrics import choose_threshold, classification_metrics


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.2).astype(int)
    p = np.clip(0.25 * y + rng.normal(0.3, 0.15, 2000), 0, 1).round(3)  # ties on purpose
    return y, p


def test_f1_threshold_is_the_exact_optimum(scores):
    y, p = scores
    t = choose_threshold(y, p, "f1")
    brute = max(np.unique(p), key=lambda c: f1_score(y, (p >= c).astype(int)))
    assert f1_score(y, (p >= t).astype(int)) == pytest.approx(f1_score(y, (p >= brute).astype(int)))


def test_cost_threshold_minimises_cost(scores):
    y, p = scores

    def cost(t, fn=5.0, fp=1.0):
        pred = p >= t
        return fn * ((~pred) & (y == 1)).sum() + fp * (pred & (y == 0)).sum()

    t = choose_threshold(y, p, "cost", cost_fn=5, cost_fp=1)
    assert cost(t) == min(cost(c) for c in np.unique(p))
    # Missed churners that cost little: alarms get rarer (the threshold rises).
    assert choose_threshold(y, p, "cost", cost_fn=1, cost_fp=5) > t


def test_unknown_strategy_is_an_error(scores):
    with pytest.raises(ValueError, match="unknown threshold strategy"):
        choose_threshold(*scores, strategy="median")


def test_metrics_at_threshold(scores):
    y, p = scores
    t = 0.37  # a tie value of the rounded scores: `p >= t` counts as churn
    m = classification_metrics(y, p, t)
    pred = p >= t
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (tp, fp, fn, tn) and (p == t).any()
    assert m["precision"] == pytest.approx(tp / (tp + fp)) and m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m["accuracy"] == pytest.approx((tp + tn) / len(y))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["positive_rate"] == pytest.approx(y.mean())
    # threshold-free metrics do not move with the threshold; those at the threshold do
    other = classification_metrics(y, p, 0.6)
    assert (other["roc_auc"], other["pr_auc"], other["brier"]) == (m["roc_auc"], m["pr_auc"], m["brier"])
    assert other["recall"] < m["recall"]
