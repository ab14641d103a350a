"""Demo step: serve the freshly built Bento on loopback, score one customer over HTTP and gRPC."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator

from churn_assets.local.services import free_port, stop, wait_http


def pseudonym_env(settings) -> dict[str, str]:
    """What makes a Bento hash customer ids with the keys of ``settings`` (the code location's): the
    same secret, or the same home (its generated key file)."""
    from churn_assets.model.settings import ServingSettings, env_names

    names = env_names(ServingSettings)
    secret = settings.id_hash_keys.get_secret_value()
    return {names["id_hash_keys"]: secret} if secret.strip() else {names["home"]: str(settings.home)}


@contextlib.contextmanager
def bento_on_loopback(bento_tag: str, env: dict[str, str] | None = None, name: str = "demo") -> Iterator[tuple[str, int]]:
    """Serve ``bento_tag`` in its own process group on free loopback ports, with ``env`` on top of
    this process's; yields (HTTP base URL, gRPC port), and stops the server (SIGTERM: the workers
    flush their prediction-log queues) when the block ends."""
    http_port, grpc_port = free_port(), free_port()
    full_env = {**os.environ, "CHURN_GRPC_PORT": str(grpc_port), "OMP_NUM_THREADS": "1", **(env or {})}
    log = tempfile.NamedTemporaryFile("w", prefix=f"bento-{name}-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", bento_tag, "--host", "127.0.0.1",
                             "--port", str(http_port)], env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_http(base + "/readyz", 120, proc, hint=f"; Bento server log: {log.name}")
        yield base, grpc_port
    finally:
        stop(proc)
        log.close()


def served_sample(bento_tag: str = "churn_service:latest", title: str = "") -> dict:
    import bentoml

    bento = bentoml.get(bento_tag)
    model = bentoml.models.get(bento.info.all_models[0].tag) if hasattr(bento.info, "all_models") else None
    example = json.loads(model.info.metadata["example"]) if model else {}
    with bento_on_loopback(str(bento.tag)) as (base, grpc_port):
        http_port = base.rsplit(":", 1)[1]
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


def drifted_traffic(settings, bento_tag: str = "churn_service:latest", n_http: int = 600, n_grpc: int = 400,
                    shift: str = "engagement_drop", seed: int = 7, instance=None) -> dict | None:
    """Serve the Bento with an API key and the prediction log on, send it a drifted stream of customers
    (HTTP single calls and a gRPC batch), then build today's served_predictions and live_drift_report."""
    import concurrent.futures as cf
    import datetime as dt

    import bentoml
    import dagster as dg

    from bento.client import ChurnClient
    from churn_assets.core.data.synthetic import generate_customers
    from churn_assets.local.runs import load_defs
    from churn_assets.model.contract import DataContract
    from churn_assets.model.settings import ServingSettings, env_names

    bento = bentoml.get(bento_tag)
    contract = DataContract.from_json(bentoml.models.get(bento.info.all_models[0].tag).info.metadata["contract"])
    if contract.dataset != "synthetic":
        print(f"\nLive-traffic drift demo skipped: it generates shifted synthetic customers (dataset is "
              f"'{contract.dataset}').")
        return None
    frame = generate_customers(n_http + n_grpc, seed=seed, as_of=dt.date.fromisoformat(contract.as_of), shift=shift,
                               with_labels=False, id_prefix="LIVE-")
    cols = [contract.id_column] + [c.name for c in contract.columns if c.role != "drop"]
    records = json.loads(frame[cols].to_json(orient="records", date_format="iso"))
    dates = set(contract.by_role("date"))
    records = [{k: (v[:10] if k in dates and isinstance(v, str) else v) for k, v in r.items()} for r in records]
    key = os.urandom(16).hex()  # a throwaway key: the demo shows the service refusing calls without it
    defs = load_defs(settings)
    url = defs.resources["prediction_log"].prediction_log_url
    names = env_names(ServingSettings)  # the Bento's variables, named by its settings class
    env = {names["api_keys"]: key, names["prediction_log_url"]: url, **pseudonym_env(settings)}
    with bento_on_loopback(str(bento.tag), env, "live") as (base, grpc_port):
        refused = post_json(base + "/predict", {"customer": records[0]}, None)

        def one(r):
            return post_json(base + "/predict", {"customer": r}, key)

        with cf.ThreadPoolExecutor(16) as pool:
            codes = [c for c, _ in pool.map(one, records[:n_http])]
        with ChurnClient(f"127.0.0.1:{grpc_port}", api_key=key) as client:
            client.predict_batch(records[n_http:])
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    from churn_assets.local.runs import QUIET, execute

    result = execute("churn_live_monitoring", instance or dg.DagsterInstance.get(), settings, run_config=QUIET,
                     partition=day)
    report = result.output_for_node("live_drift_report")
    print(f"\nLive traffic: {n_http} HTTP calls ({codes.count(200)} x 200; without the key: {refused[0]}) and a "
          f"gRPC batch of {n_grpc} customers with the '{shift}' shift, logged to {url.split('///')[-1]}")
    print(f"  served_predictions[{day}]: {len(result.output_for_node('served_predictions'))} rows")
    print(f"  live_drift_report[{day}]: drift_detected={report['drift_detected']}, "
          f"{report['drifted_share']:.0%} of features drifted {report['drifted_columns'][:6]}; "
          f"HTML {report['html']}")
    return {"codes": codes, "refused": refused[0], "report": report}


def post_json(url: str, body: dict, key: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
