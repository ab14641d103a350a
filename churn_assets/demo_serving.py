"""Demo step: serve the freshly built Bento on loopback, score one customer over HTTP and gRPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_sample(bento_tag: str = "churn_service:latest") -> dict:
    import bentoml

    bento = bentoml.get(bento_tag)
    model = bentoml.models.get(bento.info.all_models[0].tag) if hasattr(bento.info, "all_models") else None
    example = json.loads(model.info.metadata["example"]) if model else {}
    http_port, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "CHURN_GRPC_PORT": str(grpc_port), "OMP_NUM_THREADS": "1"}
    log = tempfile.NamedTemporaryFile("w", prefix="bento-demo-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", "127.0.0.1",
                             "--port", str(http_port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"Bento server did not start; see {log.name}")
                time.sleep(0.5)
        body = json.dumps({"customer": example}).encode()
        req = urllib.request.Request(base + "/predict", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            http_result = json.loads(r.read())
        from bento.client import ChurnClient

        with ChurnClient(f"127.0.0.1:{grpc_port}") as client:
            grpc_result = client.predict(example)
        print(f"\nServed {bento.tag} on 127.0.0.1 (HTTP :{http_port}, gRPC :{grpc_port}) for this demo:")
        print(f"  POST /predict {json.dumps({'customer': example})[:120]}...")
        print(f"  HTTP -> {json.dumps(http_result)}")
        print(f"  gRPC -> {json.dumps(grpc_result)}")
        print("  `make serve` serves it on :3000 (HTTP) and :50051 (gRPC); README has curl and gRPC examples.")
        return {"http": http_result, "grpc": grpc_result}
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
