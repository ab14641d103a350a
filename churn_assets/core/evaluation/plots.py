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


def reliability_png(points_by_arm: dict[str, list[dict]], title: str = "Reliability per arm") -> bytes:
    """The experiment readout's calibration: observed churn rate against mean predicted probability
    per probability bin (``core/experiment_stats.reliability``), one line per arm."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for arm, points in points_by_arm.items():
        if points:
            ax.plot([q["mean_probability"] for q in points], [q["observed_rate"] for q in points], "o-", label=arm)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    return _png(fig)


def drift_strength(method: str, score: float, threshold: float) -> float:
    """A column's drift score on one scale for every Evidently method: 1 at the method's threshold,
    above 1 drifted. Distances (Wasserstein, Jensen-Shannon, PSI) drift above their threshold, so the
    ratio score/threshold; p-value tests (K-S, chi-square, Z) drift below theirs, so the ratio of
    -log10(p) to -log10(threshold)."""
    if not (threshold > 0) or score != score:
        return float("nan")
    if "p_value" in method.replace("-", "_").lower():
        p = max(score, 1e-300)
        return float(np.log10(p) / np.log10(threshold)) if threshold < 1 else float("nan")
    return float(score / threshold)


def drift_png(columns: list[dict], top: int = 12, title: str = "Top drifted features") -> bytes:
    """Horizontal bars of the ``top`` columns by drift strength (``drift_strength``: 1 = the method's
    threshold), drifted ones in red; ``columns`` are dicts with column, method, score, threshold, drifted."""
    rows = [(c["column"], drift_strength(c["method"], c["score"], c["threshold"]), bool(c["drifted"])) for c in columns]
    rows = sorted((r for r in rows if r[1] == r[1]), key=lambda r: -r[1])[:top][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.3 * max(len(rows), 1) + 1.2))
    if rows:
        ax.barh([r[0] for r in rows], [r[1] for r in rows],
                color=["#d62728" if r[2] else "#7f7f7f" for r in rows])
        ax.axvline(1.0, ls="--", color="black", lw=1, label="drift threshold")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="drift score / threshold (above 1: drifted)", title=title)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)
