"""The campaign readout: treated vs control on the outcomes of the campaign's customers.

Input: the day's contact list (customer_id, group, cell, value_at_stake) and the outcomes that
arrived (customer_id, churned 0/1). Per campaign and per grid cell:

* churn rate of the treated and of the control group;
* absolute reduction = control rate - treated rate (positive: the campaign keeps customers), and
  relative reduction = absolute / control rate;
* customers saved = absolute reduction x treated customers; value saved = (value-weighted churn of
  control - of treated, per customer) x treated customers;

each with a percentile-bootstrap interval (the two groups resampled on their own, seeded; the
resamples are draw-count weights, as in ``core/experiment/stats.py``, whose ``interval`` is used).

Decision on the whole campaign's absolute reduction: ``works`` when its interval lies above 0,
``harmful`` when it lies below 0, ``no_evidence`` otherwise or when a group has fewer than
``min_outcomes`` customers with an outcome. Outcomes of customers not in the list are counted
(``unknown_ids``), never silently dropped; list customers without an outcome are counted
(``awaiting``) and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_assets.core.data.errors import DataError
from churn_assets.core.experiment.stats import RESAMPLE_CELLS, interval, resample_counts
from churn_assets.core.retention.targeting import CONTROL, TREATMENT

DECISIONS = ("works", "no_evidence", "harmful")


@dataclass
class CampaignReadout:
    decision: str
    reason: str
    confidence: float
    overall: dict
    cells: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def binary_outcome(s: pd.Series, source: str, column: str) -> np.ndarray:
    """0/1 from a column that must be binary (0/1, true/false, yes/no): a DataError names the rule."""
    mapping = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "1.0": 1, "0.0": 0}
    text = s.astype(str).str.strip().str.lower()
    bad = ~text.isin(mapping)
    if bad.any():
        examples = sorted(set(s[bad].astype(str)))[:5]
        raise DataError(f"{int(bad.sum())} values are not binary (e.g. {examples})", source=source, column=column,
                        rule="binary: 0/1, true/false or yes/no")
    return text.map(mapping).to_numpy(int)


def _sums(w: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return w @ cols  # (resamples, n) @ (n, k)


def _draws(rng, cols: np.ndarray, resamples: int) -> np.ndarray:
    """Bootstrap sums of each column of ``cols`` (n, k): shape (resamples, k)."""
    n = len(cols)
    if n == 0:
        return np.zeros((resamples, cols.shape[1]))
    out, done, chunk = [], 0, max(1, RESAMPLE_CELLS // n)
    while done < resamples:
        b = min(chunk, resamples - done)
        out.append(_sums(resample_counts(rng, n, b), cols))
        done += b
    return np.vstack(out)


def campaign_readout(targets: pd.DataFrame, outcomes: pd.DataFrame, *, outcome_column: str = "churned",
                     id_column: str = "customer_id", source: str = "outcomes", confidence: float = 0.95,
                     resamples: int = 1_000, min_outcomes: int = 50, seed: int = 42,
                     cells: bool = True) -> CampaignReadout:
    for c in (id_column, outcome_column):
        if c not in outcomes.columns:
            raise DataError(f"lacks the column (columns are: {', '.join(map(str, outcomes.columns))})",
                            source=source, column=c, rule="outcome columns present")
    y_all = binary_outcome(outcomes[outcome_column], source, outcome_column)
    got = pd.Series(y_all, index=outcomes[id_column].astype(str).to_numpy())
    got = got[~got.index.duplicated(keep="last")]
    t = targets.assign(customer_id=targets["customer_id"].astype(str))
    known = got.index.isin(t["customer_id"])
    t = t[t["customer_id"].isin(got.index)].reset_index(drop=True)
    y = got.loc[t["customer_id"]].to_numpy(float)
    v = t["value_at_stake"].to_numpy(float) if "value_at_stake" in t else np.ones(len(t))
    counts = {"listed": len(targets), "outcomes": len(outcomes), "unknown_ids": int((~known).sum()),
              "awaiting": int(len(targets) - len(t)),
              "treatment": int((t["group"] == TREATMENT).sum()), "control": int((t["group"] == CONTROL).sum())}
    cell_names = sorted(t["cell"].unique()) if cells and "cell" in t else []
    # Columns per group: [n, churn, churn x value] overall, then the same per cell.
    keys = ["all", *cell_names]
    masks = [np.ones(len(t), bool)] + [(t["cell"] == c).to_numpy() for c in cell_names]
    cols = np.column_stack([x for m in masks for x in (m * 1.0, m * y, m * y * v)]) if len(t) else np.zeros((0, 3 * len(keys)))
    rng = np.random.default_rng(seed)
    treated, control = (t["group"] == TREATMENT).to_numpy(), (t["group"] == CONTROL).to_numpy()
    pt, pc = cols[treated].sum(0), cols[control].sum(0)
    bt, bc = _draws(rng, cols[treated], resamples), _draws(rng, cols[control], resamples)

    def figures(j: int, pt, pc, bt, bc) -> dict:
        nt, nc = pt[3 * j], pc[3 * j]
        with np.errstate(invalid="ignore", divide="ignore"):
            def stats(at, ac):
                rt, rc = at[..., 3 * j + 1] / at[..., 3 * j], ac[..., 3 * j + 1] / ac[..., 3 * j]
                vt, vc = at[..., 3 * j + 2] / at[..., 3 * j], ac[..., 3 * j + 2] / ac[..., 3 * j]
                ab = rc - rt
                return {"treated_churn_rate": rt, "control_churn_rate": rc, "absolute_reduction": ab,
                        "relative_reduction": ab / rc, "customers_saved": ab * nt, "value_saved": (vc - vt) * nt}
            est, dr = stats(pt, pc), stats(bt, bc)
        out = {"treated": int(nt), "control": int(nc)}
        for k, x in est.items():
            out[k] = float(x)
            out[f"{k}_ci"] = interval(np.where(np.isfinite(dr[k]), dr[k], np.nan), confidence) if nt and nc else (
                float("nan"), float("nan"))
        return out

    overall = figures(0, pt, pc, bt, bc)
    per_cell = [{"cell": c, **figures(j, pt, pc, bt, bc)} for j, c in enumerate(cell_names, start=1)]
    lo, hi = overall["absolute_reduction_ci"]
    if min(overall["treated"], overall["control"]) < min_outcomes:
        decision, reason = "no_evidence", (f"too few outcomes: {overall['treated']} treated, {overall['control']} "
                                           f"control (need {min_outcomes} each)")
    elif lo > 0:
        decision, reason = "works", (f"churn {overall['control_churn_rate']:.1%} control vs "
                                     f"{overall['treated_churn_rate']:.1%} treated: reduction "
                                     f"{overall['absolute_reduction']:+.3f} [{lo:+.3f}, {hi:+.3f}] excludes 0")
    elif hi < 0:
        decision, reason = "harmful", (f"contacted customers churn more: reduction {overall['absolute_reduction']:+.3f} "
                                       f"[{lo:+.3f}, {hi:+.3f}] lies below 0")
    else:
        decision, reason = "no_evidence", (f"reduction {overall['absolute_reduction']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                                           "includes 0")
    return CampaignReadout(decision, reason, confidence, overall, per_cell, counts)
