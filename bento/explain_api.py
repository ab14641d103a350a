"""/explain (HTTP) and Explain (gRPC): why each customer is at risk, from the model that answers it.

Per customer: the churn probability (identical to /predict's), the base value, the raw score the
contributions add up to (``base_value + sum(all contributions) == raw_score``: log-odds for logistic
regression and gradient boosting, P(churn) for the random forest) and the top-k contributions per
*raw input column* (one-hot and engineered features aggregated back to what the client sent), from
``churn_assets.model.explain.PipelineExplainer``, built once per worker at start-up. In ``ab`` mode a
customer is explained by its own arm's model; otherwise by the champion.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Literal

from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, Field

MAX_EXPLAIN_RECORDS = 1_000
INLINE_RECORDS = 16  # up to this many records are explained on the event loop, more in a thread
DEFAULT_K, MAX_K = 3, 50


class ExplanationsUnavailable(BentoMLException):
    error_code = HTTPStatus.NOT_IMPLEMENTED


class Contribution(BaseModel):
    column: str = Field(description="a raw input column, as sent")
    value: float = Field(description="its signed contribution to raw_score (positive: towards churn)")


class Explanation(BaseModel):
    customer_id: str
    churn_probability: float = Field(ge=0, le=1)
    raw_score: float = Field(description="base_value + the sum of all contributions: log-odds (logistic "
                                         "regression, gradient boosting) or P(churn) (random forest)")
    base_value: float = Field(description="the model's expected raw score over its training data")
    space: Literal["log_odds", "probability"]
    contributions: list[Contribution] = Field(description="the top-k columns by |value|, largest first")
    model_version: str
    arm: Literal["champion", "challenger"]


def make_explain_in(customer_model):
    """The /explain request model for this contract's record model."""

    class ExplainIn(BaseModel):
        customers: list[customer_model] = Field(min_length=1, max_length=MAX_EXPLAIN_RECORDS,
                                                description=f"1 to {MAX_EXPLAIN_RECORDS:,} raw customer records")
        k: int = Field(DEFAULT_K, ge=1, le=MAX_K, description="contributions per customer (largest |value| first)")

    return ExplainIn


def explain(router, records: list[dict], k: int) -> list[dict]:
    """One explanation dict per record, in order (records as scored: ``as_of`` already resolved)."""
    ids = [str(r[router.id_column]) for r in records]
    out: list[dict] = [{}] * len(records)
    for arm, idx in router.split(ids):
        if arm.explainer is None:
            raise ExplanationsUnavailable(f"explanations unavailable for {arm.name} v{arm.version}: "
                                          f"{arm.explain_error}")
        ex = arm.explainer.explain_records([records[j] for j in idx])
        base, space = float(ex.base_value), ex.space
        for row, j in enumerate(idx):
            out[j] = {"customer_id": ids[j], "churn_probability": float(ex.probability[row]),
                      "raw_score": float(ex.raw_score[row]), "base_value": base, "space": space,
                      "contributions": [{"column": c, "value": v} for c, v in ex.top(row, k)],
                      "model_version": arm.version, "arm": arm.name}
    return out
