import pandas as pd
import pytest

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import REASON, ROW, build_schema, validate


@pytest.fixture(scope="module")
def raw_and_contract():
    spec = synthetic_spec(rows=2000)
    raw = load_raw(spec)
    return raw, resolve_contract(spec, raw)


def _break(raw):
    bad = raw.astype(object).copy()
    bad.loc[3, "total_spent"] = "twelve"            # wrong type
    bad.loc[4, "support_tickets"] = -2              # negative count
    bad.loc[5, "last_login_date"] = "31/02/2025x"   # unparseable date
    bad.loc[6, "churn"] = None                      # missing target
    bad.loc[7, "emails_opened"] = 10_000            # opened > sent
    bad.loc[8, "customer_lifetime_months"] = 0      # lifetime < 1
    bad.loc[9, "total_purchases"] = 2.5             # count that is not whole
    dup = bad.iloc[[10, 11]].copy()                 # duplicate ids (exact and conflicting)
    dup.loc[dup.index[1], "total_spent"] = 1.0
    return pd.concat([bad, dup], ignore_index=True)


def test_every_bad_row_is_quarantined_with_its_reason(raw_and_contract):
    raw, contract = raw_and_contract
    broken = _break(raw)
    res = validate(broken, contract)
    reasons = dict(zip(res.quarantined[ROW], res.quarantined[REASON]))
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 2000, 2001}
    assert "total_spent: wrong type" in reasons[3] and "'twelve'" in reasons[3]
    assert "support_tickets: greater_than_or_equal_to(0)" in reasons[4]
    assert "last_login_date: wrong type" in reasons[5]
    assert "churn: missing target" in reasons[6]
    assert "emails_opened <= emails_sent violated" in reasons[7]
    assert "customer_lifetime_months: greater_than_or_equal_to(1)" in reasons[8]
    assert "total_purchases: is_integer" in reasons[9]
    assert "duplicate id 'C0000010' (first seen at row 10)" in reasons[2000]
    assert "duplicate id 'C0000011' (first seen at row 11)" in reasons[2001]


def test_row_accounting_and_clean_output(raw_and_contract):
    raw, contract = raw_and_contract
    broken = _break(raw)
    res = validate(broken, contract)
    assert len(res.clean) + len(res.quarantined) == res.raw_rows == len(broken)
    assert res.duplicate_rows == 2
    assert res.bad_share == pytest.approx(9 / len(broken))
    build_schema(contract).validate(res.clean)  # the clean table passes the schema as is
    assert res.clean["customer_id"].is_unique
    assert res.clean["churn"].isin([0, 1]).all()
    assert pd.api.types.is_datetime64_any_dtype(res.clean["last_login_date"])
    # The quarantined rows keep the raw values exactly as they arrived.
    assert res.quarantined.loc[res.quarantined[ROW] == 3, "total_spent"].item() == "twelve"


def test_validation_in_chunks_gives_the_same_tables(raw_and_contract, monkeypatch):
    """Bad rows spread over several chunks give the same clean and quarantined tables as one pass."""
    from churn_assets.core.data import validation as quality

    raw, contract = raw_and_contract
    broken = _break(raw.head(40))
    whole = validate(broken, contract)
    monkeypatch.setattr(quality, "CHUNK_ROWS", 5)  # bad rows 3..9 in two chunks, the duplicates in the last
    chunked = validate(broken, contract)
    pd.testing.assert_frame_equal(chunked.clean, whole.clean)
    pd.testing.assert_frame_equal(chunked.quarantined, whole.quarantined)
    assert chunked.reasons == whole.reasons


def test_clean_data_loses_nothing(raw_and_contract):
    raw, contract = raw_and_contract
    res = validate(raw, contract)
    assert len(res.clean) == len(raw) and res.quarantined.empty


def test_missing_column_is_a_clear_error(raw_and_contract):
    raw, contract = raw_and_contract
    with pytest.raises(ValueError, match="emails_sent"):
        validate(raw.drop(columns=["emails_sent"]), contract)
