"""Champion/challenger and explanations against a real served Bento (subprocess, loopback).

A registry with two versions (two trainings with different seeds; the second is kept challenger by
an impossible promotion margin) gives a Bento packing both. Served in shadow and A/B modes over
HTTP and gRPC: the split is the hash's, exactly; the same customer gets the same arm everywhere;
per-arm counts and latencies in /metrics equal what was sent; prediction-log rows name arm, served
and model version; /explain adds up to the served model's raw score and agrees with in-process
PipelineExplainer; bad input is a 4xx / INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import math
import time

import bentoml
import grpc
import httpx
import numpy as np
import pytest

from bento.client import ChurnClient
from churn_assets.model import prediction_log
from churn_assets.model.contract import DataContract
from churn_assets.model.explain import PipelineExplainer
from churn_assets.model.request_schema import customer_model
from churn_assets.model.scorer import records_to_frame
from churn_assets_tests.conftest import materialized, run_training, settings
from churn_assets_tests.serving_fixtures import bento_server, json_records, metric, ring

pytestmark = pytest.mark.integration

SHARE = 0.3


def expected_arm(customer_id: str) -> str:
    """The split re-derived here from its definition (blake2b, 8 bytes, big-endian / 2**64)."""
    u = int.from_bytes(hashlib.blake2b(customer_id.encode(), digest_size=8).digest(), "big") / 2**64
    return "challenger" if u < SHARE else "champion"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import dagster as dg

    home = tmp_path_factory.mktemp("ab")
    (home / "dagster_home").mkdir()
    s = settings(model_name="churn-ab")  # the session's stores (its BentoML store: the servers' too)
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as inst:
        first = run_training(inst, rows=3000, trials=3, settings=s)
        second = run_training(inst, rows=3000, trials=4, extra_config={"seed": 7},
                              settings=settings(s, promotion_margin=1.0))  # nothing beats the champion by 1.0
        single, both = materialized(first, "churn_bento"), materialized(second, "churn_bento")
        splits = second.output_for_node("training_splits")
    assert single["challenger_tag"] == "" and both["challenger_tag"], both
    assert both["model_version"] == single["model_version"] != both["challenger_version"]
    champion, challenger = (bentoml.models.get(t) for t in (both["model_tag"], both["challenger_tag"]))
    contract = DataContract.from_json(champion.info.metadata["contract"])
    pipes = {"champion": bentoml.sklearn.load_model(champion), "challenger": bentoml.sklearn.load_model(challenger)}
    versions = {"champion": both["model_version"], "challenger": both["challenger_version"]}
    base = json_records(splits.test, contract)

    def records(prefix: str, n: int) -> list[dict]:
        return [dict(base[i % len(base)], **{contract.id_column: f"{prefix}{i:05d}"}) for i in range(n)]

    def proba(arm: str, recs: list[dict]) -> np.ndarray:
        return pipes[arm].predict_proba(records_to_frame(recs, contract))[:, 1]

    probe = records("P", 200)
    assert not np.allclose(proba("champion", probe), proba("challenger", probe)), "the two versions must differ"
    yield {"single": single, "both": both, "contract": contract, "pipes": pipes, "versions": versions,
           "records": records, "proba": proba, "workdir": home}


@pytest.fixture(scope="module")
def ab(models):
    env = {"CHURN_SERVING_MODE": "ab", "CHURN_AB_CHALLENGER_SHARE": str(SHARE)}
    with bento_server(models["both"]["bento_tag"], models["workdir"], env) as server:
        yield server


@pytest.fixture(scope="module")
def shadow(models):
    with bento_server(models["both"]["bento_tag"], models["workdir"], {"CHURN_SERVING_MODE": "shadow"}) as server:
        yield server


def _counts(base: str) -> dict:
    out = {}
    for arm in ("champion", "challenger"):
        for transport in ("http", "grpc"):
            for served in ("true", "false"):
                out[(arm, transport, served)] = metric(base, "churn_predictions_total", arm=arm,
                                                       transport=transport, served=served)
            out[(arm, transport, "latency")] = metric(base, "churn_prediction_duration_seconds_count", arm=arm,
                                                      transport=transport)
    return out


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def _log_rows(url: str, ids: set[str], n: int, timeout_s: float = 20):
    """The prediction-log rows of these customers, once ``n`` are written (the writer is asynchronous)."""
    clear = {ring().of(i): i for i in ids}  # the log holds pseudonyms: back to the test's ids
    deadline = time.time() + timeout_s
    while True:
        day = prediction_log.read_day(url, dt.datetime.now(dt.UTC).date().isoformat())
        rows = day[day["customer_id"].isin(clear)] if len(day) else day
        if len(rows) >= n or time.time() > deadline:
            assert not len(day) or not day["customer_id"].isin(ids).any()  # never an id in clear
            return rows.assign(customer_id=rows["customer_id"].map(clear)) if len(rows) else rows


def test_model_info_names_both_arms(models, ab):
    info = httpx.post(ab.http + "/model_info", timeout=10).json()
    assert info["mode"] == info["requested_mode"] == "ab" and info["challenger_share"] == SHARE
    assert info["arms"]["champion"]["version"] == models["versions"]["champion"] == info["version"]
    assert info["arms"]["challenger"]["version"] == models["versions"]["challenger"]
    assert info["arms"]["challenger"]["bento_model"] == models["both"]["challenger_tag"]
    assert info["arms"]["challenger"]["explanations"] is True  # ab: both arms answer, both are explained


def test_ab_split_is_the_hash_on_both_protocols(models, ab):
    recs = models["records"]("AB", 2000)
    ids = [r[models["contract"].id_column] for r in recs]
    want = [expected_arm(i) for i in ids]
    before = _counts(ab.http)
    got = httpx.post(ab.http + "/predict_batch", json={"customers": recs}, timeout=60).json()
    assert [p["arm"] for p in got] == want
    n_challenger = want.count("challenger")
    assert n_challenger == 555  # exact (computed from the hash), and near the share: 30% of 2,000 is 600 and
    assert abs(n_challenger - SHARE * 2000) < 3 * math.sqrt(2000 * SHARE * (1 - SHARE))  # 1 sd is 20.5
    for arm in ("champion", "challenger"):
        idx = [j for j, a in enumerate(want) if a == arm]
        assert np.array_equal([got[j]["churn_probability"] for j in idx], models["proba"](arm, [recs[j] for j in idx]))
        assert {got[j]["model_version"] for j in idx} == {models["versions"][arm]}
    # The same customers one by one, over HTTP (both workers) and gRPC (single and batch): same arms.
    sample = recs[:150]
    with cf.ThreadPoolExecutor(8) as pool:
        http1 = list(pool.map(lambda r: httpx.post(ab.http + "/predict", json={"customer": r}, timeout=30).json(),
                              sample))
    with ChurnClient(ab.grpc, channels=4) as client:
        with cf.ThreadPoolExecutor(8) as pool:
            grpc1 = list(pool.map(client.predict, sample))
        grpcb = client.predict_batch(sample)
    for answers in (http1, grpc1, grpcb):
        assert [p["arm"] for p in answers] == want[:150]
        assert [p["churn_probability"] for p in answers] == [p["churn_probability"] for p in got[:150]]
    c150 = want[:150].count("challenger")
    assert c150 == 48
    http = {"champion": 2000 - n_challenger + 150 - c150, "challenger": n_challenger + c150}
    grpc_ = {"champion": 2 * (150 - c150), "challenger": 2 * c150}  # Predict and PredictBatch
    assert _delta(before, _counts(ab.http)) == {
        **{(arm, "http", k): n for arm, n in http.items() for k in ("true", "latency")},
        **{(arm, "grpc", k): n for arm, n in grpc_.items() for k in ("true", "latency")}}
    rows = _log_rows(ab.prediction_log_url, set(ids), 2450)
    assert len(rows) == 2450 and rows["served"].all()
    for arm in ("champion", "challenger"):
        mine = rows[rows["arm"] == arm]
        assert set(mine["customer_id"]) == {i for i, a in zip(ids, want) if a == arm}
        assert set(mine["model_version"]) == {models["versions"][arm]}


def test_shadow_logs_the_challenger_and_returns_the_champion(models, shadow):
    recs = models["records"]("SH", 100)
    ids = [r[models["contract"].id_column] for r in recs]
    before = _counts(shadow.http)
    with cf.ThreadPoolExecutor(8) as pool:
        http1 = list(pool.map(lambda r: httpx.post(shadow.http + "/predict", json={"customer": r}, timeout=30).json(),
                              recs[:40]))
    with ChurnClient(shadow.grpc, channels=4) as client, cf.ThreadPoolExecutor(8) as pool:
        grpc1 = list(pool.map(client.predict, recs[40:80]))
    batch = httpx.post(shadow.http + "/predict_batch", json={"customers": recs[80:]}, timeout=30).json()
    answers = http1 + grpc1 + batch
    assert {p["arm"] for p in answers} == {"champion"}
    assert {p["model_version"] for p in answers} == {models["versions"]["champion"]}
    assert np.array_equal([p["churn_probability"] for p in answers], models["proba"]("champion", recs))
    assert _delta(before, _counts(shadow.http)) == {
        ("champion", "http", "true"): 60, ("champion", "http", "latency"): 60,
        ("challenger", "http", "false"): 60, ("challenger", "http", "latency"): 60,
        ("champion", "grpc", "true"): 40, ("champion", "grpc", "latency"): 40,
        ("challenger", "grpc", "false"): 40, ("challenger", "grpc", "latency"): 40}
    rows = _log_rows(shadow.prediction_log_url, set(ids), 200)
    assert len(rows) == 200  # two rows per prediction: the served champion's and the shadow's
    shadow_p = dict(zip(ids, models["proba"]("challenger", recs)))
    served_p = dict(zip(ids, models["proba"]("champion", recs)))
    for cid, pair in rows.groupby("customer_id"):
        champ, chall = pair[pair["arm"] == "champion"], pair[pair["arm"] == "challenger"]
        assert len(champ) == len(chall) == 1 and bool(champ["served"].iloc[0]) and not chall["served"].iloc[0]
        assert champ["request_id"].iloc[0] == chall["request_id"].iloc[0]
        assert champ["transport"].iloc[0] == chall["transport"].iloc[0]
        assert (champ["model_version"].iloc[0], chall["model_version"].iloc[0]) == (
            models["versions"]["champion"], models["versions"]["challenger"])
        assert chall["churn_probability"].iloc[0] == shadow_p[cid] and champ["churn_probability"].iloc[0] == served_p[cid]
    assert set(rows[rows["customer_id"].isin(ids[40:80])]["transport"]) == {"grpc"}


def test_explain_adds_up_and_agrees_with_in_process(models, ab):
    contract, recs = models["contract"], models["records"]("EX", 40)
    want = [expected_arm(r[contract.id_column]) for r in recs]
    assert set(want) == {"champion", "challenger"}  # both arms are explained, each by its own model
    full = httpx.post(ab.http + "/explain", json={"customers": recs, "k": 50}, timeout=30)
    assert full.status_code == 200 and full.headers["x-request-id"]
    rid, full = full.headers["x-request-id"], full.json()
    logged = _log_rows(ab.prediction_log_url, {r[contract.id_column] for r in recs}, len(recs))
    logged = logged[logged["request_id"] == rid].set_index("customer_id")  # an explanation is a served answer
    assert len(logged) == len(recs) and set(logged["transport"]) == {"http"}
    for e in full:
        row = logged.loc[e["customer_id"]]
        assert (row["arm"], row["model_version"]) == (e["arm"], e["model_version"])
        assert row["churn_probability"] == e["churn_probability"]
    served = httpx.post(ab.http + "/predict_batch", json={"customers": recs}, timeout=30).json()
    Customer = customer_model(contract)
    validated = [Customer.model_validate(r).__dict__ for r in recs]
    raw_columns = {contract.id_column} | {c.name for c in contract.columns if c.role != "drop"}
    for arm in ("champion", "challenger"):
        idx = [j for j, a in enumerate(want) if a == arm]
        ex = PipelineExplainer(models["pipes"][arm]).explain_records([validated[j] for j in idx])
        for row, j in enumerate(idx):
            e = full[j]
            assert (e["arm"], e["model_version"]) == (arm, models["versions"][arm])
            assert e["churn_probability"] == served[j]["churn_probability"]
            total = e["base_value"] + sum(c["value"] for c in e["contributions"])
            assert abs(total - e["raw_score"]) < 1e-6  # additivity on the served model
            link = 1 / (1 + math.exp(-e["raw_score"])) if e["space"] == "log_odds" else e["raw_score"]
            assert abs(link - e["churn_probability"]) < 1e-9
            assert {c["column"] for c in e["contributions"]} <= raw_columns  # raw input columns only
            assert len(e["contributions"]) == len(ex.columns)
            assert e["base_value"] == pytest.approx(ex.base_value, abs=1e-12)
            mine = dict(zip(ex.columns, ex.contributions[row]))
            assert all(abs(mine[c["column"]] - c["value"]) < 1e-9 for c in e["contributions"])
    top3 = httpx.post(ab.http + "/explain", json={"customers": recs[:5]}, timeout=30).json()  # k defaults to 3
    for e, f in zip(top3, full[:5]):
        assert e["contributions"] == sorted(f["contributions"], key=lambda c: -abs(c["value"]))[:3]
    with ChurnClient(ab.grpc) as client:
        over_grpc = client.explain(recs, k=50)
        assert [e["customer_id"] for e in over_grpc] == [e["customer_id"] for e in full]
        for g, h in zip(over_grpc, full):
            assert g["arm"] == h["arm"] and g["raw_score"] == pytest.approx(h["raw_score"], abs=1e-12)
            assert [(c["column"], round(c["value"], 12)) for c in g["contributions"]] == [
                (c["column"], round(c["value"], 12)) for c in h["contributions"]]
        assert len(client.explain(recs[:2])[0]["contributions"]) == 3  # k unset (0) = 3


def test_explain_bad_input_is_a_4xx_naming_the_field(models, ab):
    contract, rec = models["contract"], models["records"]("BAD", 1)[0]
    numeric = next(c.name for c in contract.columns if c.role == "numeric")
    cases = [({"customers": [rec], "k": 0}, "k"), ({"customers": [rec], "k": 51}, "k"),
             ({"customers": []}, "customers"), ({"customers": [dict(rec, **{numeric: "lots"})]}, numeric),
             ({"customers": [rec] * 1001}, "customers")]
    for body, field in cases:
        r = httpx.post(ab.http + "/explain", json=body, timeout=30)
        assert r.status_code == 400 and r.json()["error"] == "validation_error", (body, r.text)
        assert field in r.json()["detail"][0]["loc"] and field in r.json()["message"], r.text
    with ChurnClient(ab.grpc) as client:
        for records, k, field in (([rec], -1, "k"), ([rec], 51, "k"), ([], 3, "customers"),
                                  ([dict(rec, **{numeric: "lots"})], 3, f"customers.0.{numeric}")):
            with pytest.raises(grpc.RpcError) as err:
                client.explain(records, k)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(field + ":")


def test_shadow_or_ab_without_a_challenger_serves_single(models, tmp_path):
    env = {"CHURN_SERVING_MODE": "shadow", "CHURN_SERVING_WORKERS": "1"}
    with bento_server(models["single"]["bento_tag"], tmp_path, env) as server:
        info = httpx.post(server.http + "/model_info", timeout=10).json()
        rec = models["records"]("ONE", 1)[0]
        answer = httpx.post(server.http + "/predict", json={"customer": rec}, timeout=10).json()
        with ChurnClient(server.grpc) as client:
            over_grpc = client.predict(rec)
        log = open(server.log_path).read()
    assert (info["mode"], info["requested_mode"], info["arms"]["challenger"]) == ("single", "shadow", None)
    assert answer["arm"] == over_grpc["arm"] == "champion"
    assert answer["model_version"] == models["versions"]["champion"]
    assert "CHURN_SERVING_MODE=shadow but this Bento packs no challenger" in log
