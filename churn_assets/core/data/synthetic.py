"""Synthetic customers with the seed's schema and a documented, reproducible churn mechanism.

Mechanism (all drawn from one seeded ``numpy.random.Generator``):

* Two latent traits per customer: *engagement* ``e`` and *frustration* ``f`` (both N(0, 1)).
  Engagement drives logins, feature usage, email opens, purchase rate and recency;
  frustration drives support tickets and resolution times.
* Churn is Bernoulli(sigmoid(z)) with a non-linear score ``z``:
  a logistic *threshold* on days since last login (~3 weeks), a step for low feature usage
  (< 30), diminishing returns of logins (log), an *interaction* between ticket rate and slow
  resolution (> 24 h), a decaying risk for new customers (exp(-months/6)), a protective
  effect of owning several products, a step for no purchase in 90 days, and an unobserved
  N(0, 0.5) term; the observable part is scaled by 2. The intercept gives ~20% churn on the unshifted population.
* 2% of labels are flipped (label noise).
* ``shift`` moves the population as documented in ``SHIFTS`` so monitoring can be shown:
  ``engagement_drop`` lowers engagement, raises tickets, prices and support resolution times
  (covariate shift) and **changes the mechanism in a learnable way**: after the shift a
  resolution over 48 hours drives churn strongly. A model trained before the shift has barely
  seen such customers and under-ranks them; a retrain on labelled post-shift days learns it
  (measured by ``make bench``, "learning loop"). A small unobserved driver adds concept drift that
  no retrain can learn.

Everything is relative to ``as_of`` (never the wall clock), so a seed and a date give
byte-identical data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_AS_OF = dt.date(2025, 6, 30)
CHURN_INTERCEPT = -1.2  # calibrated once for ~20% churn at shift intensity 0
CHURN_SIGNAL = 2.0  # strength of the observable mechanism
CHURN_NOISE = 0.5  # sd of the unobserved part


@dataclass(frozen=True)
class Shift:
    """A documented population shift, scaled by ``intensity`` in [0, 1]."""

    engagement: float = 0.0  # added to the engagement trait
    ticket_rate: float = 1.0  # multiplies the support-ticket rate
    price: float = 1.0  # multiplies the spend per purchase
    concept: float = 0.0  # weight of a churn driver the data does not show (concept drift)
    resolution: float = 1.0  # multiplies support resolution times
    slow_support: float = 0.0  # weight of a resolution over 48 h: a learnable change of the mechanism

    def scaled(self, intensity: float) -> Shift:
        return Shift(
            engagement=self.engagement * intensity,
            ticket_rate=1.0 + (self.ticket_rate - 1.0) * intensity,
            price=1.0 + (self.price - 1.0) * intensity,
            concept=self.concept * intensity,
            resolution=1.0 + (self.resolution - 1.0) * intensity,
            slow_support=self.slow_support * intensity,
        )


SHIFTS: dict[str, Shift] = {
    "none": Shift(),
    # Falling engagement (-0.8 sd), 60% more tickets, 25% price rise, support outsourced (resolution
    # times x3) and, the learnable change of the mechanism, a resolution over 48 h now drives churn
    # strongly (+2.5 on the score: before the shift it only mattered through the ticket-rate term).
    # A competitor's offer that shows in no column adds some unlearnable concept drift (0.3).
    "engagement_drop": Shift(engagement=-0.8, ticket_rate=1.6, price=1.25, concept=0.3, resolution=3.0,
                             slow_support=2.5),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_customers(
    n: int = 100_000,
    seed: int = 42,
    as_of: dt.date = DEFAULT_AS_OF,
    shift: str = "none",
    intensity: float = 1.0,
    id_prefix: str = "C",
    with_labels: bool = True,
) -> pd.DataFrame:
    """Return ``n`` customers in the seed's raw schema (dates as ``datetime64``, churn as bool)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; known: {sorted(SHIFTS)}")
    s = SHIFTS[shift].scaled(intensity)
    rng = np.random.default_rng(seed)
    as_of64 = np.datetime64(as_of, "D")

    engagement = rng.normal(0.0, 1.0, n) + s.engagement
    frustration = rng.normal(0.0, 1.0, n)

    lifetime = np.clip(1 + rng.gamma(2.0, 9.0, n), 1, 96).astype(np.int64)
    signup_days = lifetime * 30 + rng.integers(0, 30, n)
    products = np.clip(1 + rng.poisson(0.6 + 0.5 * (engagement > 0)), 1, 6)
    logins = rng.poisson(np.exp(1.7 + 0.6 * engagement))
    usage = np.clip(50 + 17 * engagement + rng.normal(0, 12, n), 0, 100).round(1)
    emails_sent = rng.poisson(np.minimum(lifetime, 36) * 2.0 + 4)
    emails_opened = rng.binomial(emails_sent, _sigmoid(-0.6 + 0.9 * engagement))
    purchase_rate = np.exp(-0.6 + 0.4 * engagement + rng.normal(0, 0.3, n))
    purchases = rng.poisson(lifetime * purchase_rate)
    basket = rng.lognormal(np.log(45.0), 0.5, n) * s.price
    spent = (purchases * basket).round(2)
    tickets = rng.poisson(lifetime * 0.06 * np.exp(0.45 * frustration) * s.ticket_rate)
    resolution = (rng.lognormal(np.log(10.0) + 0.45 * frustration, 0.6, n) * s.resolution).round(1)
    resolution = np.where(tickets > 0, resolution, np.nan)  # no tickets, nothing to resolve

    days_login = np.minimum(rng.exponential(6.0 * np.exp(-0.8 * engagement)), signup_days)
    days_purchase = np.minimum(rng.exponential(25.0 * np.exp(-0.5 * engagement)), signup_days)

    ticket_rate = tickets / lifetime
    open_rate = np.divide(emails_opened, emails_sent, out=np.zeros(n), where=emails_sent > 0)
    signal = (
        1.3 * _sigmoid((days_login - 21.0) / 4.0)
        + 0.9 * (usage < 30)
        - 0.45 * np.log1p(logins)
        + 1.6 * ticket_rate * (np.nan_to_num(resolution) > 24)
        + 1.1 * np.exp(-lifetime / 6.0)
        - 0.3 * (products - 1)
        + 0.7 * (days_purchase > 90)
        + 0.4 * (open_rate < 0.1)
        + 1.0 * (s.price - 1.0)  # price rises push customers out
        + s.slow_support * (np.nan_to_num(resolution) > 48)
    )
    hidden = rng.normal(0.0, 1.0, n)  # drawn always, so a seed gives the same customers with or without shift
    z = CHURN_INTERCEPT + CHURN_SIGNAL * signal * (1 - 0.7 * s.concept) + 2.5 * s.concept * hidden + rng.normal(0, CHURN_NOISE, n)
    churn = rng.random(n) < _sigmoid(z)
    churn ^= rng.random(n) < 0.02  # label noise

    width = max(7, len(str(n)))
    df = pd.DataFrame(
        {
            "customer_id": [f"{id_prefix}{i:0{width}d}" for i in range(n)],
            "signup_date": as_of64 - signup_days.astype("timedelta64[D]"),
            "total_purchases": purchases,
            "total_spent": spent,
            "customer_lifetime_months": lifetime,
            "support_tickets": tickets,
            "support_resolution_time": resolution,
            "emails_sent": emails_sent,
            "emails_opened": emails_opened,
            "last_purchase_date": as_of64 - days_purchase.astype("timedelta64[D]"),
            "last_login_date": as_of64 - days_login.astype("timedelta64[D]"),
            "logins_last_30_days": logins,
            "products_owned": products,
            "feature_usage_score": usage,
        }
    )
    # Customers who never bought have no last purchase.
    df.loc[purchases == 0, "last_purchase_date"] = pd.NaT
    if with_labels:
        df["churn"] = churn
    return df


# -- customer value (retention targeting, core/retention) -------------------------------------------
# A documented revenue column for the synthetic default, derived without touching any draw above:
# ``generate_customers`` returns exactly what it always did (its columns, values and the default
# contract's features are unchanged); ``monthly_revenue`` is computed from a customer's columns and a
# noise term seeded by (seed, customer id), so the same customer always has the same value, in a
# training source, a scoring batch or a campaign file. It is never a feature of the churn model.
REVENUE_COLUMN = "monthly_revenue"
REVENUE_UNIT = "monthly_revenue"  # currency units per month


def id_uniforms(ids, salt: str) -> np.ndarray:
    """A fixed point in [0, 1) per id: the first 8 bytes of blake2b(salt + ':' + id), big-endian / 2**64."""
    import hashlib

    out = np.empty(len(ids), dtype=np.float64)
    for i, v in enumerate(ids):
        out[i] = int.from_bytes(hashlib.blake2b(f"{salt}:{v}".encode(), digest_size=8).digest(), "big")
    return out / float(2**64)


def monthly_revenue(df: pd.DataFrame, seed: int = 42) -> pd.Series:
    """Revenue per month of each customer: 15 + 8 per extra product + 0.6 x spend per month of
    lifetime, times a log-normal(0, 0.35) factor seeded by (seed, customer id); rounded to cents."""
    from scipy.special import ndtri

    u = np.clip(id_uniforms(df["customer_id"].astype(str), f"revenue-{seed}"), 1e-12, 1 - 1e-12)
    lifetime = df["customer_lifetime_months"].to_numpy(float)
    base = (15.0 + 8.0 * (df["products_owned"].to_numpy(float) - 1)
            + 0.6 * df["total_spent"].to_numpy(float) / np.maximum(lifetime, 1.0))
    return pd.Series((base * np.exp(0.35 * ndtri(u))).round(2), index=df.index, name=REVENUE_COLUMN)
