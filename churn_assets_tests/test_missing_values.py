"""Missing is not wrong (issue 13): blanks and null tokens are imputed, only invalid values quarantined."""

import numpy as np
import pandas as pd
import pydantic
import pytest

from churn_assets.core.training.modeling import feature_steps
from churn_assets.model.request_schema import customer_model
from churn_assets_tests.messy_helpers import accounting, frame, materialize_quality, run_core, write_spec

BLANKS = ["", " ", "  \t", "NA", "N/A", "null", "None", "-", "n/a", "?"]


def _with_blanks(n=300):
    """A telecom-like export: new customers have a blank amount; one value is really wrong."""
    df = frame(n)
    for i, token in enumerate(BLANKS):
        df.loc[10 + i, "monthly_fee"] = token
        df.loc[40 + i, "plan"] = token
        df.loc[70 + i, "joined"] = token
    df.loc[5, "monthly_fee"] = "twelve"  # present but invalid
    return df


def test_blanks_and_tokens_are_missing_values_not_errors(tmp_path):
    df = _with_blanks()
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    _, contract, res = run_core(write_spec(tmp_path, path))
    assert res.quarantined["_row"].tolist() == [5]  # only the present-but-invalid value
    assert "monthly_fee: wrong type" in res.quarantined["_reason"].item()
    assert res.quarantined["monthly_fee"].item() == "twelve"  # kept as it arrived
    roles = {c.name: c.role for c in contract.columns}
    assert roles["monthly_fee"] == "numeric" and roles["plan"] == "categorical" and roles["joined"] == "date"
    assert "NA" not in contract.column("plan").categories and "" not in contract.column("plan").categories
    n = len(df)  # missing share per column, over one row per id
    assert contract.column("monthly_fee").missing_share == pytest.approx(len(BLANKS) / n, abs=1e-6)
    assert contract.column("tenure").missing_share == 0.0
    clean = res.clean.set_index("acct")
    assert clean.loc[[f"A{10 + i:05d}" for i in range(len(BLANKS))], "monthly_fee"].isna().all()
    assert clean["joined"].isna().sum() == len(BLANKS)
    # They flow to the imputer: median fill plus a missing indicator, no NaN left in the matrix.
    builder, encoder = feature_steps(contract)
    feats = builder.fit(res.clean).transform(res.clean)
    matrix = encoder.fit(feats).transform(feats)
    assert not np.isnan(matrix).any()
    names = list(encoder.get_feature_names_out())
    col = names.index("monthly_fee_missing")
    assert matrix[:, col].sum() == len(BLANKS)


def test_null_values_are_configurable(tmp_path):
    df = frame()
    df.loc[3, "monthly_fee"] = "unknown"
    df.loc[4, "monthly_fee"] = "NA"
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    _, contract, res = run_core(write_spec(tmp_path, path, "null_values: [unknown]\n"))
    assert contract.null_values == ["unknown"]
    assert res.quarantined["_row"].tolist() == [4]  # "NA" is a value here, and not a number
    assert pd.isna(res.clean.loc[res.clean["acct"] == "A00003", "monthly_fee"].item())


def test_mostly_missing_column_is_dropped_with_the_reason(tmp_path):
    df = frame()
    df.loc[: int(len(df) * 0.6), "tenure"] = ""  # 60.3% missing
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    _, contract, res = run_core(write_spec(tmp_path, path))
    col = contract.column("tenure")
    assert col.role == "drop" and col.reason == "dropped: 60.3% of values missing (more than max_missing_share 50%)"
    assert "tenure" not in contract.feature_columns and res.quarantined.empty
    _, contract, _ = run_core(write_spec(tmp_path, path, "max_missing_share: 0.7\n"))
    assert contract.column("tenure").role == "numeric"


def test_request_schema_accepts_null_features_but_not_a_null_id(tmp_path):
    path = tmp_path / "data.csv"
    _with_blanks().to_csv(path, index=False)
    _, contract, _ = run_core(write_spec(tmp_path, path))
    Customer = customer_model(contract)
    record = {c: None for c in contract.feature_columns} | {"acct": "A1"}
    assert Customer.model_validate(record).monthly_fee is None
    with pytest.raises(pydantic.ValidationError, match="acct"):
        Customer.model_validate(record | {"acct": None})
    with pytest.raises(pydantic.ValidationError, match="monthly_fee"):
        Customer.model_validate(record | {"monthly_fee": "twelve"})


def test_missing_share_in_the_data_contract_metadata(tmp_path, instance):
    path = tmp_path / "data.csv"
    _with_blanks().to_csv(path, index=False)
    result = materialize_quality(instance, write_spec(tmp_path, path))
    assert result.success
    clean, bad = accounting(result)
    assert len(bad) == 1 and len(clean) == 299
    meta = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node(
        "validated_customers")}["data_contract"]
    shares = meta["missing_share"].data
    assert shares["monthly_fee"] == pytest.approx(len(BLANKS) / 300, abs=1e-6) and shares["city"] == 0.0
    assert "missing" in meta["roles"].md_str


def test_a_missing_id_or_target_is_still_quarantined(tmp_path):
    df = frame()
    df.loc[3, "acct"] = " "
    df.loc[4, "left"] = "NA"
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    _, _, res = run_core(write_spec(tmp_path, path))
    reasons = dict(zip(res.quarantined["_row"], res.quarantined["_reason"]))
    assert set(reasons) == {3, 4}
    assert reasons[3].startswith("acct: missing value") and reasons[4].startswith("left: missing target")


def test_a_scoring_batch_file_gets_the_same_missing_rule(tmp_path):
    """Daily batches are read with ``read_file`` and validated against the champion's contract."""
    from churn_assets.core.data.sources import read_file
    from churn_assets.core.data.validation import validate

    path = tmp_path / "data.csv"
    frame().to_csv(path, index=False)
    _, contract, _ = run_core(write_spec(tmp_path, path))
    batch = frame(50, seed=9).drop(columns=["left"])
    batch.loc[1, "monthly_fee"] = " "
    batch.loc[2, "plan"] = "NA"
    batch.loc[3, "tenure"] = "-1.5x"  # present but invalid
    batch.to_csv(tmp_path / "2025-01-01.csv", index=False, sep=";")
    res = validate(read_file(str(tmp_path / "2025-01-01.csv")), contract, with_target=False, as_of="2025-01-01")
    assert len(res.clean) + len(res.quarantined) == res.raw_rows == 50
    assert res.quarantined["_row"].tolist() == [3] and "tenure: wrong type" in res.quarantined["_reason"].item()
    clean = res.clean.set_index("acct")
    assert pd.isna(clean.loc["A00001", "monthly_fee"]) and pd.isna(clean.loc["A00002", "plan"])
