"""The compiled request decoder of the lean routes (churn_assets/model/request_decoder.py) against the
served pydantic models, on three contracts (synthetic, the bank file when present, a telecom-like
export): whatever it accepts, pydantic accepts too and holds the very same record (keys in the same
order, same values and types); whatever pydantic refuses, it defers (None), so the error the API
answers stays pydantic's. Bodies: the example, then thousands of seeded mutations of it (wrong types,
bounds, fractions of whole numbers, dates after the as-of date, row rules, unknown, missing,
duplicated and not-an-input fields, odd JSON)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from bento.schemas import MAX_BATCH_RECORDS, make_models
from churn_assets.model.request_decoder import RequestDecoder
from churn_assets.model.request_schema import example_record, not_inputs

CONTRACTS = ("synthetic", "bank", "telecom")
VALUES = [None, 0, 1, -1, 2.5, 3.0000000000000004, 1e300, -1e300, 1e17, 123456789012345678901234567890, True,
          False, "", "x", "1", "2024-01-01", "2024-1-1", "2024-02-30", "9999-12-31", "0001-01-01",
          "2024-01-01T00:00:00", [], [1], {}, {"a": 1}, 0.1, 99.99999999999999, 100.00000000000001]


@pytest.fixture(scope="module", params=CONTRACTS)
def setup(request, tmp_path_factory):
    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets_tests.test_fuzz_contracts import _spec_and_raw

    spec, raw = _spec_and_raw(request.param, tmp_path_factory.mktemp(request.param))
    contract = resolve_contract(spec, raw)
    _, predict_in, batch_in = make_models(contract)
    return contract, predict_in, batch_in, RequestDecoder(contract, MAX_BATCH_RECORDS)


def _typed(record: dict) -> list:
    return [(k, type(v).__name__, v) for k, v in record.items()]


def _pydantic(model, body: bytes, key: str):
    try:
        return [c.__dict__ for c in getattr(model.model_validate_json(body or b"{}"), key)]
    except ValidationError:
        return None


def _mutations(contract, rng, n: int):
    example = example_record(contract)
    names = list(example)
    dates = [c.name for c in contract.columns if c.role == "date"]
    unused = list(not_inputs(contract))
    for _ in range(n):
        record = dict(example)
        for _ in range(rng.integers(1, 4)):
            kind = rng.integers(0, 10)
            name = names[rng.integers(0, len(names))]
            if kind <= 4:
                record[name] = VALUES[rng.integers(0, len(VALUES))]
            elif kind == 5:
                record.pop(name, None)
            elif kind == 6:
                record["as_of"] = str(rng.choice(["2020-01-01", "2030-06-30", contract.as_of or "2024-01-01", ""]))
            elif kind == 7 and dates:
                record[dates[rng.integers(0, len(dates))]] = "2031-01-01"  # after any as-of date
            elif kind == 8:
                record[str(rng.choice(["unknown_field", *unused]))] = 1
            elif isinstance(record.get(name), float):
                record[name] = float(rng.normal(0, 50))  # breaks bounds and row rules now and then
        yield record


def test_the_example_decodes_to_pydantics_record(setup):
    contract, predict_in, _, decoder = setup
    body = json.dumps({"customer": example_record(contract)}).encode()
    fast = decoder.single(body)
    assert fast is not None and _typed(fast[0]) == _typed(_pydantic(predict_in, body, "customer")[0])


def test_accepts_only_what_pydantic_accepts_and_holds_the_same_record(setup):
    contract, predict_in, _, decoder = setup
    rng = np.random.default_rng(20261204)
    accepted = deferred = 0
    for record in _mutations(contract, rng, 3000):
        body = json.dumps({"customer": record}).encode()
        fast, slow = decoder.single(body), _pydantic(predict_in, body, "customer")
        if fast is None:
            deferred += 1
            continue
        accepted += 1
        assert slow is not None, f"the decoder accepted what pydantic refuses: {record}"
        assert _typed(fast[0]) == _typed(slow[0]), record
    assert accepted > 100 and deferred > 1000  # both sides of the decision were exercised


@pytest.mark.parametrize("body", [b"", b"{}", b"[]", b"null", b"{bad", b'{"customer": []}', b'{"customer": null}',
                                  b'{"customer": [{}]}', b'{"customer": {"a": NaN}}', b'{"customers": 1}'])
def test_odd_bodies_are_deferred(setup, body):
    _, _, _, decoder = setup
    assert decoder.single(body) is None and decoder.batch(body) is None


def test_duplicate_keys_and_extra_envelope_keys_read_as_pydantic_reads_them(setup):
    contract, predict_in, _, decoder = setup
    example = json.dumps(example_record(contract))
    body = (example[:-1] + f', {json.dumps(contract.id_column)}: "last-wins"}}').join(['{"customer": ', ', "x": 1}'])
    fast, slow = decoder.single(body.encode()), _pydantic(predict_in, body.encode(), "customer")
    assert fast is not None and slow is not None and _typed(fast[0]) == _typed(slow[0])
    assert fast[0][contract.id_column] == "last-wins"


def test_batches_defer_as_a_whole_and_respect_the_cap(setup):
    contract, _, batch_in, decoder = setup
    rng = np.random.default_rng(7)
    records = list(_mutations(contract, rng, 400))
    valid = [r for r in records if decoder.single(json.dumps({"customer": r}).encode()) is not None][:50]
    body = json.dumps({"customers": valid}).encode()
    fast = decoder.batch(body)
    assert len(valid) >= 10 and fast is not None
    assert [_typed(r) for r in fast] == [_typed(r) for r in _pydantic(batch_in, body, "customers")]
    assert decoder.batch(json.dumps({"customers": [*valid, records[0] | {"unknown_field": 1}]}).encode()) is None
    assert decoder.batch(json.dumps({"customers": []}).encode()) == []
    over = json.dumps({"customers": [valid[0]] * (MAX_BATCH_RECORDS + 1)}).encode()
    assert decoder.batch(over) is None and _pydantic(batch_in, over, "customers") is None


def test_column_names_that_are_not_identifiers(setup):
    """User files have columns such as "Total Charges" or "class": the struct then renames its fields."""
    from dataclasses import replace

    contract, _, _, _ = setup
    renamed = {c.name: f"{c.name} x" if i % 2 else "class" if i == 2 else c.name for i, c in enumerate(contract.columns)}
    other = replace(contract, columns=[replace(c, name=renamed[c.name]) for c in contract.columns],
                    column_le=[(renamed[a], renamed[b]) for a, b in contract.column_le])
    _, predict_in, _ = make_models(other)
    decoder = RequestDecoder(other, MAX_BATCH_RECORDS)
    body = json.dumps({"customer": example_record(other)}).encode()
    fast = decoder.single(body)
    assert fast is not None and _typed(fast[0]) == _typed(_pydantic(predict_in, body, "customer")[0])
