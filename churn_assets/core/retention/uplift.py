"""Uplift targeting: a two-model (T-learner) estimate of how much a contact lowers each customer's
churn, evaluated on held-out campaign customers against risk ranking and random targeting.

* **Data**: a randomized campaign (the readout's list with its outcomes, or a past-campaign file
  named by the spec's ``campaign_history: {path, treatment_column, outcome_column}``): the raw
  customer columns, a binary treatment column and a binary outcome (churned). A non-binary column
  is a ``DataError`` naming the file, the column and the rule.
* **Model**: the champion's data contract builds the features (``core/training/modeling.py``
  ``feature_steps``); one estimator of a project family (default histogram gradient boosting) on the
  treated, one on the control customers; uplift = p(churn | control) - p(churn | treated): the
  reduction of churn probability a contact buys.
* **Evaluation** on a held-out share of the campaign (stratified by treatment, seeded): the Qini
  curve (incremental saves of the top k by uplift: churners of the control group scaled to the
  treated count, minus churners of the treated), AUUC (area under it per customer, the random
  line's area subtracted: the Qini coefficient), and at the campaign's capacity (a share of the
  customers) the estimated saves of uplift ranking, risk ranking and random, with paired bootstrap
  intervals.
* **Gate**: uplift replaces risk only when its saves at capacity beat risk ranking's with the
  interval of the difference above 0 (``UpliftGate.wins``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_assets.core.data.errors import DataError
from churn_assets.core.experiment.stats import interval, resample_counts
from churn_assets.core.retention.readout import binary_outcome


@dataclass
class UpliftModel:
    builder: object
    encoder: object
    treated: object
    control: object
    family: str

    def _X(self, df: pd.DataFrame):
        return self.encoder.transform(self.builder.transform(df))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Modelled reduction of churn probability if contacted (may be negative: contact harms)."""
        X = self._X(df)
        return self.control.predict_proba(X)[:, 1] - self.treated.predict_proba(X)[:, 1]

    def risk(self, df: pd.DataFrame) -> np.ndarray:
        """Churn probability without contact (the control model)."""
        return self.control.predict_proba(self._X(df))[:, 1]


def campaign_frame(df: pd.DataFrame, treatment_column: str, outcome_column: str, source: str) -> pd.DataFrame:
    """``df`` with 0/1 ``_treated`` and ``_churned``; a DataError names the file, column and rule."""
    for c in (treatment_column, outcome_column):
        if c not in df.columns:
            raise DataError(f"lacks the column (columns are: {', '.join(map(str, df.columns))})", source=source,
                            column=c, rule="campaign columns present")
    out = df.assign(_treated=binary_outcome(df[treatment_column], source, treatment_column),
                    _churned=binary_outcome(df[outcome_column], source, outcome_column))
    for g, name in ((1, "treated"), (0, "control")):
        if (out["_treated"] == g).sum() < 20:
            raise DataError(f"only {(out['_treated'] == g).sum()} {name} customers: a campaign needs both groups "
                            "(>= 20 each)", source=source, column=treatment_column, rule="both groups present")
    return out


def split(df: pd.DataFrame, holdout_share: float = 0.3, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train / held-out, stratified by treatment (seeded)."""
    rng = np.random.default_rng(seed)
    hold = np.zeros(len(df), bool)
    for g in (0, 1):
        idx = np.flatnonzero(df["_treated"].to_numpy() == g)
        hold[rng.choice(idx, round(len(idx) * holdout_share), replace=False)] = True
    return df[~hold].reset_index(drop=True), df[hold].reset_index(drop=True)


def fit_uplift(train: pd.DataFrame, contract, family: str = "hist_gradient_boosting", params: dict | None = None,
               seed: int = 42) -> UpliftModel:
    from churn_assets.core.training.modeling import feature_steps, make_estimator

    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(train).transform(train)).transform(builder.transform(train))
    t = train["_treated"].to_numpy() == 1
    y = train["_churned"].to_numpy()
    defaults = {"hist_gradient_boosting": {"max_leaf_nodes": 15, "learning_rate": 0.1, "min_samples_leaf": 40},
                "random_forest": {"n_estimators": 200, "min_samples_leaf": 20},
                "logistic_regression": {"C": 1.0}}
    p = {**defaults.get(family, {}), **(params or {})}
    m_t = make_estimator(family, p, seed=seed).fit(X[t], y[t])
    m_c = make_estimator(family, p, seed=seed + 1).fit(X[~t], y[~t])
    return UpliftModel(builder, encoder, m_t, m_c, family)


def qini_curve(score: np.ndarray, treated: np.ndarray, churned: np.ndarray, points: int = 50) -> pd.DataFrame:
    """Incremental saves of the top share by ``score`` (highest first): control churners scaled to the
    treated count minus treated churners, at ``points`` shares; the random line for comparison."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    t = np.asarray(treated)[order] == 1
    y = np.asarray(churned)[order].astype(float)
    nt, nc = np.cumsum(t), np.cumsum(~t)
    yt, yc = np.cumsum(y * t), np.cumsum(y * ~t)
    gain = np.where(nc > 0, yc * nt / np.maximum(nc, 1), 0.0) - yt
    n = len(y)
    ks = np.unique(np.linspace(0, n, points + 1).astype(int))
    g = np.r_[0.0, gain][ks]
    return pd.DataFrame({"share": ks / n, "incremental_saves": g, "random": ks / n * (gain[-1] if n else 0.0)})


def auuc(curve: pd.DataFrame, n: int) -> dict:
    """Area under the Qini curve per customer, the random line's, and the difference (Qini coefficient)."""
    area = float(np.trapezoid(curve["incremental_saves"], curve["share"])) / max(n, 1)
    rand = float(np.trapezoid(curve["random"], curve["share"])) / max(n, 1)
    return {"auuc": area, "auuc_random": rand, "qini_coefficient": area - rand}


def _saves(w: np.ndarray, top: np.ndarray, t: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Estimated saves if the top-k set were all contacted: (control rate - treated rate) in it x k."""
    wt, wc = w[:, top & t], w[:, top & ~t]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_t = (wt @ y[top & t]) / wt.sum(1)
        rate_c = (wc @ y[top & ~t]) / wc.sum(1)
    return (rate_c - rate_t) * k


def compare_at_capacity(scores: dict[str, np.ndarray], treated: np.ndarray, churned: np.ndarray, share: float,
                        resamples: int = 500, seed: int = 42, confidence: float = 0.95) -> dict:
    """Estimated saves of each ranking's top ``share`` (paired bootstrap over the held-out customers),
    ``random`` added (the whole held-out set's effect x k); differences to ``risk``."""
    if not 0 < share <= 1:
        raise ValueError(f"capacity share must be in (0, 1], got {share}")
    t = np.asarray(treated) == 1
    y = np.asarray(churned, float)
    n = len(y)
    k = max(1, round(share * n))
    tops = {}
    for name, s in scores.items():
        top = np.zeros(n, bool)
        top[np.argsort(-np.asarray(s, float), kind="stable")[:k]] = True
        tops[name] = top
    tops["random"] = np.ones(n, bool)
    rng = np.random.default_rng(seed)
    ones = np.ones((1, n))
    point = {name: float(_saves(ones, top, t, y, k)[0]) for name, top in tops.items()}
    draws = {name: [] for name in tops}
    chunk = max(1, 2_000_000 // max(n, 1))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        w = resample_counts(rng, n, b)
        for name, top in tops.items():
            draws[name].append(_saves(w, top, t, y, k))
        done += b
    d = {name: np.concatenate(v) for name, v in draws.items()}
    out = {"capacity_share": share, "customers_at_capacity": k, "held_out": n,
           "saves": {name: point[name] for name in tops},
           "saves_ci": {name: interval(d[name], confidence) for name in tops}}
    if "risk" in tops:
        out["vs_risk"] = {name: {"difference": point[name] - point["risk"],
                                 "ci": interval(d[name] - d["risk"], confidence)}
                          for name in tops if name != "risk"}
    return out


@dataclass
class UpliftGate:
    ranking: str  # "uplift" | "risk"
    reason: str
    comparison: dict = field(default_factory=dict)

    @property
    def wins(self) -> bool:
        return self.ranking == "uplift"


def gate(comparison: dict) -> UpliftGate:
    """Uplift replaces risk ranking only when it saves significantly more at the same capacity."""
    diff = comparison["vs_risk"]["uplift"]
    lo, hi = diff["ci"]
    if lo > 0:
        return UpliftGate("uplift", f"uplift saves {diff['difference']:+.1f} customers more than risk ranking at "
                          f"capacity [{lo:+.1f}, {hi:+.1f}]: uplift replaces risk", comparison)
    return UpliftGate("risk", f"uplift vs risk at capacity {diff['difference']:+.1f} [{lo:+.1f}, {hi:+.1f}]: "
                      "not significantly better, risk ranking stays", comparison)


def campaign_customers(df: pd.DataFrame, contract, treatment_column: str, outcome_column: str, source: str):
    """A campaign file as the uplift model needs it: customer columns validated (coerced) against the
    champion's contract like any data (bad rows quarantined and counted), ``_treated`` / ``_churned``
    checked binary. Returns (frame, quarantined rows)."""
    from churn_assets.core.data.validation import validate

    frame = campaign_frame(df, treatment_column, outcome_column, source)
    res = validate(frame.drop(columns=["_treated", "_churned"]), contract, with_target=False)
    ids = frame[contract.id_column].astype(str)
    flags = frame.assign(**{contract.id_column: ids})[[contract.id_column, "_treated", "_churned"]]
    flags = flags.drop_duplicates(contract.id_column)
    clean = res.clean.assign(**{contract.id_column: res.clean[contract.id_column].astype(str)})
    return clean.merge(flags, on=contract.id_column, how="inner"), len(res.quarantined)


def campaign_from_lists(listed: pd.DataFrame, outcomes: pd.DataFrame, customers: pd.DataFrame, id_column: str,
                        outcome_column: str, source: str) -> tuple[pd.DataFrame, dict]:
    """The campaign's own lists as a randomized campaign: each listed customer's columns (from the
    day's customers), ``treated`` (1: group treatment) and ``churned`` (their outcome). Outcomes of
    customers not on a list are counted (``unknown_ids``), listed customers without an outcome or
    without their columns are counted (``awaiting``, ``no_columns``), never silently dropped."""
    if outcome_column not in outcomes.columns or id_column not in outcomes.columns:
        raise DataError(f"lacks the columns {id_column!r} / {outcome_column!r}", source=source,
                        column=outcome_column, rule="outcome columns present")
    got = outcomes.assign(**{id_column: outcomes[id_column].astype(str)}).drop_duplicates(id_column, keep="last")
    lists = listed.assign(customer_id=listed["customer_id"].astype(str))
    known = got[id_column].isin(lists["customer_id"])
    flags = lists[["customer_id", "group"]].rename(columns={"customer_id": id_column}).merge(
        got[[id_column, outcome_column]], on=id_column, how="inner")
    cols = customers.assign(**{id_column: customers[id_column].astype(str)}).drop(columns=[outcome_column],
                                                                                   errors="ignore")
    frame = cols.merge(flags, on=id_column, how="inner")
    frame = frame.assign(treated=(frame["group"] == "treatment").astype(int)).drop(columns=["group"])
    frame = frame.rename(columns={outcome_column: "churned"})
    counts = {"listed": len(lists), "unknown_ids": int((~known).sum()), "awaiting": int(len(lists) - len(flags)),
              "no_columns": int(len(flags) - len(frame)), "campaign_customers": len(frame)}
    return frame, counts
