"""Behaviour of each patch of a private BentoML API (bento/bentoml_patches.py), on the real
classes, so a BentoML upgrade that moves one fails here rather than in production. (The served
side, find_app_factory feeding gRPC into the batcher and the JSON response path, is checked in
test_serving.py against a real server.)"""

from __future__ import annotations

import asyncio
import logging

import pytest

from bento import bentoml_patches


def test_timeout_middleware_timer_is_cancelled_when_the_request_completes():
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    bentoml_patches.patch_timeout_middleware()
    handles, sent = [], []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message["type"])

    async def main():
        loop = asyncio.get_running_loop()
        original = loop.call_later

        def call_later(delay, cb, *args, **kw):
            handles.append((delay, original(delay, cb, *args, **kw)))
            return handles[-1][1]

        loop.call_later = call_later
        await TimeoutMiddleware(app, timeout=10)({"type": "http", "path": "/x"}, None, send)

    asyncio.run(main())
    assert sent == ["http.response.start", "http.response.body"]
    timers = [h for delay, h in handles if delay == 10]
    assert len(timers) == 1 and timers[0].cancelled()  # stock BentoML leaves it armed for 10 s


def test_timeout_middleware_still_times_out():
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    bentoml_patches.patch_timeout_middleware()
    sent = []

    async def slow(scope, receive, send):
        await asyncio.sleep(5)

    async def send(message):
        sent.append(message)

    asyncio.run(TimeoutMiddleware(slow, timeout=0.05)({"type": "http", "path": "/x"}, None, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 504


def test_batch_wait_is_pinned_whatever_the_optimizer_learns():
    from bentoml._internal.marshal.dispatcher import CorkDispatcher

    dispatcher = CorkDispatcher(max_latency_in_ms=10_000, max_batch_size=64, fallback=lambda: None)

    class Factory:
        dispatchers = {"predict": dispatcher}

    opt = dispatcher.optimizer
    for i in range(20):  # batches that waited 50 ms: stock BentoML would learn wait = 0.05
        opt.log_outbound(n=8, wait=0.05, duration=0.002 + i * 1e-5)
    opt.trigger_refresh()
    assert opt.wait == pytest.approx(0.05)
    bentoml_patches.pin_batch_wait(Factory, 2.0)
    assert opt.wait == 0.002
    for _ in range(20):
        opt.log_outbound(n=8, wait=0.05, duration=0.002)
    opt.trigger_refresh()
    assert opt.wait == 0.002 and opt.o_stat  # it still learns durations, only the wait is pinned


def test_client_errors_are_not_logged_by_bentoml_server_errors_are(caplog):
    from _bentoml_impl.server import app
    from bentoml.exceptions import BadInput, InternalServerError
    from pydantic import BaseModel, ValidationError

    bentoml_patches.quiet_client_errors()

    class Request:  # what log_exception reads
        class url:
            path = "/predict"
        method = "POST"

    class M(BaseModel):
        x: int

    caplog.set_level(logging.DEBUG)
    for exc in (lambda: M(x="no"), lambda: (_ for _ in ()).throw(BadInput("bad field"))):
        try:
            exc()
        except (ValidationError, BadInput):
            app.log_exception(Request)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    for exc in (RuntimeError("bug"), InternalServerError("down")):
        try:
            raise exc
        except Exception:  # noqa: BLE001
            app.log_exception(Request)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info for r in errors)


def test_io_descriptor_override_is_the_response_path():
    """``ensure_io_descriptor`` builds the output class whose ``to_http_response`` BentoML calls:
    ours gives one compact body with Content-Length (BentoML's own streams chunks)."""
    from _bentoml_sdk.io_models import IODescriptor, ensure_io_descriptor

    from bento.schemas import Prediction, json_response

    class Out(ensure_io_descriptor(list[Prediction])):
        @classmethod
        async def to_http_response(cls, obj, serde):
            return json_response(obj, single=False)

    assert issubclass(Out, IODescriptor)
    p = {"customer_id": "C1", "churn_probability": 0.25, "will_churn": False, "risk": "low", "model_version": "3"}
    resp = asyncio.run(Out.to_http_response([p], None))
    assert resp.body == b'[{"customer_id":"C1","churn_probability":0.25,"will_churn":false,"risk":"low",' \
                        b'"model_version":"3"}]'
    assert resp.headers["content-length"] == str(len(resp.body))


def test_the_pinned_bentoml_is_the_installed_one_and_a_mismatch_stops_start_up():
    import re
    from pathlib import Path

    import bentoml

    pin = re.search(r'"bentoml==([^"]+)"', (Path(__file__).parents[1] / "pyproject.toml").read_text()).group(1)
    assert bentoml_patches.PINNED_BENTOML == pin == bentoml.__version__
    bentoml_patches.check_version()  # the installed one passes
    with pytest.raises(RuntimeError, match=r"BentoML 1\.4\.40, but BentoML 1\.5\.0 is installed"):
        bentoml_patches.check_version("1.5.0")


# Where a dependency's private API is used, and why: one module each, each with a behavioural test.
PRIVATE_USERS = {
    "bento/bentoml_patches.py": "BentoML internals behind the service (test_bentoml_patches.py)",
    "churn_assets/local/origin.py": "Dagster run creation with a code-location origin (test_run_origin.py)",
    "bento/churn_pb2_grpc.py": "generated by grpcio-tools (its version check)",
}


def _private_imports(path) -> list[str]:
    """Modules imported from ``path`` whose dotted name has a private part (``_x``), ours included."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                    if node.module.startswith(("churn_assets", "bento"))]
        elif isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        else:
            continue
        out += [m for m in mods if m != "__future__" and any(part.startswith("_") and not part.startswith("__")
                                                             for part in m.split("."))]
    return out


def test_private_apis_are_used_in_one_module_each():
    """A private module of a dependency (``_bentoml_sdk``, ``bentoml._internal``, ``dagster._core``...)
    is imported only where PRIVATE_USERS says; and no module imports a private name of another of ours."""
    from pathlib import Path

    root = Path(__file__).parents[1]
    users = {}
    for path in [*root.glob("bento/*.py"), *root.glob("churn_assets/**/*.py"), *root.glob("bench/*.py")]:
        if found := _private_imports(path):
            users[path.relative_to(root).as_posix()] = found
    assert set(users) == set(PRIVATE_USERS), users


def test_the_private_import_scan_sees_both_kinds(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("from dagster._core.x import y\nfrom churn_assets.core.stats import _counts, interval\n"
                 "import numpy\n")
    assert _private_imports(p) == ["dagster._core.x", "churn_assets.core.stats._counts"]


def test_io_descriptor_makes_a_response_model_bentoml_can_describe():
    from pydantic import BaseModel

    class Out(BaseModel):
        x: float

    desc = bentoml_patches.io_descriptor(list[Out])
    assert desc.model_json_schema()["type"] == "array"
