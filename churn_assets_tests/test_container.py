"""The Bento image for real: built with `make container`'s script in a real Docker engine, run with a
read-only root filesystem as a non-root user, and asked over HTTP and gRPC on loopback.

`make test-container` (marker `container`; `make test` leaves it out, .ci/run runs both). Starts a
dockerd of its own only when none answers (docker_engine.py), and removes only the container and the
image tag it made.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import bentoml
import grpc
import httpx
import numpy as np
import pytest

from bento.client import ChurnClient
from churn_assets.local.services import free_port, wait_http
from churn_assets.model.contract import DataContract
from churn_assets.model.scorer import records_to_frame
from churn_assets_tests.docker_engine import docker_engine
from churn_assets_tests.serving_fixtures import json_records

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
GRACE_S = 30  # docker stop -t, as terminationGracePeriodSeconds in deploy/k8s/bento/deployment.yaml
# SQLAlchemy and psycopg serve: the prediction log writes through them (SQLite or Postgres).
MAX_IMAGE_MB = 600  # issue 14: the default bentofile's image was 1.26-1.33 GB
NOT_SERVING = ("dagster", "optuna", "evidently", "mlflow", "lightgbm", "matplotlib")


@pytest.fixture(scope="module")
def engine():
    with docker_engine(ROOT / ".churn" / "docker") as eng:
        yield eng


@pytest.fixture(scope="module")
def image(engine, trained, tmp_path_factory):
    bento = trained["bento"]
    tag = f"churn_service:test-{uuid.uuid4().hex[:8]}"
    results = tmp_path_factory.mktemp("container") / "container.json"
    proc = subprocess.run([str(ROOT / "scripts" / "container_build.sh"), "--bento", bento["bento_tag"], "--tag", tag,
                           "--results", str(results)], env={**os.environ, "DOCKER_HOST": engine.host},
                          capture_output=True, text=True, timeout=1500, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"image: {tag}" in proc.stdout and "image size: " in proc.stdout, proc.stdout
    try:
        yield {"tag": tag, "bento": bento, "build": json.loads(results.read_text()), "stdout": proc.stdout,
               "results": results}
    finally:
        engine.docker("rmi", tag, check=False)


@pytest.fixture(scope="module")
def container(engine, image, trained):
    http_port, grpc_port = free_port(), free_port()
    name = f"churn-test-{uuid.uuid4().hex[:8]}"
    # As deployed (compose, k8s): read-only root, /tmp a tmpfs, no capabilities, no privilege gain.
    # Host networking (our dockerd has no bridge/NAT); the server binds loopback only.
    started = time.monotonic()
    engine.docker("run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp:rw,size=128m",
                  "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "host",
                  "-e", f"BENTOML_PORT={http_port}", "-e", "BENTOML_HOST=127.0.0.1",
                  "-e", f"CHURN_GRPC_PORT={grpc_port}", "-e", "CHURN_GRPC_HOST=127.0.0.1", image["tag"])
    try:
        try:
            wait_http(f"http://127.0.0.1:{http_port}/readyz", timeout_s=180)
        except TimeoutError:
            pytest.fail(engine.docker("logs", name, check=False).stderr[-3000:])
        ready_s = time.monotonic() - started
        model = bentoml.models.get(image["bento"]["model_tag"])
        contract = DataContract.from_json(model.info.metadata["contract"])
        records = json_records(trained["splits"].test.head(40), contract)
        expected = bentoml.sklearn.load_model(model).predict_proba(records_to_frame(records, contract))[:, 1]
        yield {"name": name, "http": f"http://127.0.0.1:{http_port}", "grpc": f"127.0.0.1:{grpc_port}",
               "ready_s": ready_s, "records": records, "expected": expected}
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_image_is_lean_non_root_and_has_a_healthcheck(engine, image):
    config = json.loads(engine.docker("image", "inspect", image["tag"]).stdout)[0]["Config"]
    assert config["User"] not in ("", "root", "0")
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
    assert image["build"]["size_mb"] <= MAX_IMAGE_MB, image["build"]
    assert f"image size: {image['build']['size_mb']} MB" in image["stdout"]
    # Only what serving imports: no training stack, no compilers or VCS.
    probe = (f"import importlib.util as u, shutil; print(sorted(m for m in {NOT_SERVING!r} if u.find_spec(m))); "
             "print(sorted(t for t in ('gcc', 'cc', 'make', 'git', 'gpg', 'uv') if shutil.which(t)))")
    out = engine.docker("run", "--rm", "--network", "none", "--entrypoint", "python", image["tag"], "-c", probe).stdout
    assert out.split("\n")[:2] == ["[]", "[]"], out


def test_container_runs_read_only_as_non_root(engine, container):
    inspect = json.loads(engine.docker("inspect", container["name"]).stdout)[0]
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True
    who = engine.docker("exec", container["name"], "id", "-u").stdout.strip()
    assert who != "0"
    denied = engine.docker("exec", container["name"], "sh", "-c", "touch /home/bentoml/bento/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert httpx.get(container["http"] + "/readyz", timeout=10).status_code == 200
    print(f"time to /readyz in the container: {container['ready_s']:.1f} s")


def test_http_predict_equals_in_process_pipeline(container):
    url = container["http"] + "/predict"
    with cf.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda r: httpx.post(url, json={"customer": r}, timeout=30), container["records"]))
    assert [r.status_code for r in responses] == [200] * len(responses)
    got = np.array([r.json()["churn_probability"] for r in responses])
    assert np.array_equal(got, container["expected"])


def test_grpc_predict_equals_in_process_pipeline(container):
    with ChurnClient(container["grpc"], channels=2) as client:
        with cf.ThreadPoolExecutor(4) as pool:
            got = list(pool.map(client.predict, container["records"]))
        assert client.health() == "SERVING"
    assert np.array_equal([p["churn_probability"] for p in got], container["expected"])


def test_bad_input_is_a_4xx_naming_the_field(container):
    bad = {**container["records"][0], "no_such_field": 1}  # independent of the data set's columns
    r = httpx.post(container["http"] + "/predict", json={"customer": bad}, timeout=30)
    assert 400 <= r.status_code < 500 and "no_such_field" in r.text, r.text
    r = httpx.post(container["http"] + "/predict", content=b"{not json", timeout=30,
                   headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    with ChurnClient(container["grpc"]) as client, pytest.raises(grpc.RpcError) as err:
        client.predict(bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no_such_field" in err.value.details()


def test_docker_healthcheck_turns_healthy(engine, container):
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline:
        status = engine.docker("inspect", "-f", "{{.State.Health.Status}}", container["name"]).stdout.strip()
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(2)
    assert status == "healthy"


def test_sigterm_stops_cleanly_within_the_grace_period(engine, container):
    started = time.monotonic()
    engine.docker("stop", "-t", str(GRACE_S), container["name"], timeout=GRACE_S + 30)
    elapsed = time.monotonic() - started
    state = json.loads(engine.docker("inspect", container["name"]).stdout)[0]["State"]
    logs = engine.docker("logs", container["name"]).stderr + engine.docker("logs", container["name"]).stdout
    assert elapsed < GRACE_S, f"stop took {elapsed:.1f} s: killed at the deadline, not a graceful exit"
    assert state["ExitCode"] in (0, 143) and not state["OOMKilled"], state
    assert "cleanup finalized" in logs, logs[-2000:]  # BentoML ran the service's shutdown hooks
    print(f"docker stop took {elapsed:.1f} s, exit code {state['ExitCode']}")
