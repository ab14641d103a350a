"""The seed's serving recipe as the baseline: FastAPI + uvicorn (2 workers), one predict_proba per
request on a DataFrame built from the validated record. Same model, same request schema.

    CHURN_NAIVE_MODEL=model.joblib CHURN_NAIVE_CONTRACT=contract.json uvicorn bench.naive_api:app --workers 2
"""

from __future__ import annotations

import json
import os

import joblib
from fastapi import FastAPI

from churn_assets.model.contract import DataContract
from churn_assets.model.request_schema import customer_model
from churn_assets.model.scorer import records_to_frame, risk_band

CONTRACT = DataContract.from_json(open(os.environ["CHURN_NAIVE_CONTRACT"]).read())
PIPELINE = joblib.load(os.environ["CHURN_NAIVE_MODEL"])
THRESHOLD = float(os.environ.get("CHURN_NAIVE_THRESHOLD", "0.5"))
Customer = customer_model(CONTRACT)
app = FastAPI(title="naive churn API (baseline)")



@app.post("/predict")
def predict(body: dict) -> dict:
    customer = Customer.model_validate(body["customer"])
    frame = records_to_frame([json.loads(customer.model_dump_json())], CONTRACT)
    p = float(PIPELINE.predict_proba(frame)[0, 1])
    return {"customer_id": customer.__dict__[CONTRACT.id_column], "churn_probability": p,
            "will_churn": p >= THRESHOLD, "risk": risk_band(p), "model_version": "baseline"}
