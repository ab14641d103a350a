import numpy as np
import pandas as pd
import pytest

from churn_assets.core.data.synthetic import SHIFTS, generate_customers

SEED_COLUMNS = ["customer_id", "signup_date", "total_purchases", "total_spent", "customer_lifetime_months",
                "support_tickets", "support_resolution_time", "emails_sent", "emails_opened",
                "last_purchase_date", "last_login_date", "logins_last_30_days", "products_owned",
                "feature_usage_score", "churn"]


def test_schema_is_the_seeds():
    df = generate_customers(500)
    assert list(df.columns) == SEED_COLUMNS
    assert df["customer_id"].is_unique


def test_reproducible_from_a_seed():
    pd.testing.assert_frame_equal(generate_customers(2000, seed=7), generate_customers(2000, seed=7))
    assert not generate_customers(2000, seed=7).equals(generate_customers(2000, seed=8))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_imbalanced_churn_rate(seed):
    rate = generate_customers(20_000, seed=seed)["churn"].mean()
    assert 0.15 <= rate <= 0.25


def test_respects_seed_rules():
    df = generate_customers(20_000)
    assert (df["emails_opened"] <= df["emails_sent"]).all()
    assert (df["customer_lifetime_months"] >= 1).all()
    assert df["feature_usage_score"].between(0, 100).all()
    assert (df[["total_purchases", "total_spent", "support_tickets"]] >= 0).all().all()
    assert (df["last_login_date"] <= pd.Timestamp("2025-06-30")).all()


def test_non_linear_mechanism():
    """Churn jumps once the last login is ~3 weeks old: a threshold, not a straight line."""
    df = generate_customers(50_000)
    days = (pd.Timestamp("2025-06-30") - df["last_login_date"]).dt.days
    recent, mid, stale = (df.loc[days < 7, "churn"].mean(), df.loc[days.between(7, 14), "churn"].mean(),
                          df.loc[days > 35, "churn"].mean())
    assert stale - mid > 2 * (mid - recent)


def test_documented_shift_moves_the_population():
    base = generate_customers(20_000, seed=5)
    shifted = generate_customers(20_000, seed=5, shift="engagement_drop")
    assert shifted["logins_last_30_days"].mean() < 0.8 * base["logins_last_30_days"].mean()
    assert shifted["support_tickets"].mean() > 1.3 * base["support_tickets"].mean()
    assert shifted["churn"].mean() > base["churn"].mean() + 0.05
    assert set(SHIFTS) >= {"none", "engagement_drop"}
    with pytest.raises(ValueError, match="unknown shift"):
        generate_customers(10, shift="nope")


def test_as_of_moves_dates_not_content():
    a = generate_customers(100, as_of=pd.Timestamp("2025-06-30").date())
    b = generate_customers(100, as_of=pd.Timestamp("2026-01-31").date())
    assert np.array_equal((pd.Timestamp("2025-06-30") - a["last_login_date"]).dt.days,
                          (pd.Timestamp("2026-01-31") - b["last_login_date"]).dt.days)
