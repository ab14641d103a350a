"""Figures pinned from the code before the reorganisation into domain rooms (commit 664e6bd, computed
with the same seeds through the old module paths): the move changed where code lives, not what it
computes. Data, contract, split, feature matrix, a fixed model's test ROC-AUC and probabilities, and
drift flags on an unshifted and a shifted batch."""

from __future__ import annotations

import hashlib

import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from churn_assets.core.data import batches
from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.monitoring import drift
from churn_assets.core.training.modeling import assemble, feature_steps
from churn_assets.core.training.splits import split

pytestmark = pytest.mark.slow  # ~10 s: a model and two Evidently reports

BEFORE = {
    "rows": [2800, 600, 600], "contract_sha": "63218fb2645d3e6b", "matrix_sum": 1411.0,
    "test_roc_auc": 0.8047518585, "first_probabilities": [0.013028317596, 0.230463183678, 0.336844423269],
    "drift": {
        "none": [False, ["days_since_last_login", "days_since_last_purchase", "days_since_signup",
                         "recency_frequency", "recency_monetary"]],
        "engagement_drop": [True, [
            "average_purchase_value", "days_since_last_login", "days_since_last_purchase", "email_open_rate",
            "emails_opened", "feature_usage_normalized", "feature_usage_score", "is_engaged", "login_frequency",
            "logins_last_30_days", "products_owned", "purchase_frequency", "recency_frequency", "recency_monetary",
            "support_burden", "support_interaction_rate", "support_resolution_time", "support_tickets",
            "total_purchases"]]},
}


def test_the_same_seeds_give_the_figures_of_before_the_move():
    spec = synthetic_spec(rows=4000, seed=42)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    s = split(validate(raw, contract).clean, contract.target_column, contract.id_column)
    builder, encoder = feature_steps(contract)
    y = s.train[contract.target_column]
    X = encoder.fit_transform(builder.fit_transform(s.train), y)
    pipe = assemble(builder, encoder, HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y))
    p = pipe.predict_proba(s.test)[:, 1]
    reference = drift.features_with_scores(pipe, s.train)
    flags = {}
    for day, shift in (("2025-08-01", "none"), ("2025-08-02", "engagement_drop")):
        batch = batches.synthetic_batch(day, batches.BatchSettings(rows=2000, seed=42, shift=shift,
                                                                   shift_from="2025-08-01"))
        batch = validate(batch, contract, with_target=False, as_of=day).clean
        r = drift.detect(reference, drift.features_with_scores(pipe, batch), drift.drift_columns(pipe))
        flags[shift] = [r.drift_detected, sorted(r.drifted_columns)]
    assert [len(s.train), len(s.val), len(s.test)] == BEFORE["rows"]
    assert hashlib.sha256(contract.to_json().encode()).hexdigest()[:16] == BEFORE["contract_sha"]
    assert round(float(X.sum()), 6) == BEFORE["matrix_sum"]
    assert round(roc_auc_score(s.test[contract.target_column], p), 10) == BEFORE["test_roc_auc"]
    assert [round(float(v), 12) for v in p[:3]] == BEFORE["first_probabilities"]
    assert flags == BEFORE["drift"]
