"""Evaluation plots as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def roc_png(y, p, auc: float) -> bytes:
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    return _png(fig)


def pr_png(y, p, ap: float, threshold: float) -> bytes:
    prec, rec, thr = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(rec, prec, label=f"model (AP {ap:.3f})")
    ax.axhline(np.mean(y), ls="--", color="grey", label="base rate")
    if len(thr):
        i = min(np.searchsorted(thr, threshold), len(thr) - 1)
        ax.plot(rec[i], prec[i], "o", color="red", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(loc="upper right")
    return _png(fig)


def calibration_png(y, p, brier: float) -> bytes:
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(mean, frac, "o-", label=f"model (Brier {brier:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title="Calibration (test)")
    ax.legend(loc="upper left")
    return _png(fig)


def importance_png(names: list[str], values: np.ndarray, top: int = 15) -> bytes:
    order = np.argsort(values)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.28 * len(order) + 1))
    ax.barh([names[i] for i in order], values[order])
    ax.set(xlabel="drop in ROC-AUC when shuffled", title="Permutation importance (test)")
    return _png(fig)
