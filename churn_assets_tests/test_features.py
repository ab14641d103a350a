"""Feature code: correctness of the seed's features and training/serving parity."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import ColumnContract, DataContract, synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.training.modeling import assemble, feature_steps
from churn_assets.model.features import FeatureBuilder
from churn_assets.model.scorer import FastScorer, records_to_frame


@pytest.fixture(scope="module")
def data():
    spec = synthetic_spec(rows=3000)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    return raw, contract, validate(raw, contract).clean


def _json_records(raw: pd.DataFrame) -> list[dict]:
    """Raw rows as a client would send them: ISO date strings, null for missing."""
    return json.loads(raw.to_json(orient="records", date_format="iso", date_unit="s"))


def test_seed_features_by_hand():
    fb = FeatureBuilder(numeric=["total_purchases", "total_spent", "customer_lifetime_months", "emails_sent",
                                 "emails_opened"], dates=["last_purchase_date"], as_of="2025-06-30")
    df = pd.DataFrame({"total_purchases": [4, 0], "total_spent": [200.0, 0.0], "customer_lifetime_months": [10, 2],
                       "emails_sent": [10, 0], "emails_opened": [6, 0],
                       "last_purchase_date": pd.to_datetime(["2025-06-20", None])})
    f = fb.fit(df).transform(df)
    assert f["days_since_last_purchase"].tolist()[0] == 10 and np.isnan(f["days_since_last_purchase"][1])
    assert f["purchase_frequency"].tolist() == [0.4, 0.0]
    assert f["average_purchase_value"].tolist() == [50.0, 0.0]
    assert f["spending_per_month"].tolist() == [20.0, 0.0]
    assert f["email_open_rate"].tolist() == [0.6, 0.0]
    assert f["is_active"].tolist() == [1.0, 0.0]
    assert f["is_engaged"].tolist() == [1.0, 0.0]
    assert f["recency_frequency"][0] == pytest.approx(4.0)
    assert f["frequency_monetary"][0] == pytest.approx(20.0)
    assert "login_frequency" not in f  # its column does not exist: recipe skipped


def test_features_use_the_as_of_date_not_the_clock(data):
    clean = data[2]
    early = FeatureBuilder(dates=["last_login_date"], as_of="2025-06-30").fit(clean).transform(clean)
    later = FeatureBuilder(dates=["last_login_date"], as_of="2025-07-10").fit(clean).transform(clean)
    assert (later["days_since_last_login"] - early["days_since_last_login"] == 10).all()
    per_row = clean.assign(as_of=pd.Timestamp("2025-07-10"))
    assert FeatureBuilder(dates=["last_login_date"], as_of="2025-06-30").fit(clean).transform(per_row)[
        "days_since_last_login"].equals(later["days_since_last_login"])


@pytest.mark.parametrize("model", [HistGradientBoostingClassifier(max_iter=50, random_state=0),
                                   LogisticRegression(max_iter=500)])
def test_parity_on_raw_records(data, model):
    """Serving (records -> numpy) and training (DataFrame -> Pipeline) give identical probabilities."""
    raw, contract, clean = data
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(clean).transform(clean)).transform(builder.transform(clean))
    pipe = assemble(builder, encoder, model.fit(X, clean[contract.target_column]))
    sample = raw.head(300).copy()
    sample.loc[0, "support_resolution_time"] = None  # missing values on both paths
    sample.loc[1, "last_purchase_date"] = pd.NaT
    records = _json_records(sample.drop(columns=["churn"]))
    fast = FastScorer(pipe).predict_records(records)
    slow = pipe.predict_proba(records_to_frame(records, contract))[:, 1]
    assert np.array_equal(fast, slow)
    assert np.array_equal(fast, pipe.predict_proba(validate(sample, contract).clean)[:, 1])


def test_categories_and_unseen_values():
    contract = DataContract("t", "id", "y", 1, "", [ColumnContract("plan", "categorical", ""),
                                                   ColumnContract("fee", "numeric", "")])
    df = pd.DataFrame({"plan": ["a"] * 10 + ["b"] * 10 + ["rare"], "fee": np.arange(21.0)})
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(df).transform(df)).transform(builder.transform(df))
    assert list(encoder.get_feature_names_out())[-3:] == ["plan=a", "plan=b", "plan=<other>"]
    rec = builder.transform_records([{"plan": "never-seen", "fee": None}, {"plan": "b", "fee": 3}])
    M = encoder.encode_columns(rec)
    assert M[0, -1] == 1.0 and M[1, -2] == 1.0  # unseen -> other; known -> its column
    assert M[0, 0] == pytest.approx((np.median(df["fee"]) - df["fee"].mean()) / df["fee"].std(ddof=0))
    assert X.shape == (21, 4)


def test_days_from_dates_of_any_form():
    fb = FeatureBuilder(dates=["d"], as_of="2025-01-31").fit(pd.DataFrame({"d": pd.to_datetime(["2025-01-01"])}))
    out = fb.transform_records([{"d": "2025-01-01"}, {"d": dt.date(2025, 1, 30)}, {"d": None}])
    assert out["days_since_d"][:2].tolist() == [30.0, 1.0] and np.isnan(out["days_since_d"][2])


def test_encoding_in_chunks_gives_the_same_matrix(data, monkeypatch):
    """Large frames are encoded in row chunks (bounded memory); the matrix is bit-identical."""
    from churn_assets.model import features

    _, contract, clean = data
    builder, encoder = feature_steps(contract)
    feats = builder.fit(clean).transform(clean)
    whole = encoder.fit(feats).transform(feats)
    monkeypatch.setattr(features, "ENCODE_CHUNK_ROWS", 700)  # 3000 rows: 5 chunks, the last one short
    chunked = encoder.transform(feats)
    assert chunked.shape == whole.shape and np.array_equal(chunked, whole, equal_nan=True)
    contract = DataContract("t", "id", "y", 1, "", [ColumnContract("plan", "categorical", ""),
                                                   ColumnContract("fee", "numeric", "")])
    df = pd.DataFrame({"plan": ["a"] * 10 + ["b"] * 10 + [None], "fee": [*np.arange(20.0), np.nan]})
    builder, encoder = feature_steps(contract)
    feats = builder.fit(df).transform(df)
    monkeypatch.setattr(features, "ENCODE_CHUNK_ROWS", 10**6)
    whole = encoder.fit(feats).transform(feats)
    monkeypatch.setattr(features, "ENCODE_CHUNK_ROWS", 4)  # one-hot and missing indicators across chunks
    assert np.array_equal(encoder.transform(feats), whole, equal_nan=True)


def _reference_encoding(encoder, cols: dict) -> np.ndarray:
    """The encoder's arithmetic written plainly (the formula before in-place work and factorizing)."""
    num = np.column_stack([np.asarray(cols[c], dtype=float) for c in encoder.numeric_])
    nan = np.isnan(num)
    blocks = [(np.where(nan, encoder.medians_, num) - encoder.means_) / encoder.stds_,
              nan[:, encoder.missing_cols_].astype(float)]
    for c, cats in encoder.categories_.items():
        onehot = np.zeros((len(num), len(cats) + 1))
        for r, v in enumerate(cols[c]):
            missing = v is None or v is pd.NA or v != v
            onehot[r, len(cats) if missing else cats.get(str(v), len(cats))] = 1.0
        blocks.append(onehot)
    return np.hstack(blocks)


@pytest.mark.parametrize("rows", [5, 63, 64, 5_000])  # both sides of the factorize threshold
def test_encoding_equals_the_plain_formula_on_messy_categories(rows):
    """Fast encoding (in place, categories factorized) is bit-identical to the plain formula, also
    for columns whose values are not all strings (1, 1.0 and True are distinct categories by str)."""
    rng = np.random.default_rng(rows)
    contract = DataContract("t", "id", "y", 1, "", [
        ColumnContract("plan", "categorical", ""), ColumnContract("code", "categorical", ""),
        ColumnContract("fee", "numeric", ""), ColumnContract("age", "numeric", "")])
    train = pd.DataFrame({
        "plan": rng.choice(["basic", "pro", "team", "rare"], 400, p=[.5, .3, .19, .01]),
        "code": np.array([1, 1.0, True, "1", "x", 2] * 66 + [None] * 4, dtype=object),
        "fee": rng.normal(50, 10, 400), "age": np.where(rng.random(400) < .1, np.nan, rng.integers(18, 90, 400))})
    builder, encoder = feature_steps(contract)
    encoder.fit(builder.fit(train).transform(train))
    plan = rng.choice(np.array(["basic", "pro", "never-seen", None, np.nan, pd.NA], dtype=object), rows)
    code = rng.choice(np.array([1, 1.0, True, "1", "x", 2, 3.5, None, np.nan], dtype=object), rows)
    df = pd.DataFrame({"plan": plan, "code": code, "fee": rng.normal(50, 10, rows),
                       "age": np.where(rng.random(rows) < .2, np.nan, 40.0)})
    cols = builder.transform_records(df.to_dict("records"))
    got = encoder.encode_columns(cols)
    assert np.array_equal(got, _reference_encoding(encoder, cols), equal_nan=True)
    width = sum(len(cats) + 1 for cats in encoder.categories_.values())
    assert (got[:, -width:].sum(axis=1) == 2).all()  # one position of each categorical column is set
