"""A telecom operator's customers with the public churn sets' kind of columns, generated here (not by
the project's generator): the user's-own-data tests (the loop, retention) run on it."""

import numpy as np
import pandas as pd


def telecom(rng: np.random.Generator, n: int, prefix: str, changed: bool) -> pd.DataFrame:
    """Customers of a telecom operator with the public churn sets' kind of columns. Before the change
    churn follows contract, fiber, electronic checks and short tenure; after it, the contract stops
    mattering and fiber customers without tech support leave (an outage nobody helped them with)."""
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["DSL", "Fiber optic", "No"], n, p=[0.35, 0.45, 0.2])
    payment = rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)",
                          "Credit card (automatic)"], n, p=[0.35, 0.2, 0.225, 0.225])
    support = np.where(internet == "No", "No internet service", rng.choice(["Yes", "No"], n, p=[0.4, 0.6]))
    tenure = rng.integers(0, 72, n)
    monthly = np.round(20 + 30 * (internet == "DSL") + 60 * (internet == "Fiber optic") + rng.normal(0, 8, n), 2)
    frame = pd.DataFrame({
        "customerID": [f"{prefix}{i:05d}" for i in range(n)],
        "gender": rng.choice(["Female", "Male"], n), "SeniorCitizen": rng.choice([0, 1], n, p=[0.84, 0.16]),
        "Partner": rng.choice(["Yes", "No"], n), "Dependents": rng.choice(["Yes", "No"], n, p=[0.3, 0.7]),
        "tenure": tenure, "PhoneService": rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
        "InternetService": internet, "TechSupport": support, "Contract": contract, "PaymentMethod": payment,
        "MonthlyCharges": monthly, "TotalCharges": np.round(monthly * np.maximum(tenure, 1), 2),
    })
    if not changed:
        logit = (-2.3 + 1.6 * (contract == "Month-to-month") + 0.9 * (internet == "Fiber optic")
                 + 0.8 * (payment == "Electronic check") - 0.045 * (tenure - 24))
    else:  # the contract and tenure stop mattering; fiber customers without tech support leave
        logit = -2.2 + 3.2 * ((support == "No") & (internet == "Fiber optic")) + 1.4 * (payment == "Mailed check")
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame.assign(Churn=np.where(churn, "Yes", "No"))
