"""A synthetic world with ground truth: how each customer responds to a retention offer.

Every customer has two potential outcomes, churn without contact and churn when contacted, so the
true saves of *any* contact policy are known. The treatment effect is heterogeneous and a documented
function of the customer's own columns (the seed's raw schema, ``core/data/synthetic.py``):

* ``p_control``: churn probability without contact, the generator's documented mechanism on the
  observable columns (logistic login threshold, low usage, logins, slow support x ticket rate, new
  customers, products, no recent purchase, rare email opens), with the unobserved N(0, 0.5) term
  integrated out (probit approximation).
* Segments, in this order (first match wins):

  ========================  =============================================  ========================
  segment                   who (columns)                                  contacted
  ========================  =============================================  ========================
  ``sleeping_dog``          lifetime >= 36 months and email open rate      churns *more*:
                            < 0.2 (long, quiet customers reminded of the   p + 0.25 (1 - p)
                            contract they forgot)
  ``lost_cause``            no login for more than 28 days                 unchanged: p
  ``persuadable``           a support ticket resolved in more than 16 h,   saved: 0.30 p
                            or feature usage below 45
  ``sure_thing``            everyone else                                  barely moved: 0.92 p
  ========================  =============================================  ========================

  The lost causes are the highest-risk customers (the login threshold dominates the score), so
  ranking by risk spends much of a campaign on customers an offer cannot save; persuadables sit at
  medium risk. That is the world in which uplift targeting pays, and the bench measures how much.
* Realized outcomes are coupled: one uniform ``u`` per customer (seeded by (seed, customer id)),
  churn without contact = ``u < p_control``, churn when contacted = ``u < p_treated``. A customer
  saved by a contact is one with ``p_treated <= u < p_control``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_assets.core.data.synthetic import CHURN_INTERCEPT, CHURN_NOISE, CHURN_SIGNAL, id_uniforms

SEGMENTS = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")


@dataclass(frozen=True)
class Effects:
    """The offer's effect per segment (documented above)."""

    persuadable: float = 0.30  # p_treated = this x p_control
    sure_thing: float = 0.92  # p_treated = this x p_control
    sleeping_dog: float = 0.25  # p_treated = p + this x (1 - p)
    lost_login_days: float = 28.0
    dog_months: int = 36
    dog_open_rate: float = 0.2
    slow_resolution_h: float = 16.0
    low_usage: float = 45.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def baseline_churn(df: pd.DataFrame, as_of: dt.date | str) -> np.ndarray:
    """Churn probability without contact, from the observable columns (the generator's mechanism)."""
    as_of64 = np.datetime64(pd.Timestamp(as_of).date(), "D")
    days_login = (as_of64 - pd.to_datetime(df["last_login_date"]).to_numpy("datetime64[D]")).astype(float)
    lp = pd.to_datetime(df["last_purchase_date"]).to_numpy("datetime64[D]")
    days_purchase = np.where(np.isnat(lp), 1e9, (as_of64 - lp).astype(float))
    lifetime = df["customer_lifetime_months"].to_numpy(float)
    usage = df["feature_usage_score"].to_numpy(float)
    logins = df["logins_last_30_days"].to_numpy(float)
    tickets = df["support_tickets"].to_numpy(float)
    resolution = np.nan_to_num(df["support_resolution_time"].to_numpy(float))
    sent, opened = df["emails_sent"].to_numpy(float), df["emails_opened"].to_numpy(float)
    open_rate = np.divide(opened, sent, out=np.zeros(len(df)), where=sent > 0)
    products = df["products_owned"].to_numpy(float)
    signal = (1.3 * _sigmoid((days_login - 21.0) / 4.0) + 0.9 * (usage < 30) - 0.45 * np.log1p(logins)
              + 1.6 * tickets / lifetime * (resolution > 24) + 1.1 * np.exp(-lifetime / 6.0)
              - 0.3 * (products - 1) + 0.7 * (days_purchase > 90) + 0.4 * (open_rate < 0.1))
    z = CHURN_INTERCEPT + CHURN_SIGNAL * signal
    return _sigmoid(z / np.sqrt(1.0 + np.pi * CHURN_NOISE**2 / 8.0))


def segments(df: pd.DataFrame, as_of: dt.date | str, e: Effects = Effects()) -> np.ndarray:
    as_of64 = np.datetime64(pd.Timestamp(as_of).date(), "D")
    days_login = (as_of64 - pd.to_datetime(df["last_login_date"]).to_numpy("datetime64[D]")).astype(float)
    sent, opened = df["emails_sent"].to_numpy(float), df["emails_opened"].to_numpy(float)
    open_rate = np.divide(opened, sent, out=np.zeros(len(df)), where=sent > 0)
    dog = (df["customer_lifetime_months"].to_numpy(float) >= e.dog_months) & (open_rate < e.dog_open_rate)
    lost = days_login > e.lost_login_days
    slow = (df["support_tickets"].to_numpy(float) >= 1) & (
        np.nan_to_num(df["support_resolution_time"].to_numpy(float)) > e.slow_resolution_h)
    persuadable = slow | (df["feature_usage_score"].to_numpy(float) < e.low_usage)
    return np.select([dog, lost, persuadable], ["sleeping_dog", "lost_cause", "persuadable"], "sure_thing")


def potential_outcomes(df: pd.DataFrame, as_of: dt.date | str, seed: int = 42, e: Effects = Effects()) -> pd.DataFrame:
    """Per customer: segment, p_control, p_treated, churn_if_control, churn_if_treated (seeded by id)."""
    p0 = baseline_churn(df, as_of)
    seg = segments(df, as_of, e)
    p1 = np.select([seg == "sleeping_dog", seg == "lost_cause", seg == "persuadable"],
                   [p0 + e.sleeping_dog * (1 - p0), p0, e.persuadable * p0], e.sure_thing * p0)
    u = id_uniforms(df["customer_id"].astype(str), f"world-{seed}")
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str).to_numpy(), "segment": seg,
                         "p_control": p0, "p_treated": p1, "churn_if_control": u < p0, "churn_if_treated": u < p1})


def realized(truth: pd.DataFrame, treated: np.ndarray) -> np.ndarray:
    """The churn outcome each customer shows given whether they were contacted (bool array)."""
    return np.where(np.asarray(treated, bool), truth["churn_if_treated"], truth["churn_if_control"])


def true_saves(truth: pd.DataFrame, contacted: np.ndarray) -> dict:
    """What contacting ``contacted`` (bool mask) really did, in expectation and as realized."""
    m = np.asarray(contacted, bool)
    t = truth[m]
    return {"contacted": int(m.sum()),
            "expected_saves": float((t["p_control"] - t["p_treated"]).sum()),
            "realized_saves": int(t["churn_if_control"].sum() - t["churn_if_treated"].sum())}


def past_campaign(df: pd.DataFrame, as_of: dt.date | str, seed: int = 42, treated_share: float = 0.5,
                  e: Effects = Effects()) -> pd.DataFrame:
    """A randomized past campaign over ``df``: ``df`` plus ``treated`` (0/1, by a hash of the id) and
    ``churned`` (the realized outcome): what an uplift model learns from."""
    truth = potential_outcomes(df, as_of, seed, e)
    treated = id_uniforms(df["customer_id"].astype(str), f"past-{seed}") < treated_share
    return df.assign(treated=treated.astype(int), churned=realized(truth, treated).astype(int))
