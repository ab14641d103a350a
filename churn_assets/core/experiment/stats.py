"""Metrics of a binary classifier under row weights, for many bootstrap resamples at once.

A bootstrap resample is a vector of counts (how often each row was drawn), so a metric of the
resample is the metric with those counts as weights. ``weighted_metrics`` evaluates ROC-AUC,
PR-AUC (average precision, scikit-learn's definition), the Brier score and the expected
calibration error for a whole matrix of weight vectors with one sort of the scores: 1,000 paired
resamples of 5,000 customers (both arms, four metrics) took 1.4-1.5 s on the shared 2-core host
(load ~5), where scikit-learn per resample took 17 s for three of the metrics. With weights of one the figures equal ``roc_auc_score``, ``average_precision_score`` and
``brier_score_loss`` (tested to 1e-12, ties included).
"""

from __future__ import annotations

import numpy as np

# metric -> +1 when higher is better, -1 when lower is better
DIRECTION = {"roc_auc": 1, "pr_auc": 1, "brier": -1, "ece": -1}
METRICS = tuple(DIRECTION)
RESAMPLE_CELLS = 2_000_000  # weights held at once (rows x resamples): ~16 MB of float64


def weighted_metrics(p: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Each metric per row of ``w`` (shape (resamples, rows)). ROC-AUC and PR-AUC are NaN for a
    resample holding a single class; ECE uses ``bins`` equal-width probability bins."""
    p, y, w = np.asarray(p, float), np.asarray(y, float), np.atleast_2d(np.asarray(w, float))
    order = np.argsort(p, kind="mergesort")
    ps, ys, ws = p[order], y[order], w[:, order]
    starts = np.r_[0, np.nonzero(np.diff(ps))[0] + 1]  # one group per distinct score (ties count half)
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    single = (n_pos == 0) | (n_neg == 0)
    safe_pos, safe_neg = np.where(single, 1, n_pos), np.where(single, 1, n_neg)
    below = np.cumsum(neg, axis=1) - neg  # negative weight scored strictly lower
    auc = (pos * (below + 0.5 * neg)).sum(1) / (safe_pos * safe_neg)
    # Average precision: thresholds from the highest score down; each step adds recall pos_k / P
    # at the precision of everything scored >= that threshold.
    tp, fp = np.cumsum(pos[:, ::-1], axis=1), np.cumsum(neg[:, ::-1], axis=1)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    ap = (pos[:, ::-1] * precision).sum(1) / safe_pos
    total = w.sum(1)
    brier = w @ ((p - y) ** 2) / total
    gap = np.zeros((len(p), bins))
    gap[np.arange(len(p)), np.minimum((p * bins).astype(int), bins - 1)] = y - p
    ece = np.abs(w @ gap).sum(1) / total  # sum over bins of |observed - predicted| x bin share
    auc[single], ap[single] = np.nan, np.nan
    return {"roc_auc": auc, "pr_auc": ap, "brier": brier, "ece": ece}


def point(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, float]:
    return {k: float(v[0]) for k, v in weighted_metrics(p, y, np.ones((1, len(p))), bins).items()}


def resample_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """``b`` bootstrap resamples of ``n`` rows as draw counts, shape (b, n)."""
    idx = rng.integers(0, n, size=(b, n))
    flat = (np.arange(b)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def bootstrap(p_a: np.ndarray, y_a: np.ndarray, p_b: np.ndarray, y_b: np.ndarray, paired: bool,
              resamples: int, seed: int, bins: int = 10) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Metric draws of arm a and arm b (each an array of ``resamples``). ``paired``: the same rows
    (customers) in both arms, resampled together, so the difference keeps their correlation;
    otherwise each arm is resampled on its own. Seeded: the same inputs give the same draws."""
    if paired and (len(p_a) != len(p_b) or not np.array_equal(y_a, y_b)):
        raise ValueError("a paired bootstrap needs the same customers (and outcomes) in both arms")
    rng = np.random.default_rng(seed)
    draws_a: dict[str, list] = {k: [] for k in METRICS}
    draws_b: dict[str, list] = {k: [] for k in METRICS}
    chunk = max(1, RESAMPLE_CELLS // max(len(p_a), len(p_b), 1))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        w_a = resample_counts(rng, len(p_a), b)
        w_b = w_a if paired else resample_counts(rng, len(p_b), b)
        for draws, (p, y, w) in ((draws_a, (p_a, y_a, w_a)), (draws_b, (p_b, y_b, w_b))):
            for k, v in weighted_metrics(p, y, w, bins).items():
                draws[k].append(v)
        done += b
    return ({k: np.concatenate(v) for k, v in draws_a.items()}, {k: np.concatenate(v) for k, v in draws_b.items()})


def interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval over the resamples where the metric is defined (NaN, NaN if none)."""
    valid = draws[~np.isnan(draws)]
    if not len(valid):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(valid, tail)), float(np.percentile(valid, 100 - tail))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """The reliability diagram's points: per non-empty equal-width bin, rows, mean score, churn rate."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(m.sum()),
                        "mean_probability": float(p[m].mean()), "observed_rate": float(y[m].mean())})
    return out
