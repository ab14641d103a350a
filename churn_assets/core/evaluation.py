"""Evaluate a fitted Pipeline on the untouched test split: metrics, plots, importance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from churn_assets.core import plots
from churn_assets.core.metrics import classification_metrics


@dataclass
class Evaluation:
    metrics: dict[str, float]
    importance: dict[str, float]
    figures: dict[str, bytes] = field(default_factory=dict)


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
             feature_columns: list[str], with_plots: bool = True) -> Evaluation:
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
    return Evaluation(metrics=m, importance=imp, figures=figs)
