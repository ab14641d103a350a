"""Decision threshold selection and evaluation metrics (threshold-free and at the threshold)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

# Ranking metrics the tuner optimizes and the registry gate compares (higher is better).
RANKING_METRICS = {"roc_auc": roc_auc_score, "average_precision": average_precision_score}


def choose_threshold(y: np.ndarray, p: np.ndarray, strategy: str = "f1",
                     cost_fn: float = 5.0, cost_fp: float = 1.0) -> float:
    """Pick the threshold on validation data.

    ``f1``: maximise F1. ``cost``: minimise ``cost_fn * missed churners + cost_fp * false alarms``.
    Candidates are the distinct scores, so the choice is exact, not a grid approximation.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1]  # last index of each distinct score
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    positives = ys.sum()
    fn = positives - tp
    if strategy == "f1":
        denom = 2 * tp + fp + fn
        score = np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
        best = int(np.argmax(score))
    elif strategy == "cost":
        cost = cost_fn * fn + cost_fp * fp
        best = int(np.argmin(cost))
        # Predicting nobody as a churner is a candidate too.
        if cost_fn * positives <= cost[best]:
            return float(np.nextafter(ps[0], np.inf))
    else:
        raise ValueError(f"unknown threshold strategy {strategy!r}: use 'f1' or 'cost'")
    return float(ps[last[best]])  # churn when p >= threshold


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    pred = (np.asarray(p) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "brier": float(brier_score_loss(y, p)),
        "threshold": float(threshold),
        "tn": float(tn), "fp": float(fp), "fn": float(fn), "tp": float(tp),
        "positive_rate": float(y.mean()),
    }
