"""Detection quality of the drift check, measured over seeds: few false alarms, no misses."""

import pandas as pd
import pytest

from churn_assets.core.data.batches import BatchSettings, synthetic_batch
from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.synthetic import generate_customers
from churn_assets.core.monitoring import drift
from churn_assets.core.training.modeling import feature_steps

pytestmark = pytest.mark.slow

SEEDS = range(10)


@pytest.fixture(scope="module")
def reference():
    train = generate_customers(20_000, seed=42)
    contract = resolve_contract(synthetic_spec(), train)
    builder, _ = feature_steps(contract)
    builder.fit(train)
    return builder, builder.transform(train)


def _flagged(builder, ref, shift: str) -> list[bool]:
    cols = builder.numeric_features_
    out = []
    for seed in SEEDS:
        s = BatchSettings(rows=5_000, seed=seed, shift=shift, shift_from="2025-07-01")
        batch = synthetic_batch("2025-07-01", s).assign(as_of=pd.Timestamp("2025-07-01"))
        current = builder.transform(batch)
        out.append(drift.detect(ref, current, cols, drift_share=0.3, sample_rows=5_000).drift_detected)
    return out


def test_unshifted_batches_rarely_alarm(reference):
    flags = _flagged(*reference, shift="none")
    assert sum(flags) <= 1, flags


def test_documented_shift_is_always_caught(reference):
    flags = _flagged(*reference, shift="engagement_drop")
    assert all(flags), flags
