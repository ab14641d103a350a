"""Every data contract's Bento, fuzzed: the request schema is generated from the contract, so the synthetic
Bento alone proved little ("first hour of a new user", items 2 and 5). For three contracts (the synthetic
default, the bank file, and a telecom-like export written here with categoricals, dates, blanks, booleans, a
row counter, free text and a row rule) a real Bento is built (the Pipeline's own steps fitted directly, no
Dagster run: serving_fixtures.contract_bento) and served on loopback, then:

* Schemathesis with all its checks (positive data accepted, negative data rejected, response schemas,
  status codes, auth, ...) must find nothing; the one excused warning is "Schema validation mismatch" on
  the batch routes, and only because the OpenAPI description names the cross-field rules behind it;
* the gRPC fuzzer must get only OK or INVALID_ARGUMENT;
* the issue's defects, each on HTTP and gRPC: ``"as_of": 0``, ``{"customer": []}``, ``false`` for a
  number, the target and dropped columns; Swagger's prefilled examples answer 200; valid records score
  bit-identically to the Pipeline;
* the server log has no traceback.

Schemathesis' positive data is generated from JSON Schema, which cannot state a cross-field rule
(``dropped_calls <= calls``, dates not after ``as_of``); the ``map_case`` hook below (loaded by the
Schemathesis CLI through SCHEMATHESIS_HOOKS, with the rules in CHURN_FUZZ_RULES) makes positive cases
keep the rules the description states, as a client reading it would. Negative cases are left alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

RULES_ENV = "CHURN_FUZZ_RULES"


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _iso(v) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v) is not None


def keep_row_rules(record, rules: dict) -> None:
    """A generated record, changed in place to keep the contract's cross-field rules."""
    if not isinstance(record, dict):
        return
    for a, b in rules["le"]:
        if _number(record.get(a)) and _number(record.get(b)) and record[a] > record[b]:
            record[a] = record[b]
    ref = record.get("as_of") if _iso(record.get("as_of")) else rules["as_of"]
    if ref:
        for d in rules["dates"]:
            if _iso(record.get(d)) and record[d] > ref:
                record[d] = ref


if os.environ.get(RULES_ENV):  # imported by the Schemathesis CLI (SCHEMATHESIS_HOOKS), never by pytest
    import schemathesis

    _RULES = json.loads(os.environ[RULES_ENV])

    @schemathesis.hook
    def map_case(context, case):
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
            return case
        customers = case.body.get("customers")
        for record in [case.body.get("customer"), *(customers if isinstance(customers, list) else [])]:
            keep_row_rules(record, _RULES)
        return case

import grpc  # after the hook, which is all the CLI needs; conftest is imported lazily (its side effects)
import httpx
import numpy as np
import pandas as pd

from churn_assets_tests.serving_fixtures import (
    PROJECT_ROOT,
    bento_server,
    contract_bento,
    grpc_codes,
    grpc_fuzz,
    json_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "fuzz-key-5c1d2e3f4a"
AUTH = {"Authorization": f"Bearer {KEY}"}
CONTRACTS = ("synthetic", "bank", "telecom")
MAX_EXAMPLES = 25  # per operation and phase: ~600-900 cases per contract, ~20 s on 2 shared cores
GRPC_CALLS = 500
BATCH_ROUTES = {"POST /explain", "POST /predict_batch"}


def telecom_csv(path: Path, rows: int = 600, seed: int = 20261203) -> Path:
    """A telecom-like export: categoricals, ISO dates, blanks, booleans written as True/False, a 0/1 flag,
    a row counter and free text (both dropped by inference), a Yes/No target and a row rule."""
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp("2025-03-31")
    tenure = rng.integers(1, 72, rows)
    calls = rng.poisson(25, rows)
    dropped = rng.binomial(calls, 0.08)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    paperless = rng.choice(["True", "False"], rows)
    logit = -1.0 + 0.9 * (plan == "basic") - 0.03 * tenure + 0.08 * dropped + 0.6 * (paperless == "True")
    df = pd.DataFrame({
        "account": [f"T{100000 + i}" for i in range(rows)],
        "row": np.arange(1, rows + 1),
        "notes": [f"call note {n}" for n in rng.integers(0, 10**9, rows)],
        "plan": plan, "region": rng.choice(["north", "south", "east", "west"], rows),
        "paperless_billing": paperless, "senior": rng.integers(0, 2, rows),
        "signup_date": (as_of - pd.to_timedelta(tenure * 30 + rng.integers(0, 30, rows), "D")).strftime("%Y-%m-%d"),
        "last_call_date": (as_of - pd.to_timedelta(rng.integers(0, 90, rows), "D")).strftime("%Y-%m-%d"),
        "tenure_months": tenure, "monthly_charges": rng.gamma(3.0, 20.0, rows).round(2),
        "calls": calls, "dropped_calls": dropped,
        "Churn": np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "Yes", "No"),
    })
    for col, share in (("region", 0.06), ("monthly_charges", 0.05), ("last_call_date", 0.04),
                       ("paperless_billing", 0.03)):
        df.loc[rng.random(rows) < share, col] = None  # blank cells
    df.to_csv(path, index=False)
    return path


def _spec_and_raw(name: str, workdir: Path):
    from churn_assets.core.data.sources import load_raw
    from churn_assets.core.data.spec import DatasetSpec, SourceSpec, load_spec, synthetic_spec
    from churn_assets_tests.conftest import BANK_CSV

    if name == "synthetic":
        spec = synthetic_spec(rows=1500, seed=7)
    elif name == "bank":
        if not BANK_CSV.is_file():
            pytest.skip(f"{BANK_CSV} is absent (the shared data folder ships beside the repo)")
        spec = load_spec(Path(PROJECT_ROOT) / "examples" / "bank_churn.yaml")
        spec.source.path = str(BANK_CSV)
    else:
        spec = DatasetSpec(name="telecom_export", source=SourceSpec(kind="file", path=str(
            telecom_csv(workdir / "telecom_export.csv"))), id_column="account", target_column="Churn",
            positive_label="Yes", column_le=[("dropped_calls", "calls")])
    return spec, load_raw(spec)


@pytest.fixture(scope="module", params=CONTRACTS)
def bento(request, tmp_path_factory):
    """One real Bento per contract, served on loopback (one worker, API keys on) while its tests run."""
    import bentoml

    from churn_assets.model.scorer import records_to_frame

    name = request.param
    workdir = tmp_path_factory.mktemp(f"fuzz-{name}")
    spec, raw = _spec_and_raw(name, workdir)
    built = contract_bento(spec, raw, f"fuzz-{name}")
    contract = built["contract"]
    records = json_records(built["splits"].test.head(30), contract)
    expected = built["pipeline"].predict_proba(records_to_frame(records, contract))[:, 1]
    env = {"CHURN_API_KEYS": KEY, "CHURN_SERVING_WORKERS": "1"}
    with bento_server(built["bento_tag"], workdir, env) as server:
        doc = httpx.get(server.http + "/docs.json", headers=AUTH, timeout=10).json()
        yield {"name": name, "server": server, "contract": contract, "records": records, "expected": expected,
               "doc": doc, "workdir": workdir, "model": bentoml.models.get(built["model_tag"])}


def _post(b, path, body):
    return httpx.post(b["server"].http + path, json=body, headers=AUTH, timeout=30)


def _grpc(b, method: str, message):
    from bento import churn_pb2

    channel = grpc.insecure_channel(b["server"].grpc)
    try:
        reply = {"Predict": churn_pb2.Prediction, "PredictBatch": churn_pb2.PredictBatchResponse,
                 "Explain": churn_pb2.ExplainResponse}[method]
        call = channel.unary_unary(f"/churn.v1.ChurnPredictor/{method}", response_deserializer=reply.FromString)
        return call(message.SerializeToString(), metadata=(("x-api-key", KEY),), timeout=10)
    finally:
        channel.close()


def _grpc_error(b, method: str, message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        _grpc(b, method, message)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return err.value


def _requests(record: dict):
    from bento import churn_pb2
    from bento.client import to_struct

    s = to_struct(record)
    return {"Predict": churn_pb2.PredictRequest(customer=s),
            "PredictBatch": churn_pb2.PredictBatchRequest(customers=[s]),
            "Explain": churn_pb2.ExplainRequest(customers=[s], k=2)}


def _bodies(record: dict) -> dict[str, dict]:
    return {"/predict": {"customer": record}, "/predict_batch": {"customers": [record]},
            "/explain": {"customers": [record], "k": 2}}


def _rejects(r, field: str, rule: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "validation_error" and field in body["message"], body
    assert any(d["loc"][-1] == field and d["type"] == rule for d in body["detail"]), body


# -- the defects, on HTTP and gRPC --------------------------------------------------------------------------

def test_valid_records_score_like_the_pipeline(bento):
    r = _post(bento, "/predict_batch", {"customers": bento["records"]})
    assert r.status_code == 200, r.text
    assert np.array_equal([p["churn_probability"] for p in r.json()], bento["expected"])
    one = _post(bento, "/predict", {"customer": bento["records"][0]})
    assert one.status_code == 200 and one.json()["churn_probability"] == bento["expected"][0]
    from bento import churn_pb2
    from bento.client import to_struct

    got = _grpc(bento, "PredictBatch", churn_pb2.PredictBatchRequest(customers=[to_struct(r) for r in bento["records"]]))
    assert np.array_equal([p.churn_probability for p in got.predictions], bento["expected"])


def test_as_of_must_be_an_iso_date(bento):
    record = bento["records"][0]
    for bad in (0, 20240101, "2024-1-1", "20240101", "2024-W01-1", "2024-01-01T00:00:00", True, "", "2024-02-30"):
        for path, body in _bodies({**record, "as_of": bad}).items():
            r = _post(bento, path, body)
            assert r.status_code == 400 and "as_of" in r.json()["message"], (path, bad, r.text)
        if not isinstance(bad, bool | int):  # Struct numbers are floats; bools are covered by the fuzzer
            for method, message in _requests({**record, "as_of": bad}).items():
                assert "as_of" in _grpc_error(bento, method, message).details()
    for method, message in _requests({**record, "as_of": 0}).items():
        assert "as_of" in _grpc_error(bento, method, message).details()
    # A batch that mixes records with and without as_of (500 "Invalid isoformat string: ''" on a contract
    # without an as-of date): a date after every record's dates is valid.
    later = (pd.Timestamp(bento["contract"].as_of or "2025-01-01") + pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    mixed = [{**record, "as_of": later}, *bento["records"][1:3]]
    for path in ("/predict_batch", "/explain"):
        assert _post(bento, path, {"customers": mixed}).status_code == 200


def test_single_record_route_rejects_a_list(bento):
    record = bento["records"][0]
    for customer in ([], [record], [record, record], "x", None, 3):
        r = _post(bento, "/predict", {"customer": customer})
        assert r.status_code == 400 and "customer" in r.json()["message"], (customer, r.text)


def test_numbers_are_strict(bento):
    contract, record = bento["contract"], bento["records"][0]
    for column in contract.by_role("numeric"):
        for bad in (False, True, "1", "1e3"):
            _rejects(_post(bento, "/predict", {"customer": {**record, column: bad}}), column, "float_type")
        message = _requests({**record, column: False})["Predict"]
        assert column in _grpc_error(bento, "Predict", message).details()
    for column in contract.by_role("categorical")[:2]:  # a category is a string, not a bool or a number
        for bad in (False, 1):
            _rejects(_post(bento, "/predict", {"customer": {**record, column: bad}}), column, "string_type")


def test_target_and_dropped_columns_are_rejected_and_not_documented(bento):
    contract, record = bento["contract"], bento["records"][0]
    not_inputs = [contract.target_column] + contract.by_role("drop")
    schema = bento["doc"]["components"]["schemas"]["Customer"]
    for column in not_inputs:
        assert column not in schema["properties"]
        assert column in bento["doc"]["info"]["description"]  # the description says they are rejected
        for path, body in _bodies({**record, column: 1}).items():
            _rejects(_post(bento, path, body), column, "not_an_input")
        for method, message in _requests({**record, column: 1}).items():
            details = _grpc_error(bento, method, message).details()
            assert column in details and "not_an_input" in details
    assert "rejected" in bento["doc"]["info"]["description"]


def test_swagger_examples_are_valid_requests(bento):
    """Swagger UI's "Try it out" sends the request body's example as prefilled: it must answer 200."""
    from churn_assets.model.request_schema import customer_model

    contract = bento["contract"]
    example = bento["doc"]["components"]["schemas"]["Customer"]["example"]
    customer_model(contract).model_validate(example)
    for column in contract.by_role("date"):
        gap = pd.Timestamp(contract.as_of) - pd.Timestamp(example[column])
        assert pd.Timedelta(0) <= gap <= pd.Timedelta(days=366), (column, example[column])
    for column in contract.by_role("categorical"):
        assert example[column] in contract.column(column).categories
    for route in ("/predict", "/predict_batch", "/explain"):
        body = bento["doc"]["paths"][route]["post"]["requestBody"]
        assert body["required"] is True
        sample = body["content"]["application/json"]["schema"]["example"]
        r = _post(bento, route, sample)
        assert r.status_code == 200, (route, r.text)


# -- fuzzing -----------------------------------------------------------------------------------------------

def _schemathesis(bento, tmp_path: Path, seed: int) -> str:
    contract = bento["contract"]
    rules = {"le": [list(p) for p in contract.column_le], "dates": contract.by_role("date"), "as_of": contract.as_of}
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "churn_assets_tests.test_fuzz_contracts", RULES_ENV: json.dumps(rules),
           "PYTHONPATH": os.pathsep.join([PROJECT_ROOT, os.environ.get("PYTHONPATH", "")])}
    cli = Path(sys.executable).parent / "schemathesis"
    args = [str(cli), "run", bento["server"].http + "/docs.json", "-H", f"Authorization: Bearer {KEY}",
            "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(seed), "--workers", "2",
            "--request-timeout", "20", "--no-color", "--max-failures", "20"]
    for _ in range(2):
        proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
        out = proc.stdout + proc.stderr
        # Hypothesis, describing a slow recursive draw (a loaded host), iterates sys.modules while
        # schemathesis's other worker thread imports a module: its own RuntimeError, not a finding
        # about the service. Seen once in a full suite (2026-12-04); the same seeded run again.
        if "dictionary changed size during iteration" not in out:
            break
    return out


def _excused(out: str, description: str, contract) -> bool:
    """No issue, or only "Schema validation mismatch" on the batch routes with every rule described."""
    if "No issues found" in out:
        return True
    warnings = [line.strip() for line in out.splitlines() if line.strip().startswith("⚠")]
    routes = set(re.findall(r"^\s+- ((?:GET|POST|PUT|PATCH|DELETE) \S+)$", out, re.MULTILINE))
    rules = [f"{a} <= {b}" for a, b in contract.column_le] + (["every date <= as_of"] if contract.by_role("date")
                                                                else [])
    return (bool(warnings) and all("Schema validation mismatch" in w for w in warnings) and routes <= BATCH_ROUTES
            and bool(rules) and all(rule in description for rule in rules))


def test_schemathesis_all_checks(bento, tmp_path):
    started = time.monotonic()
    out = _schemathesis(bento, tmp_path, seed=20261203)
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    assert cases and cases.group(1) == cases.group(2), out[-6000:]
    assert re.search(r"Tested: 8\b", out) and _excused(out, bento["doc"]["info"]["description"], bento["contract"]), \
        out[-6000:]
    assert int(cases.group(1)) >= 300, out[-2000:]
    verdict = "no issues" if "No issues found" in out else "excused: Schema validation mismatch on " + ", ".join(
        sorted(set(re.findall(r"^\s+- ((?:GET|POST|PUT|PATCH|DELETE) \S+)$", out, re.MULTILINE))))
    print(f"{bento['name']}: schemathesis {cases.group(1)} cases in {time.monotonic() - started:.0f} s, {verdict}")


def test_grpc_fuzz_only_ok_or_invalid_argument(bento):
    before = grpc_codes(bento["server"].http)
    contract = bento["contract"]
    codes = grpc_fuzz(bento["server"].grpc, bento["records"], GRPC_CALLS, (("x-api-key", KEY),), seed=5,
                      extra_fields=("as_of", contract.target_column, *contract.by_role("drop")))
    after = grpc_codes(bento["server"].http)
    assert set(codes) <= {"OK", "INVALID_ARGUMENT"}, codes
    assert codes.get("OK", 0) >= 10 and codes.get("INVALID_ARGUMENT", 0) > 150, codes
    print(f"{bento['name']}: gRPC fuzz {codes}")
    assert after.get("INTERNAL", 0) == before.get("INTERNAL", 0), (before, after)


def test_server_log_has_no_traceback(bento):
    """Runs last for each contract: nothing a client sent above left a traceback or an error in the log."""
    log = Path(bento["server"].log_path).read_text()
    assert "rejected POST /predict: 400 validation_error" in log  # the log did record the refusals
    assert "Traceback" not in log and "[ERROR]" not in log, log[-4000:]
