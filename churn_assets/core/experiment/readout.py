"""The experiment readout: champion vs challenger on the outcomes that arrived for a day's traffic.

Input: the day's prediction-log rows (``prediction_log.read_day``: customer id, arm, served,
probability, model version, time) and the outcomes that arrived for those customers.

Rules (stated once, here):

* **One prediction per customer and arm: the last one** (latest ``served_at``, then log id). The
  outcome is observed after the customer's last contact, and the last prediction is the model's
  most recent view of them; counting every request would weight customers by how often they call.
* **Design.** When the challenger's rows are *shadow* rows (``served`` False: the shadow mode
  scores every request with both models) the comparison is **paired**: the customers with both a
  champion and a shadow challenger prediction, resampled together, so the noise of *which*
  customers arrived cancels out of the difference. Challenger rows that were served (A/B mode)
  give an **unpaired** comparison of two disjoint groups, each resampled on its own. On a day that
  mixes both, the shadow rows are used and the served challenger rows are counted, not used.
* Rows without a customer id cannot meet an outcome: counted and left out.
* **Decision** on ``metric`` (default ROC-AUC): ``better`` when the percentile-bootstrap interval
  of the challenger's improvement at ``confidence`` lies above 0; ``inconclusive`` when an arm has
  fewer than ``min_outcomes`` customers with an outcome or a single class; ``not_better`` otherwise
  (the reason says when the challenger is significantly worse).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from churn_assets.core.data.contract_inference import encode_target
from churn_assets.core.experiment.stats import DIRECTION, METRICS, bootstrap, interval, point, reliability

ARMS = ("champion", "challenger")
DECISIONS = ("better", "not_better", "inconclusive")


@dataclass(frozen=True)
class ReadoutConfig:
    metric: str = "roc_auc"  # one of experiment_stats.METRICS
    confidence: float = 0.95
    resamples: int = 1_000
    min_outcomes: int = 200  # per arm
    seed: int = 42
    bins: int = 10  # equal-width probability bins of the calibration error and reliability table

    def __post_init__(self):
        if self.metric not in DIRECTION:
            raise ValueError(f"readout metric {self.metric!r}: use one of {list(METRICS)}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"readout confidence {self.confidence}: use a value in [0.5, 1)")


@dataclass
class Arm:
    arm: str
    model_versions: list[str]
    served_rows: int  # answers returned to clients
    shadow_rows: int  # logged, not returned
    served_share: float  # share of the day's served answers
    customers: int  # distinct customers predicted (in the design used)
    outcomes: int  # of them, with an outcome
    churn_rate: float
    metrics: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    reliability: list[dict] = field(default_factory=list)


@dataclass
class Readout:
    design: str  # "paired" (shadow) | "unpaired" (A/B) | "none" (no challenger traffic)
    metric: str
    confidence: float
    resamples: int
    decision: str  # one of DECISIONS
    reason: str
    arms: dict[str, Arm]
    difference: dict[str, float] = field(default_factory=dict)  # challenger - champion, per metric
    difference_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def better(self) -> bool:
        return self.decision == "better"

    def table(self) -> pd.DataFrame:
        rows = []
        for a in self.arms.values():
            row = {"arm": a.arm, "versions": ",".join(a.model_versions) or "-", "customers": a.customers,
                   "outcomes": a.outcomes, "served_share": round(a.served_share, 4),
                   "churn_rate": round(a.churn_rate, 4)}
            for k in METRICS:
                lo, hi = a.ci.get(k, (np.nan, np.nan))
                row[k] = f"{a.metrics.get(k, np.nan):.4f} [{lo:.4f}, {hi:.4f}]"
            rows.append(row)
        if self.difference:
            row = {"arm": "challenger - champion", "versions": "", "customers": "", "outcomes": "",
                   "served_share": "", "churn_rate": ""}
            for k in METRICS:
                lo, hi = self.difference_ci.get(k, (np.nan, np.nan))
                row[k] = f"{self.difference[k]:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            rows.append(row)
        return pd.DataFrame(rows)

    def as_dict(self) -> dict:
        return asdict(self)


def outcomes_frame(labels: pd.DataFrame, id_column: str, target: str, positive_label) -> pd.DataFrame:
    """(customer_id as text, outcome 0/1) from the spec's labels; the last row of a customer counts,
    rows with no outcome are dropped."""
    if id_column not in labels.columns or target not in labels.columns:
        raise ValueError(f"outcomes need the columns {id_column!r} and {target!r}; got {list(labels.columns)}")
    out = pd.DataFrame({"customer_id": labels[id_column].astype(str),
                        "outcome": encode_target(labels[target], positive_label)})
    out = out.dropna(subset=["outcome"]).drop_duplicates("customer_id", keep="last")
    return out.astype({"outcome": int}).reset_index(drop=True)


def with_pseudonyms(outcomes: pd.DataFrame, ring) -> pd.DataFrame:
    """The outcomes once more under each key's pseudonym of the customer (model/pseudonym.py): the
    prediction log stores pseudonyms, and joins on them; rows logged in clear still join too."""
    ids = outcomes["customer_id"].astype(str).tolist()
    parts = [outcomes] + [outcomes.assign(customer_id=ring.under(i, ids)) for i in range(len(ring.keys))]
    return pd.concat(parts, ignore_index=True)


def last_predictions(log: pd.DataFrame) -> pd.DataFrame:
    """One row per (arm, served, customer): the last prediction (``served_at``, then log ``id``)."""
    df = log.rename(columns={"probability": "churn_probability"})
    keys = [c for c in ("served_at", "id") if c in df.columns]
    df = df.sort_values(keys, kind="mergesort") if keys else df
    df = df.assign(customer_id=df["customer_id"].astype(str))
    return df.drop_duplicates(["arm", "served", "customer_id"], keep="last")


def read_out(log: pd.DataFrame, outcomes: pd.DataFrame, cfg: ReadoutConfig | None = None) -> Readout:
    """The readout of one day: ``log`` as ``prediction_log.read_day`` returns it, ``outcomes`` as
    ``outcomes_frame`` does (one row per customer)."""
    cfg = cfg or ReadoutConfig()
    log = log.copy()
    if "arm" not in log:
        log["arm"] = "champion"
    if "served" not in log:
        log["served"] = True
    log["served"] = log["served"].astype(bool)
    no_id = log["customer_id"].isna() if "customer_id" in log else pd.Series(True, index=log.index)
    counts = {"log_rows": len(log), "rows_without_customer_id": int(no_id.sum())}
    full, log = log, log[~no_id]
    shadow = (log["arm"] == "challenger") & ~log["served"]
    design = "paired" if shadow.any() else "unpaired" if (log["arm"] == "challenger").any() else "none"
    used = {"champion": log[(log["arm"] == "champion") & log["served"]],
            "challenger": log[shadow] if design == "paired" else log[log["arm"] == "challenger"]}
    counts["served_challenger_rows_not_used"] = int(((log["arm"] == "challenger") & log["served"]).sum()) \
        if design == "paired" else 0
    lab = outcomes.set_index("customer_id")["outcome"]
    preds = {}
    for arm, rows in used.items():
        last = last_predictions(rows)
        counts[f"{arm}_repeat_predictions"] = len(rows) - len(last)
        preds[arm] = last.assign(outcome=last["customer_id"].map(lab))
    if design == "paired":  # the customers both models scored
        both = set(preds["champion"]["customer_id"]) & set(preds["challenger"]["customer_id"])
        preds = {a: p[p["customer_id"].isin(both)].sort_values("customer_id", kind="mergesort")
                 for a, p in preds.items()}
    counts["customers_awaiting_outcome"] = int(sum(p["outcome"].isna().sum() for p in preds.values()))
    known = {a: p.dropna(subset=["outcome"]) for a, p in preds.items()}
    arms = {a: _arm(a, full, used[a], preds[a], known[a]) for a in ARMS}
    readout = Readout(design, cfg.metric, cfg.confidence, cfg.resamples, "inconclusive", "", arms, counts=counts)
    short = [a for a in ARMS if len(known[a]) < cfg.min_outcomes or known[a]["outcome"].nunique() < 2]
    if design == "none":
        readout.reason = "no challenger predictions on this day (single mode)"
    elif short:
        readout.reason = "too few outcomes: " + ", ".join(
            f"{a} {len(known[a])} customers with an outcome ({int(known[a]['outcome'].sum())} churned)"
            for a in short) + f"; at least {cfg.min_outcomes} per arm and both classes are needed"
    for a in ARMS:
        if len(known[a]) and known[a]["outcome"].nunique() == 2:
            arms[a].metrics = point(known[a]["churn_probability"].to_numpy(), known[a]["outcome"].to_numpy(), cfg.bins)
    if design == "none" or short:
        return readout
    _compare(readout, known, design == "paired", cfg)
    return readout


def _arm(arm: str, log: pd.DataFrame, used: pd.DataFrame, preds: pd.DataFrame, known: pd.DataFrame) -> Arm:
    """``log``: every row of the day (shares are of all served answers, with or without a customer id)."""
    mine = log[log["arm"] == arm]
    return Arm(arm=arm, model_versions=sorted(used["model_version"].astype(str).unique()),
               served_rows=int(mine["served"].sum()), shadow_rows=int((~mine["served"]).sum()),
               served_share=float(mine["served"].sum() / max(int(log["served"].sum()), 1)),
               customers=len(preds), outcomes=len(known),
               churn_rate=float(known["outcome"].mean()) if len(known) else float("nan"))


def _compare(readout: Readout, known: dict[str, pd.DataFrame], paired: bool, cfg: ReadoutConfig) -> None:
    a, b = known["champion"], known["challenger"]
    pa, ya = a["churn_probability"].to_numpy(float), a["outcome"].to_numpy(float)
    pb, yb = b["churn_probability"].to_numpy(float), b["outcome"].to_numpy(float)
    draws_a, draws_b = bootstrap(pa, ya, pb, yb, paired, cfg.resamples, cfg.seed, cfg.bins)
    for arm, draws, (p, y) in (("champion", draws_a, (pa, ya)), ("challenger", draws_b, (pb, yb))):
        readout.arms[arm].ci = {k: interval(draws[k], cfg.confidence) for k in METRICS}
        readout.arms[arm].reliability = reliability(p, y, cfg.bins)
    ma, mb = readout.arms["champion"].metrics, readout.arms["challenger"].metrics
    readout.difference = {k: mb[k] - ma[k] for k in METRICS}
    readout.difference_ci = {k: interval(draws_b[k] - draws_a[k], cfg.confidence) for k in METRICS}
    k, sign = cfg.metric, DIRECTION[cfg.metric]
    lo, hi = sorted(sign * x for x in readout.difference_ci[k])  # the improvement's interval
    pct = f"{cfg.confidence:.0%}"
    figures = (f"challenger {mb[k]:.4f} vs champion {ma[k]:.4f} {k}, difference {readout.difference[k]:+.4f}, "
               f"{pct} {readout.design} bootstrap interval [{readout.difference_ci[k][0]:+.4f}, "
               f"{readout.difference_ci[k][1]:+.4f}] ({len(a):,} / {len(b):,} customers with an outcome)")
    if lo > 0:
        readout.decision, readout.reason = "better", f"challenger better at {pct}: {figures}"
    elif hi < 0:
        readout.decision, readout.reason = "not_better", f"challenger worse at {pct}: {figures}"
    else:
        readout.decision, readout.reason = "not_better", f"no significant difference at {pct}: {figures}"
