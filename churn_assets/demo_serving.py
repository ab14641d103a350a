"""Demo step: serve the freshly built Bento on loopback, score one customer over HTTP and gRPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from churn_assets.local_services import free_port, stop, wait_http


def served_sample(bento_tag: str = "churn_service:latest", title: str = "") -> dict:
    import bentoml

    bento = bentoml.get(bento_tag)
    model = bentoml.models.get(bento.info.all_models[0].tag) if hasattr(bento.info, "all_models") else None
    example = json.loads(model.info.metadata["example"]) if model else {}
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "CHURN_GRPC_PORT": str(grpc_port), "OMP_NUM_THREADS": "1"}
    log = tempfile.NamedTemporaryFile("w", prefix="bento-demo-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", "127.0.0.1",
                             "--port", str(http_port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{http_port}"
        wait_http(base + "/readyz", 120, proc, hint=f"; Bento server log: {log.name}")
        body = json.dumps({"customer": example}).encode()
        req = urllib.request.Request(base + "/predict", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            http_result = json.loads(r.read())
        from bento.client import ChurnClient

        with ChurnClient(f"127.0.0.1:{grpc_port}") as client:
            grpc_result = client.predict(example)
        print(f"\n{title + ': ' if title else ''}served {bento.tag} (model v{model.info.metadata['registry_version'] if model else '?'}) on 127.0.0.1 (HTTP :{http_port}, gRPC :{grpc_port}) for this demo:")
        print(f"  POST /predict {json.dumps({'customer': example})[:120]}...")
        print(f"  HTTP -> {json.dumps(http_result)}")
        print(f"  gRPC -> {json.dumps(grpc_result)}")
        print("  `make serve` serves it on :3000 (HTTP) and :50051 (gRPC); README has curl and gRPC examples.")
        return {"http": http_result, "grpc": grpc_result}
    finally:
        stop(proc)
        log.close()
