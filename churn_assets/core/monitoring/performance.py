"""Realized performance of scored customers once their outcomes arrive."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score


@dataclass
class Performance:
    rows: int
    roc_auc: float
    f1: float
    precision: float
    recall: float
    training_f1: float
    f1_drop: float  # relative drop against training
    degraded: bool
    model_version: str
    training_roc_auc: float = float("nan")
    roc_auc_drop: float = 0.0  # absolute drop against training
    why: str = ""


def realized(predictions: pd.DataFrame, labels: pd.DataFrame, id_column: str, target: str,
             training_f1: float, tolerance: float = 0.10, training_roc_auc: float = float("nan"),
             auc_tolerance: float = 0.03) -> Performance:
    """Join predictions with outcomes. Degraded when F1 falls more than ``tolerance`` (relative) below
    training, or ROC-AUC more than ``auc_tolerance`` (absolute): when churn rises, F1 can rise with it
    while the ranking decays, so F1 alone misses the decay that matters to a retention team."""
    lab = labels.rename(columns={id_column: "customer_id"})[["customer_id", target]]
    lab["customer_id"] = lab["customer_id"].astype(str)
    joined = predictions.merge(lab, on="customer_id", how="inner")
    if joined.empty:
        raise ValueError("no scored customer has an outcome yet: nothing to measure")
    y = joined[target].astype(str).str.lower().isin(["1", "true", "1.0", "yes"]).to_numpy(dtype=int)
    pred = joined["will_churn"].astype(bool).to_numpy(dtype=int)
    p = joined["churn_probability"].to_numpy(dtype=float)
    f1 = float(f1_score(y, pred, zero_division=0))
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
    drop = (training_f1 - f1) / training_f1 if training_f1 > 0 else 0.0
    auc_drop = training_roc_auc - auc if training_roc_auc == training_roc_auc and auc == auc else 0.0
    why = "; ".join(w for w, bad in ((f"F1 {drop:.0%} below training (tolerance {tolerance:.0%})", drop > tolerance),
                                     (f"ROC-AUC {auc_drop:.3f} below training (tolerance {auc_tolerance})",
                                      auc_drop > auc_tolerance)) if bad)
    versions = joined["model_version"].astype(str).unique()
    return Performance(rows=len(joined), roc_auc=auc, f1=f1,
                       precision=float(precision_score(y, pred, zero_division=0)),
                       recall=float(recall_score(y, pred, zero_division=0)), training_f1=training_f1,
                       f1_drop=float(drop), degraded=bool(why), model_version=",".join(versions),
                       training_roc_auc=training_roc_auc, roc_auc_drop=float(auc_drop), why=why)
