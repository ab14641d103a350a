"""The Bento facing the internet, served for real with API keys and the prediction log on:
keys (env, file, rotation, constant-time, never logged), no 5xx for anything a client can send
(content types, body cap, error model, quiet logs, metrics by reason, schemathesis, gRPC fuzz),
and every prediction in the prediction log under the id the client got back."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import re
import subprocess
import sys
import time
from pathlib import Path

import bentoml
import grpc
import httpx
import numpy as np
import pytest

from bento.client import ChurnClient
from bento.schemas import ErrorResponse
from churn_assets.model import prediction_log
from churn_assets.model.contract import DataContract
from churn_assets.model.scorer import records_to_frame
from churn_assets_tests.serving_fixtures import bento_server, grpc_codes, grpc_fuzz, json_records, metric, ring

pytestmark = pytest.mark.integration

ENV_KEYS = ["env-key-3f9c1e7a5b2d", "env-key-rotating-8a7b6c"]
KEY_RELOAD_S = 0.5
FILE_KEY, ROTATED_KEY, WRONG_KEY = "file-key-0d1e2f3a4b5c", "file-key-rotated-77aa55", "wrong-key-6e6e6e6e"
ROUTES = ("/predict", "/predict_batch", "/explain", "/model_info")
RECYCLE = 7
GRPC_MAX_AGE_S = 1.5


@pytest.fixture(scope="module")
def edge(trained, tmp_path_factory):
    bento = trained["bento"]
    workdir = tmp_path_factory.mktemp("edge")
    key_file = workdir / "api-keys"
    key_file.write_text(f"# mounted Secret\n{FILE_KEY}\n")
    env = {"CHURN_API_KEYS": ",".join(ENV_KEYS), "CHURN_API_KEY_FILE": str(key_file),
           "CHURN_API_KEY_RELOAD_S": str(KEY_RELOAD_S),  # the rotation test polls for this, it does not sleep
           "CHURN_ACCESS_LOG": "true",  # access log on: the never-logged test then covers it too
           "CHURN_HTTP_RECYCLE_EVERY": str(RECYCLE), "CHURN_GRPC_MAX_CONNECTION_AGE_S": str(GRPC_MAX_AGE_S)}
    with bento_server(bento["bento_tag"], workdir, env) as server:
        model = bentoml.models.get(bento["model_tag"])
        contract = DataContract.from_json(model.info.metadata["contract"])
        records = json_records(trained["splits"].test.head(40), contract)
        expected = bentoml.sklearn.load_model(model).predict_proba(records_to_frame(records, contract))[:, 1]
        yield {"server": server, "base": server.http, "records": records, "expected": expected,
               "key_file": key_file, "contract": contract}


def _auth(key=ENV_KEYS[0]):
    return {"Authorization": f"Bearer {key}"}


def _post(base, path, body=None, headers=None, **kw):
    return httpx.post(base + path, json=body, headers=headers or {}, timeout=30, **kw)


def _error(r) -> ErrorResponse:
    """The body is the documented error model, and its id is the response's X-Request-ID."""
    err = ErrorResponse.model_validate_json(r.content)
    assert err.request_id == r.headers["x-request-id"]
    return err


# -- API keys --------------------------------------------------------------------------------------

def test_http_keys_bearer_header_file_and_open_paths(edge):
    base, record = edge["base"], edge["records"][0]
    for headers in (_auth(ENV_KEYS[0]), {"X-API-Key": ENV_KEYS[1]}, _auth(FILE_KEY), {"x-api-key": FILE_KEY}):
        r = _post(base, "/predict", {"customer": record}, headers)
        assert r.status_code == 200, r.text
        assert re.fullmatch(r"[0-9a-f]{24}", r.headers["x-request-id"])
    for headers in ({}, _auth(WRONG_KEY), {"X-API-Key": WRONG_KEY}, {"Authorization": f"Basic {ENV_KEYS[0]}"},
                    _auth(ENV_KEYS[0][:-1]), _auth(ENV_KEYS[0] + "x")):
        r = _post(base, "/predict", {"customer": record}, headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert _error(r).error == "unauthenticated"
    assert _post(base, "/explain", {"customers": [record]}).status_code == 401  # explanations need a key too
    r = _post(base, "/explain", {"customers": [record]}, _auth(FILE_KEY))
    assert r.status_code == 200 and len(r.json()[0]["contributions"]) == 3
    for path in ("/healthz", "/livez", "/readyz", "/metrics"):  # probes and metrics stay open
        assert httpx.get(base + path, timeout=10).status_code == 200, path
    assert httpx.get(base + "/docs.json", timeout=10).status_code == 401
    assert httpx.get(base + "/docs.json", headers=_auth(), timeout=10).status_code == 200


def test_unauthenticated_calls_never_reach_the_batcher(edge):
    base, record = edge["base"], edge["records"][0]
    before = metric(base, "bentoml_service_adaptive_batch_size_count")
    rejected = metric(base, "churn_rejected_requests_total", reason="unauthenticated", transport="http")
    with cf.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _post(base, "/predict", {"customer": record}, _auth(WRONG_KEY)).status_code,
                              range(40)))
    with ChurnClient(edge["server"].grpc, api_key=WRONG_KEY) as client:
        for _ in range(10):
            with pytest.raises(grpc.RpcError) as err:
                client.predict(record)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert codes == [401] * 40
    assert metric(base, "bentoml_service_adaptive_batch_size_count") == before
    assert metric(base, "churn_rejected_requests_total", reason="unauthenticated", transport="http") - rejected == 40


def test_grpc_keys_in_metadata(edge):
    record, target = edge["records"][0], edge["server"].grpc
    with ChurnClient(target, api_key=FILE_KEY) as client:
        assert client.predict(record)["customer_id"] == record[edge["contract"].id_column]
        assert re.fullmatch(r"[0-9a-f]{24}", client.last_request_id)
        assert client.health() == "SERVING"
    channel = grpc.insecure_channel(target)
    predict = channel.unary_unary("/churn.v1.ChurnPredictor/Predict")
    from bento import churn_pb2
    from bento.client import to_struct

    payload = churn_pb2.PredictRequest(customer=to_struct(record)).SerializeToString()
    assert churn_pb2.Prediction.FromString(predict(payload, metadata=(("x-api-key", ENV_KEYS[1]),), timeout=10))
    for metadata in (None, (("x-api-key", WRONG_KEY),), (("authorization", f"Bearer {WRONG_KEY}"),)):
        with pytest.raises(grpc.RpcError) as err:
            predict(payload, metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with ChurnClient(target, api_key=WRONG_KEY) as client, pytest.raises(grpc.RpcError) as err:
        client.explain([record])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with ChurnClient(target) as client:  # health stays open: probes carry no key
        assert client.health() == "SERVING"
    channel.close()


def test_key_file_rotation_without_restart(edge):
    base, record = edge["base"], edge["records"][0]
    edge["key_file"].write_text(f"{ROTATED_KEY}\n")
    deadline = time.monotonic() + 20
    while _post(base, "/predict", {"customer": record}, _auth(ROTATED_KEY)).status_code != 200:
        assert time.monotonic() < deadline, "the rotated key file was never re-read"
        time.sleep(0.5)
    # Every worker re-reads it within KEY_RELOAD_S (the kernel spreads new connections over the workers):
    # poll until the removed key has been refused by enough consecutive calls to have met every worker.
    refused, deadline = 0, time.monotonic() + 20
    while refused < 8:
        code = _post(base, "/predict", {"customer": record}, _auth(FILE_KEY)).status_code
        assert code in (200, 401) and time.monotonic() < deadline, "the removed key is still accepted"
        refused = refused + 1 if code == 401 else 0
    assert _post(base, "/predict", {"customer": record}, _auth(ENV_KEYS[0])).status_code == 200


# -- no 5xx for anything a client can send -------------------------------------------------------

def test_content_types_sizes_and_the_error_model(edge):
    base, record = edge["base"], edge["records"][0]
    before = {r: metric(base, "churn_rejected_requests_total", reason=r)
              for r in ("unsupported_media_type", "body_too_large", "invalid_json", "validation_error")}
    ids = []
    for path in ROUTES:  # BentoML answered 500 to a multipart type without a boundary on every route
        for ctype in ("multipart/form-data", "multipart/form-data; boundary=", "text/plain", "application/xml"):
            r = httpx.post(base + path, content=b"--x\r\n", headers={**_auth(), "content-type": ctype}, timeout=10)
            assert r.status_code == 415, (path, ctype, r.text)
            assert _error(r).error == "unsupported_media_type"
            ids.append(r.headers["x-request-id"])
    big = b"{" + b" " * 9_000_000 + b"}"
    r = httpx.post(base + "/predict_batch", content=big, headers={**_auth(), "content-type": "application/json"},
                   timeout=30)
    assert r.status_code == 413 and _error(r).error == "body_too_large" and "CHURN_MAX_BODY_BYTES" in r.text
    chunked = httpx.post(base + "/predict_batch", content=(b" " * 1_000_000 for _ in range(10)),
                         headers={**_auth(), "content-type": "application/json"}, timeout=30)
    assert chunked.status_code == 413  # no Content-Length: counted while reading
    r = httpx.post(base + "/predict", content=b"{not json", headers={**_auth(), "content-type": "application/json"},
                   timeout=10)
    assert r.status_code == 400 and _error(r).error == "invalid_json"
    r = _post(base, "/predict", {"customer": {**record, "total_spent": -5}}, _auth())
    err = _error(r)
    assert r.status_code == 400 and err.error == "validation_error" and "total_spent" in err.message
    assert [d.loc for d in err.detail] == [["customer", 0, "total_spent"]] and err.detail[0].type == "greater_than_equal"
    ids += [r.headers["x-request-id"]]
    after = {r: metric(base, "churn_rejected_requests_total", reason=r) for r in before}
    assert after["unsupported_media_type"] - before["unsupported_media_type"] == 4 * len(ROUTES)
    assert after["body_too_large"] - before["body_too_large"] == 2
    assert after["invalid_json"] - before["invalid_json"] == 1
    assert after["validation_error"] - before["validation_error"] == 1
    log = Path(edge["server"].log_path).read_text()
    for rid in ids:  # logged once, at INFO, no traceback
        lines = [line for line in log.splitlines() if rid in line and "rejected" in line]
        assert len(lines) == 1 and "[INFO]" in lines[0], lines
    assert "Traceback" not in log and "[ERROR]" not in log


def test_openapi_documents_the_error_model(edge):
    doc = httpx.get(edge["base"] + "/docs.json", headers=_auth(), timeout=10).json()
    schema = doc["components"]["schemas"]["ErrorResponse"]
    assert schema["properties"]["detail"]["type"] == "array" and set(schema["required"]) >= {"error", "request_id"}
    for path in ROUTES:
        responses = doc["paths"][path]["post"]["responses"]
        for status in ("400", "401", "413", "415"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"}, (path, status)
        assert "X-Request-ID" in responses["200"]["headers"]
    assert doc["components"]["securitySchemes"]["apiKeyHeader"]["name"] == "X-API-Key"


def test_schemathesis_property_based_run(edge, tmp_path):
    """>= 1,000 generated cases over every route of the served OpenAPI: no 5xx, every response
    conforms to its documented schema and content type, and auth is never ignored. (How many cases
    one seeded run generates varies with the seed, so seeded runs are added until 1,000.)"""
    cli = Path(sys.executable).parent / "schemathesis"
    checks = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance," \
             "ignored_auth"
    total = 0
    for seed in (20261127, 2, 3, 4, 5):
        proc = subprocess.run([str(cli), "run", edge["base"] + "/docs.json", "-H",
                               f"Authorization: Bearer {ENV_KEYS[0]}", "--checks", checks, "--max-examples", "300",
                               "--seed", str(seed), "--workers", "2", "--request-timeout", "20", "--no-color"],
                              check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        out = proc.stdout + proc.stderr
        cases = re.search(r"(\d+) generated, (\d+) passed", out)
        assert proc.returncode == 0 and cases and _no_issues(out), out[-4000:]
        assert cases.group(1) == cases.group(2) and re.search(r"Tested: 8\b", out), out[-2000:]  # all 8 routes
        total += int(cases.group(1))
        if total >= 1000:
            break
    assert total >= 1000
    assert "Traceback" not in Path(edge["server"].log_path).read_text()


# A contract's cross-field rules (``column_le``: e.g. emails_opened <= emails_sent) cannot be written in
# JSON Schema, so random batches of records for /explain and /predict_batch mostly break one and get
# a 422 naming the field: the right answer. Schemathesis then warns "Schema validation mismatch" (a
# heuristic on the share of 4xx; seen once in a clean-clone CI run). That one warning, for those
# batch routes only, is accepted; any other warning fails the run.
BATCH_ROUTES = {"POST /explain", "POST /predict_batch"}


def _no_issues(out: str) -> bool:
    if "No issues found" in out:
        return True
    warnings = [line.strip() for line in out.splitlines() if line.strip().startswith("⚠")]
    routes = set(re.findall(r"^\s+- ((?:GET|POST|PUT|PATCH|DELETE) \S+)$", out, re.MULTILINE))
    return bool(warnings) and all("Schema validation mismatch" in w for w in warnings) and routes <= BATCH_ROUTES


def test_grpc_fuzz_never_internal_or_unknown(edge):
    """1,600 calls: random Structs, real records with fields mutated or dropped, garbage bytes."""
    before = grpc_codes(edge["base"])
    codes = grpc_fuzz(edge["server"].grpc, edge["records"], 1600, (("x-api-key", ENV_KEYS[0]),))
    after = grpc_codes(edge["base"])
    assert set(codes) <= {"OK", "INVALID_ARGUMENT"}, codes
    # Types are strict (a bool or a numeric string for a number is refused), so fewer mutants pass than before.
    assert codes.get("OK", 0) > 25 and codes.get("INVALID_ARGUMENT", 0) > 500, codes
    assert after.get("INTERNAL", 0) == before.get("INTERNAL", 0), (before, after)


# -- the prediction log ----------------------------------------------------------------------------

def _log_rows(url: str, want: set[str], timeout_s: float = 15):
    import datetime as dt

    deadline = time.monotonic() + timeout_s
    while True:
        df = prediction_log.read_day(url, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"))
        rows = df[df["request_id"].isin(want)] if len(df) else df
        if len(rows) and set(rows["request_id"]) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def test_every_served_prediction_is_logged_under_its_request_id(edge):
    base, records, expected = edge["base"], edge["records"], edge["expected"]
    idc = edge["contract"].id_column
    with cf.ThreadPoolExecutor(16) as pool:  # concurrent single calls: they share batches
        singles = list(pool.map(lambda r: _post(base, "/predict", {"customer": r}, _auth()), records))
    batch = _post(base, "/predict_batch", {"customers": records}, {"X-API-Key": ENV_KEYS[1]})
    with ChurnClient(edge["server"].grpc, api_key=ENV_KEYS[0]) as client:
        client.predict(records[0])
        grpc_single = client.last_request_id
        client.predict_batch(records[:10])
        grpc_batch = client.last_request_id
    single_ids = [r.headers["x-request-id"] for r in singles]
    want = {*single_ids, batch.headers["x-request-id"], grpc_single, grpc_batch}
    assert len(want) == len(records) + 3  # one id per request
    rows = _log_rows(edge["server"].prediction_log_url, want)
    by_id = rows.groupby("request_id")
    assert set(by_id.groups) == want
    for rid, record, p in zip(single_ids, records, expected):
        (row,) = by_id.get_group(rid).itertuples()
        assert row.transport == "http" and row.churn_probability == p and row.customer_id == ring().of(str(record[idc]))
        assert row.model_version == singles[0].json()["model_version"]
        assert row.total_spent == record["total_spent"]  # the validated record is kept field by field
    b = by_id.get_group(batch.headers["x-request-id"])
    assert len(b) == len(records) and np.array_equal(b["churn_probability"].to_numpy(), expected)
    assert list(by_id.get_group(grpc_single)["transport"]) == ["grpc"]
    g = by_id.get_group(grpc_batch)
    assert len(g) == 10 and np.array_equal(g["churn_probability"].to_numpy(), expected[:10])
    assert metric(base, "churn_prediction_log_rows_total", outcome="dropped") == 0


def test_keep_alive_connections_are_recycled(edge):
    """One keep-alive TCP connection stays on one worker; that worker asks it to reconnect
    (Connection: close) within CHURN_HTTP_RECYCLE_EVERY responses, then closes it, so clients
    spread again over the workers after one is respawned (bench: throughput back after a kill)."""
    import json
    import socket
    from urllib.parse import urlparse

    url = urlparse(edge["base"])
    body = json.dumps({"customer": edge["records"][0]}, default=str).encode()
    request = (f"POST /predict HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer {ENV_KEYS[0]}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    closes, served = [], 0
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        for _ in range(3 * RECYCLE):
            try:
                sock.sendall(request)
            except OSError:
                break
            status = reader.readline()
            if not status:  # the server closed the connection
                break
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                k, v = line.decode().split(":", 1)
                headers[k.strip().lower()] = v.strip()
            reader.read(int(headers["content-length"]))
            assert status.split()[1] == b"200"
            served += 1
            closes.append(headers.get("connection") == "close")
            if closes[-1]:
                assert reader.readline() == b""  # and it is really closed
                break
    assert 1 <= served <= RECYCLE and closes[-1] and not any(closes[:-1])


def test_grpc_connections_are_aged_out_without_failing_a_call(edge):
    """A gRPC connection lives about CHURN_GRPC_MAX_CONNECTION_AGE_S: the worker sends GOAWAY, the channel
    goes IDLE and reconnects (new clients land on any worker), and no call fails on the way."""
    from bento import churn_pb2, churn_pb2_grpc
    from bento.client import to_struct

    states = []
    channel = grpc.insecure_channel(edge["server"].grpc)
    channel.subscribe(states.append, try_to_connect=True)
    stub = churn_pb2_grpc.ChurnPredictorStub(channel)
    request = churn_pb2.PredictRequest(customer=to_struct(edge["records"][0]))
    calls, end = 0, time.time() + 4 * GRPC_MAX_AGE_S
    try:
        while time.time() < end:
            reply = stub.Predict(request, metadata=(("x-api-key", ENV_KEYS[0]),), timeout=10, wait_for_ready=True)
            assert abs(reply.churn_probability - edge["expected"][0]) < 1e-12
            calls += 1
            time.sleep(0.02)
    finally:
        channel.close()
    ready = grpc.ChannelConnectivity.READY
    reconnects = sum(1 for a, b in itertools.pairwise(states) if a == ready and b != ready)
    assert calls > 20 and reconnects >= 2, (calls, states)


def test_keys_are_never_logged(edge):
    """Runs last in this module: every key sent so far, right or wrong, is absent from the server log."""
    log = Path(edge["server"].log_path).read_text()
    assert "rejected POST /predict: 401 unauthenticated" in log  # the log did record the refusals
    for key in (*ENV_KEYS, FILE_KEY, ROTATED_KEY, WRONG_KEY, ENV_KEYS[0][:-1]):
        assert key not in log
    from churn_assets.model.settings import ServingSettings

    settings = ServingSettings(api_keys=",".join(ENV_KEYS))
    assert all(k not in repr(settings) and k not in str(settings.model_dump()) for k in ENV_KEYS)
