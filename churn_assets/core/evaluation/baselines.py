"""Plain reference models: what an untuned default reaches on the same rows as the tuned model.

Every training run fits the configurations of ``core.training.modeling.PLAIN`` (a plain logistic
regression and a plain histogram boosting) on exactly the rows the shipped model was fitted on, through
the same fitted feature steps (``FeatureBuilder`` + ``MatrixEncoder``), and model_evaluation scores them
on the same test rows as the tuned model. The difference (tuned minus plain) comes with a *paired*
bootstrap interval: each resample draws test rows once and scores both models on them, so the
interval is about the difference, not the two models' separate noise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from churn_assets.core.training.modeling import PLAIN, assemble, make_estimator

COLUMNS = ["model", "roc_auc", "pr_auc", "tuned_minus", "ci_low", "ci_high"]


def fit_plain(X: np.ndarray, y: np.ndarray, builder, encoder, seed: int = 42) -> dict[str, object]:
    """Each plain configuration fitted on (X, y) (rows already encoded by the fitted ``builder`` and
    ``encoder``) and assembled into the same Pipeline shape as the tuned model."""
    out = {}
    for name, (family, params) in PLAIN.items():
        est = make_estimator(family, params, seed=seed, n_jobs=-1).fit(X, y)
        if hasattr(est, "n_jobs"):
            est.n_jobs = 1
        out[name] = assemble(builder, encoder, est)
    return out


def _sorted_counts(p: np.ndarray, y: np.ndarray):
    order = np.argsort(-p, kind="mergesort")
    ps = p[order]
    last = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1]  # last position of each distinct score
    return order, last, y[order].astype(float)


def _weighted_auc(order: np.ndarray, last: np.ndarray, ys: np.ndarray, w: np.ndarray) -> float:
    """ROC-AUC of the rows drawn ``w`` times each (ties handled as scikit-learn does: trapezoids)."""
    ws = w[order]
    pos = ws * ys
    tps, fps = np.cumsum(pos)[last], np.cumsum(ws - pos)[last]
    P, N = tps[-1], fps[-1]
    if P == 0 or N == 0:
        return float("nan")
    tpr, fpr = np.r_[0.0, tps / P], np.r_[0.0, fps / N]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def paired_bootstrap(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n: int = 1000, seed: int = 42,
                     level: float = 0.95) -> dict[str, float]:
    """ROC-AUC of a minus ROC-AUC of b on the same rows, with a paired percentile bootstrap interval.

    Each of the ``n`` resamples draws row indices with replacement (``rng.integers`` of a seeded
    generator) and scores *both* models on that same draw; resamples with a single class are skipped.
    Returns ``diff`` (on all rows), ``low``, ``high`` and ``resamples`` (used).
    """
    y = np.asarray(y, dtype=int)
    p_a, p_b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    if not (len(y) == len(p_a) == len(p_b)):
        raise ValueError(f"paired bootstrap needs aligned rows: {len(y)}, {len(p_a)}, {len(p_b)}")
    diff = float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b))
    a, b = _sorted_counts(p_a, y), _sorted_counts(p_b, y)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)
        d = _weighted_auc(*a, w) - _weighted_auc(*b, w)
        if d == d:
            draws.append(d)
    tail = (1 - level) / 2 * 100
    low, high = (float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))) if draws \
        else (float("nan"), float("nan"))
    return {"diff": diff, "low": low, "high": high, "resamples": len(draws)}


def rows_digest(ids) -> str:
    """A short fingerprint of row ids *in order*: two comparisons on the same rows share it."""
    return hashlib.sha256("\x1f".join(map(str, ids)).encode()).hexdigest()[:16]


@dataclass
class Comparison:
    table: pd.DataFrame  # COLUMNS: the tuned model first, then each plain baseline
    best_baseline: str
    margin: float  # tuned ROC-AUC minus the best baseline's
    beats: bool  # strictly better than the best baseline
    rows: int
    rows_digest: str
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)

    def markdown(self) -> str:
        return self.table.round(4).to_markdown(index=False)

    def records(self) -> list[dict]:
        return self.table.to_dict("records")


def compare(tuned_pipeline, baselines: dict[str, object], test: pd.DataFrame, target: str, id_column: str,
            n: int = 1000, seed: int = 42, p_tuned: np.ndarray | None = None) -> Comparison:
    """Score the tuned model and every baseline on the same ``test`` rows (same ids, same order)."""
    y = test[target].to_numpy(dtype=int)
    probs = {"tuned": tuned_pipeline.predict_proba(test)[:, 1] if p_tuned is None else np.asarray(p_tuned)}
    probs |= {name: pipe.predict_proba(test)[:, 1] for name, pipe in baselines.items()}
    rows = []
    for name, p in probs.items():
        row = {"model": name, "roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
               "tuned_minus": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        if name != "tuned":
            pb = paired_bootstrap(y, probs["tuned"], p, n=n, seed=seed)
            row |= {"tuned_minus": pb["diff"], "ci_low": pb["low"], "ci_high": pb["high"]}
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    others = table[table["model"] != "tuned"]
    if len(others):
        best = others.loc[others["roc_auc"].idxmax()]
        best_name, margin = str(best["model"]), float(table.loc[0, "roc_auc"] - best["roc_auc"])
    else:
        best_name, margin = "", float("nan")
    return Comparison(table, best_name, margin, bool(margin > 0), len(test), rows_digest(test[id_column]), probs)
