"""Realized performance of scored customers once their outcomes arrive, and whether it degraded.

Degradation is a statistical statement, not a point estimate (docs/OPERATIONS.md, "The loop that
learns"). For each metric the **drop** below the scoring model's test figure is

* ROC-AUC: ``training_roc_auc - realized_roc_auc`` (absolute), tolerance ``auc_tolerance``;
* F1: ``(training_f1 - realized_f1) / training_f1`` (relative), tolerance ``f1_tolerance``.

The realized metric gets a seeded percentile-bootstrap interval at ``confidence`` (two-sided; the
customers are resampled, the training figure is a constant: it is the number the model was accepted
with). The drop's interval is ``[drop_low, drop_high]``. A metric **degrades** when
``drop_low > tolerance``: the whole interval lies above the tolerance, i.e. the drop is
significantly larger than the tolerance (a one-sided test of ``drop <= tolerance`` at level
``(1 - confidence) / 2``). The day is ``degraded`` when either metric degrades.

Too few outcomes: a day with fewer than ``min_outcomes`` customers with an outcome is **pooled**
with the most recent earlier days that were not flagged and were scored by the same model (newest
first, at most ``pool_days`` days back), until the pool reaches ``min_outcomes``. If it still does
not, the day is not flagged and the reason says so. The point figures are always the day's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

POSITIVE = ["1", "true", "1.0", "yes"]


@dataclass(frozen=True)
class DegradationPolicy:
    f1_tolerance: float = 0.10  # relative drop of F1 below training
    auc_tolerance: float = 0.03  # absolute drop of ROC-AUC below training
    confidence: float = 0.95  # two-sided bootstrap interval of the realized metric
    min_outcomes: int = 200  # fewest customers with an outcome that can flag a day (else pooled)
    pool_days: int = 7  # how many earlier unflagged days may be pooled with a small day
    resamples: int = 1000
    seed: int = 42


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
    # the statistics behind `degraded`
    pooled_rows: int = 0  # customers the interval was computed on (the day plus pooled days)
    pooled_days: list[str] = field(default_factory=list)  # earlier days pooled with this one
    roc_auc_drop_interval: tuple[float, float] = (float("nan"), float("nan"))
    f1_drop_interval: tuple[float, float] = (float("nan"), float("nan"))
    confidence: float = 0.95
    decision: str = ""  # why it was, or was not, flagged (always filled)


def join_outcomes(predictions: pd.DataFrame, labels: pd.DataFrame, id_column: str, target: str) -> pd.DataFrame:
    """The scored customers that have an outcome: columns y (0/1), pred (0/1), p, model_version."""
    lab = labels.rename(columns={id_column: "customer_id"})[["customer_id", target]]
    lab = lab.assign(customer_id=lab["customer_id"].astype(str))
    joined = predictions.assign(customer_id=predictions["customer_id"].astype(str)).merge(lab, on="customer_id",
                                                                                         how="inner")
    return pd.DataFrame({
        "y": joined[target].astype(str).str.lower().isin(POSITIVE).to_numpy(dtype=int),
        "pred": joined["will_churn"].astype(bool).to_numpy(dtype=int),
        "p": joined["churn_probability"].to_numpy(dtype=float),
        "model_version": joined["model_version"].astype(str).to_numpy(),
    })


def _draw_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    from churn_assets.core.experiment.stats import resample_counts

    return resample_counts(rng, n, b)


def bootstrap_metrics(y: np.ndarray, pred: np.ndarray, p: np.ndarray, resamples: int,
                      seed: int) -> dict[str, np.ndarray]:
    """ROC-AUC and F1 of ``resamples`` seeded bootstrap resamples of the customers (NaN where a
    resample holds one class only)."""
    from churn_assets.core.experiment.stats import RESAMPLE_CELLS, weighted_metrics

    y, pred, p = np.asarray(y, int), np.asarray(pred, int), np.asarray(p, float)
    rng = np.random.default_rng(seed)
    aucs, f1s, done = [], [], 0
    chunk = max(1, RESAMPLE_CELLS // max(len(y), 1))
    tp_v, fp_v, fn_v = (y * pred).astype(float), ((1 - y) * pred).astype(float), (y * (1 - pred)).astype(float)
    while done < resamples:
        b = min(chunk, resamples - done)
        w = _draw_counts(rng, len(y), b)
        aucs.append(weighted_metrics(p, y, w)["roc_auc"])
        tp, fp, fn = w @ tp_v, w @ fp_v, w @ fn_v
        denom = 2 * tp + fp + fn
        f1s.append(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
        done += b
    return {"roc_auc": np.concatenate(aucs), "f1": np.concatenate(f1s)}


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    from churn_assets.core.experiment.stats import interval

    return interval(draws, confidence)


def judge(day: pd.DataFrame, training_f1: float, training_roc_auc: float,
          policy: DegradationPolicy = DegradationPolicy(),
          earlier: list[tuple[str, pd.DataFrame]] | None = None) -> Performance:
    """The day's realized figures and whether it degraded (module docstring). ``day`` and each of
    ``earlier`` (newest first: (day, frame) of earlier days that were not flagged and were scored by
    the same model) are frames of ``join_outcomes``."""
    if day.empty:
        raise ValueError("no scored customer has an outcome yet: nothing to measure")
    y, pred, p = day["y"].to_numpy(), day["pred"].to_numpy(), day["p"].to_numpy()
    f1 = float(f1_score(y, pred, zero_division=0))
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
    has_f1, has_auc = training_f1 == training_f1 and training_f1 > 0, training_roc_auc == training_roc_auc
    drop = (training_f1 - f1) / training_f1 if has_f1 else 0.0
    auc_drop = training_roc_auc - auc if has_auc and auc == auc else 0.0
    versions = ",".join(pd.unique(day["model_version"]))
    perf = Performance(rows=len(day), roc_auc=auc, f1=f1, precision=float(precision_score(y, pred, zero_division=0)),
                       recall=float(recall_score(y, pred, zero_division=0)), training_f1=training_f1,
                       f1_drop=float(drop), degraded=False, model_version=versions,
                       training_roc_auc=training_roc_auc, roc_auc_drop=float(auc_drop),
                       confidence=policy.confidence)
    # Pool earlier unflagged days (same model) while the sample is too small.
    frames, pooled = [day], []
    for when, frame in (earlier or [])[: policy.pool_days]:
        if sum(len(f) for f in frames) >= policy.min_outcomes:
            break
        frames.append(frame)
        pooled.append(when)
    sample = pd.concat(frames, ignore_index=True) if pooled else day
    perf.pooled_rows, perf.pooled_days = len(sample), pooled
    level = f"{policy.confidence:.0%}"
    if len(sample) < policy.min_outcomes:
        perf.decision = (f"not judged: {len(day):,} outcome(s) on the day"
                         f"{f' + {len(sample) - len(day):,} from {len(pooled)} earlier unflagged day(s)' if pooled else ''}"
                         f" = {len(sample):,} < the minimum {policy.min_outcomes:,}")
        return perf
    if sample["y"].nunique() < 2:
        perf.decision = f"not judged: one class only among {len(sample):,} outcomes"
        return perf
    draws = bootstrap_metrics(sample["y"].to_numpy(), sample["pred"].to_numpy(), sample["p"].to_numpy(),
                              policy.resamples, policy.seed)
    reasons, notes = [], []
    if has_auc:
        lo, hi = _interval(draws["roc_auc"], policy.confidence)
        perf.roc_auc_drop_interval = (training_roc_auc - hi, training_roc_auc - lo)
        d_lo, d_hi = perf.roc_auc_drop_interval
        text = (f"ROC-AUC drop {auc_drop:+.3f} ({level} interval [{d_lo:+.3f}, {d_hi:+.3f}]) vs tolerance "
                f"{policy.auc_tolerance}")
        (reasons if d_lo > policy.auc_tolerance else notes).append(text)
    if has_f1:
        lo, hi = _interval(draws["f1"], policy.confidence)
        perf.f1_drop_interval = ((training_f1 - hi) / training_f1, (training_f1 - lo) / training_f1)
        d_lo, d_hi = perf.f1_drop_interval
        text = f"F1 drop {drop:+.0%} ({level} interval [{d_lo:+.0%}, {d_hi:+.0%}]) vs tolerance {policy.f1_tolerance:.0%}"
        (reasons if d_lo > policy.f1_tolerance else notes).append(text)
    on = f"on {len(sample):,} outcomes" + (f" (pooled with {', '.join(pooled)})" if pooled else "")
    perf.degraded = bool(reasons)
    perf.why = "; ".join(reasons) + f", {on}" if reasons else ""
    perf.decision = (f"DEGRADED: the drop is significantly above the tolerance: {perf.why}" if reasons else
                     f"within tolerance {on}: no interval lies wholly above its tolerance ({'; '.join(notes)})")
    return perf


def realized(predictions: pd.DataFrame, labels: pd.DataFrame, id_column: str, target: str,
             training_f1: float, tolerance: float = 0.10, training_roc_auc: float = float("nan"),
             auc_tolerance: float = 0.03, policy: DegradationPolicy | None = None,
             earlier: list[tuple[str, pd.DataFrame]] | None = None) -> Performance:
    """Join predictions with outcomes and judge them (``judge``). ``policy`` overrides the two
    tolerances given separately."""
    policy = policy or DegradationPolicy(f1_tolerance=tolerance, auc_tolerance=auc_tolerance)
    return judge(join_outcomes(predictions, labels, id_column, target), training_f1, training_roc_auc, policy,
                 earlier)
