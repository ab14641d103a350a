"""A real Bento server in a subprocess on free loopback ports (HTTP and gRPC), and its metrics."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from churn_assets_tests.pg import free_port, stop, wait_http

# The test Bentos hash customer ids in their prediction log with this key (model/pseudonym.py), so
# tests can find their customers' rows: RING.of(customer id) is what the log holds.
ID_KEY = "serving-tests-id-key-0123456789"


def ring():
    from churn_assets.model.pseudonym import Pseudonyms

    return Pseudonyms([ID_KEY])


@dataclass
class Server:
    http: str
    grpc: str
    log_path: str
    prediction_log_url: str = ""
    pid: int = 0


@contextlib.contextmanager
def bento_server(bento_tag: str, workdir, extra_env: dict | None = None) -> Iterator[Server]:
    http_port, grpc_port = free_port(), free_port()
    log_path = os.path.join(str(workdir), f"bento-{http_port}.log")
    env = {**os.environ, "CHURN_GRPC_PORT": str(grpc_port), "OMP_NUM_THREADS": "1",
           "BENTOML_DO_NOT_TRACK": "true",
           "CHURN_PREDICTION_LOG_URL": f"sqlite:///{workdir}/prediction-log-{http_port}.db", "CHURN_ID_HASH_KEYS": ID_KEY,
           **(extra_env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", bento_tag, "--host", "127.0.0.1",
                                 "--port", str(http_port)], cwd=str(workdir), env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{http_port}/readyz", timeout_s=120, proc=proc)
            yield Server(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log_path,
                         env["CHURN_PREDICTION_LOG_URL"], proc.pid)
        finally:
            stop(proc)


def json_records(frame, contract) -> list[dict]:
    """Raw rows as a client sends them: ISO dates, nulls; only the contract's input columns."""
    cols = [contract.id_column] + [c.name for c in contract.columns if c.role != "drop"]
    rows = json.loads(frame[cols].to_json(orient="records", date_format="iso"))
    dates = set(contract.by_role("date"))
    return [{k: (v[:10] if k in dates and isinstance(v, str) else v) for k, v in r.items()} for r in rows]


def metric(base: str, name: str, **labels) -> float:
    """Sum of a Prometheus sample over all series whose labels include ``labels`` (all workers)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(base + "/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def grpc_codes(base: str) -> dict[str, int]:
    """Server-side gRPC status counts (all methods) from the Bento's /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, int] = {}
    for family in text_string_to_metric_families(httpx.get(base + "/metrics", timeout=10).text):
        for s in family.samples:
            if s.name == "churn_grpc_requests_total":
                out[s.labels["code"]] = out.get(s.labels["code"], 0) + int(s.value)
    return out


# -- a real Bento from any data contract, without a Dagster run ----------------------------------------------

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def contract_bento(spec, raw, model_name: str, max_rows: int = 1500) -> dict:
    """The cheapest real path to a served Bento for ``spec``'s data: the contract resolved from ``raw``,
    validation, the split, the Pipeline's own steps (core/training/modeling.py) fitted with one small
    gradient-boosting model (no Optuna, no MLflow), saved and built as ``churn_bento`` does
    (core/registry/packaging.py). Returns the contract, the splits and the model and Bento tags."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.validation import validate
    from churn_assets.core.registry import packaging
    from churn_assets.core.training.modeling import assemble, feature_steps
    from churn_assets.core.training.splits import split

    contract = resolve_contract(spec, raw)
    clean = validate(raw, contract).clean
    clean = clean.sample(n=min(max_rows, len(clean)), random_state=7).reset_index(drop=True)
    splits = split(clean, contract.target_column, contract.id_column)
    builder, encoder = feature_steps(contract)
    features = builder.fit(splits.train).transform(splits.train)
    encoder.fit(features)
    est = HistGradientBoostingClassifier(learning_rate=0.1, max_iter=60, max_leaf_nodes=15, random_state=42)
    est.fit(encoder.transform(features), splits.train[contract.target_column].to_numpy())
    pipeline = assemble(builder, encoder, est)
    example = packaging.example_record(splits.test, contract)
    model_tag = packaging.save_model(pipeline, model_name, "1", 0.5, contract.to_json(), {"roc_auc": 0.5}, example)
    bento_tag = packaging.build_bento(Path(PROJECT_ROOT), model_tag)
    return {"contract": contract, "splits": splits, "model_tag": model_tag, "bento_tag": bento_tag,
            "pipeline": pipeline}


# -- the gRPC fuzzer (test_serving_edge.py, test_fuzz_contracts.py) -------------------------------------------

def random_value(rng, depth=0):
    """A random protobuf ``Value``: nulls, extreme and non-finite numbers, odd strings, bools, nesting."""
    import numpy as np
    from google.protobuf import struct_pb2

    kind = rng.integers(0, 9 if depth < 2 else 6)
    v = struct_pb2.Value()
    if kind == 0:
        v.null_value = 0
    elif kind == 1:
        v.number_value = float(rng.choice([np.nan, np.inf, -np.inf, -1e308, 1e308, -1.0, 0.0, 0.5, 3.0, 1e9]))
    elif kind == 2:
        v.number_value = float(rng.normal(0, 1e4))
    elif kind == 3:
        v.string_value = rng.choice(["", "x" * 5000, "2025-13-45", "2024-01-01", "\x00\udcff".encode(
            "utf-8", "replace").decode(), "1e3", "NaN", "0001-01-01", "9999-12-31", "20240101", "2024-W01-1"])
    elif kind == 4:
        v.bool_value = bool(rng.integers(0, 2))
    elif kind == 5:
        v.string_value = "".join(chr(c) for c in rng.integers(32, 0x2FFF, 20))
    elif kind in (6, 7):
        v.struct_value.update({"a": 1})
        v.struct_value.fields["n"].CopyFrom(random_value(rng, depth + 1))
    else:
        v.list_value.values.add().CopyFrom(random_value(rng, depth + 1))
    return v


def grpc_fuzz(target: str, records: list[dict], calls: int, metadata=(), seed: int = 11,
              extra_fields: tuple[str, ...] = ()) -> dict[str, int]:
    """``calls`` gRPC calls over Predict, PredictBatch and Explain: random Structs, real records with fields
    mutated or dropped (``extra_fields``, e.g. as_of or the target, are mutated in too), garbage bytes. Status counts."""
    import grpc
    import numpy as np
    from google.protobuf import struct_pb2

    from bento import churn_pb2
    from bento.client import to_struct

    rng = np.random.default_rng(seed)
    fields = list(records[0]) + list(extra_fields)
    channel = grpc.insecure_channel(target)
    stubs = {m: channel.unary_unary(f"/churn.v1.ChurnPredictor/{m}") for m in ("Predict", "PredictBatch", "Explain")}
    codes: dict[str, int] = {}
    for i in range(calls):
        record = dict(records[i % len(records)])
        kind = i % 4
        if kind == 0:  # a random Struct
            s = struct_pb2.Struct()
            for _ in range(rng.integers(0, 20)):
                s.fields[rng.choice(fields + ["", "zz", "x" * 300])].CopyFrom(random_value(rng))
        else:
            s = to_struct(record)
            for name in rng.choice(fields, rng.integers(1, 4), replace=False):
                if rng.random() < 0.2 and name in s.fields:
                    del s.fields[name]
                else:
                    s.fields[name].CopyFrom(random_value(rng))
        if kind == 3:  # garbage: random bytes, or a valid message cut or flipped
            good = churn_pb2.PredictRequest(customer=s).SerializeToString()
            payload = [bytes(rng.integers(0, 256, rng.integers(0, 400), dtype=np.uint8)),
                       good[: len(good) // 2], bytes(b ^ 0xFF for b in good[:64]) + good[64:]][i % 3]
        elif i % 8 == 1:
            payload = churn_pb2.PredictBatchRequest(customers=[s, to_struct(record)]).SerializeToString()
        elif i % 8 == 5:  # Explain, with k in and out of its bounds
            payload = churn_pb2.ExplainRequest(customers=[s], k=int(rng.integers(-2, 60))).SerializeToString()
        else:
            payload = churn_pb2.PredictRequest(customer=s).SerializeToString()
        method = "PredictBatch" if (kind != 3 and i % 8 == 1) or (kind == 3 and i % 8 == 7) else \
            "Explain" if (kind != 3 and i % 8 == 5) or (kind == 3 and i % 8 == 3) else "Predict"
        try:
            stubs[method](payload, metadata=metadata, timeout=10)
            code = "OK"
        except grpc.RpcError as err:
            code = err.code().name
        codes[code] = codes.get(code, 0) + 1
    channel.close()
    return codes
