"""A real Bento server in a subprocess on free loopback ports (HTTP and gRPC), and its metrics."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from churn_assets_tests.pg import free_port, stop, wait_http


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
           "CHURN_PREDICTION_LOG_URL": f"sqlite:///{workdir}/prediction-log-{http_port}.db", **(extra_env or {})}
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
