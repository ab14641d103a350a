"""The Bento served for real (subprocess, loopback): HTTP and gRPC return exactly the in-process
Pipeline's probabilities, bad input gets a 4xx / INVALID_ARGUMENT naming the field, health,
readiness, model info, metrics and OpenAPI."""

import concurrent.futures as cf
import json

import bentoml
import grpc
import httpx
import numpy as np
import pytest

from bento.client import ChurnClient
from churn_assets.model.contract import DataContract
from churn_assets.model.scorer import records_to_frame
from churn_assets_tests.serving_fixtures import bento_server, grpc_codes, json_records, metric

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    bento = trained["bento"]
    with bento_server(bento["bento_tag"], tmp_path_factory.mktemp("serve")) as server:
        model = bentoml.models.get(bento["model_tag"])
        pipeline = bentoml.sklearn.load_model(model)
        contract = DataContract.from_json(model.info.metadata["contract"])
        records = json_records(trained["splits"].test.head(60), contract)
        expected = pipeline.predict_proba(records_to_frame(records, contract))[:, 1]
        yield {"server": server, "records": records, "expected": expected, "bento": bento,
               "threshold": float(model.info.metadata["threshold"]), "contract": contract}


def _post(url, body):
    return httpx.post(url, json=body, timeout=30)


def test_http_predict_equals_in_process_pipeline(served):
    url = served["server"].http + "/predict"
    with cf.ThreadPoolExecutor(16) as pool:  # concurrent: the adaptive batcher groups them
        responses = list(pool.map(lambda r: _post(url, {"customer": r}), served["records"]))
    assert all(r.status_code == 200 for r in responses)
    # the JSON response path of bento/schemas.py: one compact body with Content-Length, not chunks
    assert all("transfer-encoding" not in r.headers and r.headers["content-length"] == str(len(r.content))
               and b", " not in r.content for r in responses)
    got = np.array([r.json()["churn_probability"] for r in responses])
    assert np.array_equal(got, served["expected"])
    first = responses[0].json()
    assert set(first) == {"customer_id", "churn_probability", "will_churn", "risk", "model_version", "arm"}
    assert first["arm"] == "champion"  # CHURN_SERVING_MODE single (the default)
    assert first["customer_id"] == str(served["records"][0][served["contract"].id_column])
    assert first["will_churn"] == (first["churn_probability"] >= served["threshold"])
    assert first["risk"] in ("low", "medium", "high")


def test_http_predict_batch(served):
    r = _post(served["server"].http + "/predict_batch", {"customers": served["records"]})
    assert r.status_code == 200
    got = np.array([p["churn_probability"] for p in r.json()])
    assert np.array_equal(got, served["expected"])


def test_grpc_equals_in_process_pipeline(served):
    with ChurnClient(served["server"].grpc, channels=4) as client:
        with cf.ThreadPoolExecutor(8) as pool:
            single = list(pool.map(client.predict, served["records"]))
        batch = client.predict_batch(served["records"])
        assert client.health() == "SERVING"
    assert np.array_equal([p["churn_probability"] for p in single], served["expected"])
    assert np.array_equal([p["churn_probability"] for p in batch], served["expected"])
    assert single[0]["model_version"] == served["bento"]["model_version"]


def _bad(record, **changes):
    out = dict(record)
    for k, v in changes.items():
        if v is KeyError:
            out.pop(k)
        else:
            out[k] = v
    return out


BAD_CASES = [
    ({"total_spent": -5}, "total_spent", "greater_than_equal"),
    ({"customer_lifetime_months": 0}, "customer_lifetime_months", "greater_than_equal"),
    ({"support_tickets": 1.5}, "support_tickets", "multiple_of"),
    ({"total_purchases": "many"}, "total_purchases", "float_type"),
    ({"last_login_date": "2025-13-45"}, "last_login_date", "date_from_datetime_parsing"),
    ({"emails_sent": KeyError}, "emails_sent", "missing"),
    ({"emails_sentt": 3}, "emails_sentt", "extra_forbidden"),
    ({"emails_opened": 10_000}, "emails_opened", "value_error"),
    ({"last_login_date": "2030-01-01"}, "last_login_date", "value_error"),
]


@pytest.mark.parametrize("changes,field,rule", BAD_CASES)
def test_http_bad_request_names_field_and_rule(served, changes, field, rule):
    r = _post(served["server"].http + "/predict", {"customer": _bad(served["records"][0], **changes)})
    assert r.status_code == 400, r.text
    assert field in r.text and rule in r.text, r.text


@pytest.mark.parametrize("changes,field,rule", BAD_CASES)
def test_grpc_bad_request_is_invalid_argument(served, changes, field, rule):
    with ChurnClient(served["server"].grpc) as client, pytest.raises(grpc.RpcError) as err:
        client.predict(_bad(served["records"][0], **changes))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details() and rule in err.value.details()


def test_malformed_bodies_are_4xx_not_5xx(served):
    base = served["server"].http
    assert httpx.post(base + "/predict", content=b"{not json", headers={"content-type": "application/json"},
                      timeout=10).status_code == 400
    assert _post(base + "/predict", {}).status_code == 400
    assert _post(base + "/predict_batch", {"customers": [served["records"][0]] * 10_001}).status_code == 400
    r = _post(base + "/predict_batch", {"customers": [served["records"][0], _bad(served["records"][1],
                                                                                total_spent=-1)]})
    assert r.status_code == 400 and '"customers",1,"total_spent"' in r.text.replace(" ", "")
    with ChurnClient(served["server"].grpc) as client, pytest.raises(grpc.RpcError) as err:
        client.predict_batch([served["records"][0], _bad(served["records"][1], total_spent=-1)])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "customers.1.total_spent" in err.value.details()


def test_health_readiness_info_metrics_and_docs(served):
    base = served["server"].http
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200
    assert httpx.get(base + "/readyz", timeout=10).status_code == 200
    info = httpx.post(base + "/model_info", timeout=10).json()
    assert info["version"] == served["bento"]["model_version"] and info["alias"] == "champion"
    assert info["threshold"] == pytest.approx(served["threshold"]) and "roc_auc" in info["metrics"]
    metrics = httpx.get(base + "/metrics", timeout=10).text
    assert "bentoml_service_adaptive_batch_size_bucket" in metrics
    assert 'churn_grpc_requests_total{code="OK",method="Predict"' in metrics
    assert 'churn_grpc_requests_total{code="INVALID_ARGUMENT"' in metrics
    docs = json.dumps(httpx.get(base + "/docs.json", timeout=10).json())
    for field in ("total_spent", "last_login_date", "emails_opened", "churn_probability"):
        assert field in docs


def _batch_counters(base: str) -> tuple[float, float]:
    """(records, batches) the adaptive batcher has seen so far, summed over workers."""
    return (metric(base, "bentoml_service_adaptive_batch_size_sum"),
            metric(base, "bentoml_service_adaptive_batch_size_count"))


def test_concurrent_requests_are_batched(served):
    base = served["server"].http
    with cf.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda r: _post(base + "/predict", {"customer": r}), served["records"] * 4))
    sums, counts = _batch_counters(base)
    assert counts > 0 and sums / counts > 1.0  # more records than batches: requests were grouped


def test_concurrent_grpc_calls_share_the_batcher(served):
    base = served["server"].http
    sums0, counts0 = _batch_counters(base)
    n = len(served["records"]) * 4
    with ChurnClient(served["server"].grpc, channels=8) as client, cf.ThreadPoolExecutor(32) as pool:
        out = list(pool.map(client.predict, served["records"] * 4))
    sums, counts = _batch_counters(base)
    assert len(out) == n and sums - sums0 == n  # every gRPC call went through the adaptive batcher
    assert (sums - sums0) / (counts - counts0) > 1.0  # and concurrent calls were grouped


@pytest.fixture(scope="module")
def routes_server(served, tmp_path_factory):
    """The same Bento on BentoML's own routes (CHURN_LEAN_ROUTES=false), one worker, a 400 ms window."""
    env = {"CHURN_BATCH_WAIT_MS": "400", "CHURN_SERVING_WORKERS": "1", "CHURN_LEAN_ROUTES": "false"}
    with bento_server(served["bento"]["bento_tag"], tmp_path_factory.mktemp("routes"), env) as server:
        yield server


def _answer(r: httpx.Response):
    body = r.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return r.status_code, r.headers["content-type"], r.headers.get("server"), body


def test_lean_routes_answer_exactly_as_bentomls_routes(served, routes_server):
    """bento/lean.py answers /predict and /predict_batch from the edge; BentoML's own routes (the other
    server) answer the same requests with the same status, headers and bodies: probabilities, every
    4xx body and its error model (bar the request id)."""
    records, bad = served["records"], _bad(served["records"][1], total_spent=-1)
    requests = [("/predict", {"customer": records[0]}), ("/predict_batch", {"customers": records[:7]}),
                ("/predict_batch", {"customers": []}), ("/predict", {"customer": records[:2]}), ("/predict", {}),
                ("/predict_batch", {"customers": [records[0], bad]}), ("/predict", b"{not json"), ("/predict", b""),
                ("/predict_batch", {"customers": [records[0]] * 10_001}), ("/predict", {"customer": None}),
                *[("/predict", {"customer": _bad(records[0], **changes)}) for changes, _, _ in BAD_CASES]]
    for path, body in requests:
        kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) \
            else {"json": body}
        lean = httpx.post(served["server"].http + path, timeout=30, **kwargs)
        route = httpx.post(routes_server.http + path, timeout=30, **kwargs)
        assert _answer(lean) == _answer(route), (path, str(body)[:200])
        assert lean.status_code < 500


def test_batching_window_and_client_deadlines(served, routes_server):
    """CHURN_BATCH_WAIT_MS holds a lone request for the window; a gRPC client whose deadline expires
    while its call waits in the batcher is counted CANCELLED (BentoML reports it as 'overloaded'),
    never INTERNAL or UNAVAILABLE, and leaves no error in the log."""
    # The window is the batcher's: the same for BentoML's route (this server), the lean route and gRPC.
    record, server = served["records"][0], routes_server
    for _ in range(40):  # BentoML trains its batch optimizer on the first requests, serving them at once
        _post(server.http + "/predict", {"customer": record}).raise_for_status()
    r = _post(server.http + "/predict", {"customer": record})
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.3  # held ~0.95 x the window
    before = grpc_codes(server.http)
    with ChurnClient(server.grpc, timeout_s=0.1) as client:
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as err:
                client.predict(record)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    after = grpc_codes(server.http)
    with open(server.log_path) as f:
        log = f.read()
    assert after.get("CANCELLED", 0) - before.get("CANCELLED", 0) == 3
    assert after.get("INTERNAL", 0) == after.get("UNAVAILABLE", 0) == 0
    assert "[ERROR]" not in log

