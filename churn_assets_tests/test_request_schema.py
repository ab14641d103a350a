"""The request model generated from a data contract, without a server, for three contracts (the synthetic
default, the bank file when present, a telecom-like export): strict numbers, categories and dates, the
target and dropped columns refused by name, ``as_of`` an ISO date, a single-record body that is one record,
and an example that is valid by construction (Swagger's "Try it out")."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from pydantic import ValidationError

from churn_assets.model.request_schema import customer_model, example_record

CONTRACTS = ("synthetic", "bank", "telecom")


@pytest.fixture(scope="module", params=CONTRACTS)
def contract(request, tmp_path_factory):
    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets_tests.test_fuzz_contracts import _spec_and_raw

    spec, raw = _spec_and_raw(request.param, tmp_path_factory.mktemp(request.param))
    return resolve_contract(spec, raw)


@pytest.fixture(scope="module")
def model(contract):
    return customer_model(contract)


def _errors(model, record) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as err:
        model.model_validate(record)
    return [(e["loc"], e["type"]) for e in err.value.errors()]


def test_example_is_valid_and_plausible(contract, model):
    from bento.schemas import make_models

    example = example_record(contract)
    record = model.model_validate(example).__dict__
    as_of = dt.date.fromisoformat(contract.as_of) if contract.as_of else None
    for c in contract.columns:
        if c.role == "date":
            assert dt.timedelta(0) <= as_of - record[c.name] <= dt.timedelta(days=366)
        elif c.role == "categorical":
            assert example[c.name] in c.categories
        elif c.role == "numeric":
            v = example[c.name]
            assert isinstance(v, float) and (c.min is None or v >= c.min) and (c.max is None or v <= c.max)
            assert not c.integer or v.is_integer()
    for a, b in contract.column_le:
        assert example[a] <= example[b]
    assert set(example) == {contract.id_column, *contract.feature_columns}
    # The served schema carries it (OAS 3.0 `example`: what Swagger UI prefills), on every request body.
    customer, predict_in, batch_in = make_models(contract)
    assert customer.model_json_schema()["example"] == example
    assert predict_in.model_json_schema()["example"] == {"customer": example}
    assert batch_in.model_json_schema()["example"] == {"customers": [example]}
    predict_in.model_validate(predict_in.model_json_schema()["example"])
    batch_in.model_validate(batch_in.model_json_schema()["example"])


def test_numbers_are_strict(contract, model):
    example = example_record(contract)
    for column in contract.by_role("numeric"):
        for bad in (False, True, "1", "1e3", [1], {"a": 1}):
            assert _errors(model, {**example, column: bad}) == [((column,), "float_type")], (column, bad)
        for bad in (math.nan, math.inf, -math.inf):
            assert _errors(model, {**example, column: bad}) == [((column,), "finite_number")]
        value = example[column]
        assert model.model_validate({**example, column: int(value)}).__dict__[column] == value  # 3 is 3.0
        assert model.model_validate({**example, column: None}).__dict__[column] is None  # missing: imputed


def test_whole_numbers_are_exact(contract, model):
    """pydantic's multiple_of let 2.6e-42 pass for a count (tolerance 2.2e-16); training's rule is exact."""
    example = example_record(contract)
    integers = [c for c in contract.columns if c.role == "numeric" and c.integer]
    assert integers
    for c in integers:
        column = c.name
        tiny = [2.5890419884777833e-42] if c.min is None or c.min <= 0 else []
        for bad in (*tiny, example[column] + 0.5, example[column] + 1e-9):
            assert _errors(model, {**example, column: bad}) == [((column,), "multiple_of")], (column, bad)


def test_categories_and_the_id_are_strings(contract, model):
    example = example_record(contract)
    for column in [*contract.by_role("categorical"), contract.id_column]:
        for bad in (False, 1, 1.5):
            assert _errors(model, {**example, column: bad}) == [((column,), "string_type")], (column, bad)
    assert _errors(model, {**example, contract.id_column: None}) == [((contract.id_column,), "string_type")]


def test_target_and_dropped_columns_are_refused_by_name(contract, model):
    example = example_record(contract)
    not_inputs = [contract.target_column, *contract.by_role("drop")]
    schema = model.model_json_schema()
    for column in not_inputs:
        assert column not in schema["properties"] and column in schema["description"]
        for value in (None, 1, "x"):
            with pytest.raises(ValidationError) as err:
                model.model_validate({**example, column: value})
            (e,) = err.value.errors()
            assert e["loc"] == (column,) and e["type"] == "not_an_input" and column in e["msg"]
    assert "rejected" in schema["description"]
    assert _errors(model, {**example, "not_a_column": 1}) == [(("not_a_column",), "extra_forbidden")]


@pytest.mark.parametrize("bad", [0, 1, 20240101, 1.5, True, "", "2024-1-1", "20240101", "2024-W01-1",
                                 "2024-01-01T00:00:00", "2024-01-01 ", "２０２４-01-01", [2024, 1, 1]])
def test_as_of_and_dates_are_iso_dates(contract, model, bad):
    example = example_record(contract)
    for column in ["as_of", *contract.by_role("date")]:
        assert _errors(model, {**example, column: bad}) == [((column,), "date_type")], (column, bad)


def test_as_of_valid_values(contract, model):
    example = example_record(contract)
    later = (dt.date.fromisoformat(contract.as_of or "2025-01-01") + dt.timedelta(days=5)).isoformat()
    assert model.model_validate({**example, "as_of": later}).as_of == dt.date.fromisoformat(later)
    assert model.model_validate({**example, "as_of": None}).as_of is None
    assert model.model_validate(example).as_of is None  # optional: the model's as-of date
    for column in ["as_of", *contract.by_role("date")]:
        assert _errors(model, {**example, column: "2025-02-30"}) == [((column,), "date_from_datetime_parsing")]
    if contract.by_role("date"):  # a date after the record's as_of breaks a row rule, named in the message
        early = (dt.date.fromisoformat(example[contract.by_role("date")[0]]) - dt.timedelta(days=1)).isoformat()
        with pytest.raises(ValidationError, match="is after the as-of date"):
            model.model_validate({**example, "as_of": early})


def test_row_rules(contract, model):
    example = example_record(contract)
    for a, b in contract.column_le:
        with pytest.raises(ValidationError, match=f"{a} .* must be <= {b}"):
            model.model_validate({**example, a: example[b] + 1})
        assert a in model.model_json_schema()["description"]


def test_single_record_body_is_one_record(contract):
    from bento.schemas import make_explain_in, make_models

    example = example_record(contract)
    customer, predict_in, _ = make_models(contract)
    assert len(predict_in.model_validate({"customer": example}).customer) == 1
    for bad in ([], [example], [example, example], "x", None, 3):
        with pytest.raises(ValidationError) as err:
            predict_in.model_validate({"customer": bad})
        assert err.value.errors()[0]["loc"][0] == "customer", bad
    explain_in = make_explain_in(customer, example)
    assert explain_in.model_validate({"customers": [example]}).k == 3
    for bad in (True, "3", 2.5, 0, 51):
        with pytest.raises(ValidationError, match="k"):
            explain_in.model_validate({"customers": [example], "k": bad})


def test_validated_records_score_without_a_contract_as_of(contract, model):
    """A contract without an as-of date ("" : no date columns) and records mixing as_of and none:
    features._day_number read "" as a date (500 on /predict_batch and /explain)."""
    from churn_assets.model.features import FeatureBuilder, _day_number

    assert math.isnan(_day_number("")) and math.isnan(_day_number("  "))
    example = example_record(contract)
    later = (dt.date.fromisoformat(contract.as_of or "2025-01-01") + dt.timedelta(days=5)).isoformat()
    records = [model.model_validate({**example, "as_of": later}).__dict__, model.model_validate(example).__dict__]
    builder = FeatureBuilder(numeric=contract.by_role("numeric"), categorical=contract.by_role("categorical"),
                             dates=contract.by_role("date"), as_of="")
    cols = builder.columns_from_records(records)
    assert np.isnan(cols["as_of"][1]) and cols["as_of"][0] == _day_number(later)
