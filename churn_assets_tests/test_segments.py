"""Segment metrics and flags: on data made with one weak segment (labels replaced by noise inside one
category), exactly that segment is flagged; tenure-like columns are bucketed by quartile."""

import numpy as np
import pytest

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.evaluation.report import evaluate, segment_columns
from churn_assets.core.training.modeling import assemble, feature_steps, make_estimator


def weak_segment_data(rows: int = 12_000, seed: int = 5):
    """Synthetic customers with a `region` column; in region `east` the label is a coin flip."""
    spec = synthetic_spec(rows=rows, seed=seed)
    raw = load_raw(spec)
    rng = np.random.default_rng(seed)
    raw["region"] = rng.choice(["north", "south", "west", "east"], len(raw), p=[0.35, 0.3, 0.2, 0.15])
    east = (raw["region"] == "east").to_numpy()
    raw.loc[east, "churn"] = rng.random(east.sum()) < raw["churn"].mean()
    spec.column_types["region"] = "categorical"
    contract = resolve_contract(spec, raw)
    return contract, validate(raw, contract).clean


@pytest.fixture(scope="module")
def evaluated():
    contract, clean = weak_segment_data()
    train, test = clean.iloc[:9000], clean.iloc[9000:]
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(train).transform(train)).transform(builder.transform(train))
    est = make_estimator("hist_gradient_boosting", {"learning_rate": 0.1, "max_leaf_nodes": 15,
                                                    "min_samples_leaf": 40}).fit(X, train["churn"].astype(int))
    ev = evaluate(assemble(builder, encoder, est), test, "churn", 0.3, contract.feature_columns,
                  with_plots=False, contract=contract)
    return contract, test, ev


def test_exactly_the_weak_segment_is_flagged(evaluated):
    _, _, ev = evaluated
    seg = ev.segments
    flagged = seg[seg["flagged"]]
    assert list(zip(flagged["column"], flagged["segment"])) == [("region", "east")], seg.to_string()
    east = flagged.iloc[0]
    assert east["roc_auc"] < ev.metrics["roc_auc"] - 0.05 and east["share"] >= 0.01


def test_segment_rows_rates_and_buckets(evaluated):
    contract, test, ev = evaluated
    seg = ev.segments
    categorical, numeric = segment_columns(contract)
    assert categorical == ["region"] and numeric == ["customer_lifetime_months"]  # integer, name says lifetime
    for column, part in seg.groupby("column"):
        assert part["rows"].sum() == len(test), column  # every test row in exactly one segment per column
    assert len(seg[seg["column"] == "customer_lifetime_months"]) == 4  # quartiles
    north = seg[(seg["column"] == "region") & (seg["segment"] == "north")].iloc[0]
    mask = (test["region"] == "north").to_numpy()
    assert north["rows"] == mask.sum() and north["churn_rate"] == pytest.approx(test["churn"][mask].mean())
    assert set(seg.columns) >= {"rows", "share", "churn_rate", "roc_auc", "recall", "flagged"}


def test_extra_numeric_columns_and_tiny_segments_are_not_flagged(evaluated):
    contract, test, ev = evaluated
    assert "support_tickets" in segment_columns(contract, ("support_tickets",))[1]
    from churn_assets.core.evaluation.report import segment_table

    y = test["churn"].to_numpy(dtype=int)
    # A segment below 1% of rows is never flagged, however bad.
    t = test.assign(region=np.where(np.arange(len(test)) < 20, "tiny", "rest"))
    p = ev.probabilities.copy()
    p[:20] = 1 - p[:20]
    seg = segment_table(t, y, p, 0.3, ["region"], [])
    tiny = seg[seg["segment"] == "tiny"].iloc[0]
    assert tiny["share"] < 0.01 and not tiny["flagged"]
