"""Evaluate a fitted Pipeline on the untouched test split: metrics, plots, importance, segments.

Segments (``segment_table``): one row per value of every categorical column of the contract, and
per quartile bucket of every *tenure-like* numeric column: an integer numeric column whose name
contains ``tenure``, ``month`` or ``lifetime`` (case-insensitive), plus any numeric column named in
``CHURN_SEGMENT_NUMERIC``. Quartile edges come from the test split (``pandas.qcut``, duplicate
edges merged). A segment is *flagged* when it holds at least ``min_share`` (1%) of the test rows
and its ROC-AUC is more than ``auc_gap`` (0.05) below the overall ROC-AUC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import recall_score, roc_auc_score

from churn_assets.core.evaluation import plots
from churn_assets.core.training.metrics import classification_metrics


@dataclass
class Evaluation:
    metrics: dict[str, float]
    importance: dict[str, float]
    figures: dict[str, bytes] = field(default_factory=dict)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    probabilities: np.ndarray = field(default_factory=lambda: np.empty(0))


TENURE_LIKE = re.compile(r"tenure|month|lifetime", re.IGNORECASE)
SEGMENT_COLUMNS = ["column", "segment", "rows", "share", "churn_rate", "roc_auc", "recall", "auc_gap", "flagged"]


def segment_columns(contract, extra_numeric: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(categorical columns, numeric columns bucketed by quartile) of the contract (rule above)."""
    numeric = [c.name for c in contract.columns if c.role == "numeric"
               and ((c.integer and TENURE_LIKE.search(c.name)) or c.name in extra_numeric)]
    return contract.by_role("categorical"), numeric


def segment_table(test: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float, categorical: list[str],
                  numeric: list[str], min_share: float = 0.01, auc_gap: float = 0.05) -> pd.DataFrame:
    """Count, churn rate, ROC-AUC and recall at the threshold per segment, with the flag."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    overall = roc_auc_score(y, p)
    groups: list[tuple[str, pd.Series, list[str]]] = []
    for c in categorical:
        labels = test[c].astype(object).where(test[c].notna(), "<missing>").astype(str)
        groups.append((c, labels, sorted(set(labels))))
    for c in numeric:  # quartile bins in numeric order (as text "(12.0, 24.0]" would sort before "(3.0, 12.0]")
        buckets = pd.qcut(test[c].astype(float), 4, duplicates="drop")
        labels = buckets.astype(str).where(buckets.notna(), "<missing>")
        groups.append((c, labels, [str(b) for b in buckets.cat.categories] + ["<missing>"]))
    rows = []
    for column, labels, order in groups:
        labels = labels.to_numpy()
        present = set(labels)
        for value in (v for v in order if v in present):
            m = labels == value
            ys, ps = y[m], p[m]
            auc = float(roc_auc_score(ys, ps)) if 0 < ys.sum() < len(ys) else float("nan")
            recall = float(recall_score(ys, ps >= threshold, zero_division=0)) if ys.sum() else float("nan")
            share = float(m.mean())
            rows.append({"column": column, "segment": value, "rows": int(m.sum()), "share": share,
                         "churn_rate": float(ys.mean()), "roc_auc": auc, "recall": recall,
                         "auc_gap": overall - auc, "flagged": bool(share >= min_share and overall - auc > auc_gap)})
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def raw_feature_importance(pipeline, X: pd.DataFrame, y: np.ndarray, columns: list[str],
                           sample: int = 3000, seed: int = 42) -> dict[str, float]:
    """Permutation importance of the *raw* input columns through the whole Pipeline."""
    if len(X) > sample:
        X = X.sample(sample, random_state=seed)
        y = y[X.index] if isinstance(y, pd.Series) else y
    res = permutation_importance(pipeline, X[columns], np.asarray(y), scoring="roc_auc",
                                 n_repeats=3, random_state=seed, n_jobs=1)
    return {c: float(v) for c, v in zip(columns, res.importances_mean)}


def evaluate(pipeline, test: pd.DataFrame, target: str, threshold: float,
             feature_columns: list[str], with_plots: bool = True, contract=None,
             extra_numeric: tuple[str, ...] = ()) -> Evaluation:
    y = test[target].to_numpy(dtype=int)
    p = pipeline.predict_proba(test)[:, 1]
    m = classification_metrics(y, p, threshold)
    imp = raw_feature_importance(pipeline, test, test[target], feature_columns)
    figs = {}
    if with_plots:
        names = list(imp)
        figs = {
            "roc": plots.roc_png(y, p, m["roc_auc"]),
            "pr": plots.pr_png(y, p, m["pr_auc"], threshold),
            "calibration": plots.calibration_png(y, p, m["brier"]),
            "importance": plots.importance_png(names, np.array([imp[n] for n in names])),
        }
    segments = pd.DataFrame(columns=SEGMENT_COLUMNS)
    if contract is not None:
        segments = segment_table(test, y, p, threshold, *segment_columns(contract, extra_numeric))
    return Evaluation(metrics=m, importance=imp, figures=figs, segments=segments, probabilities=p)
