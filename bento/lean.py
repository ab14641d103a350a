"""The lean request path of ``/predict`` and ``/predict_batch``: answered from the HTTP edge.

Profiled under load (docs/PERFORMANCE.md), two thirds of a served ``/predict`` was framework:
Starlette's router and request objects, BentoML's IO descriptors, serde and response objects, and
pydantic's per-record Python hooks. The edge (bento/edge.py) hands these two POST routes, once it
has checked the key, the content type and the body size, to ``LeanRoutes``, which

* reads the body and decodes it with the contract's compiled msgspec decoder
  (``churn_assets.model.request_decoder``); a body that decoder does not accept is validated by the
  route's own pydantic model (BentoML's input spec), so every 4xx body is the one BentoML answers;
* scores through the same code as the routes: ``/predict`` joins the service's adaptive batcher
  (``bentoml_patches.batch_caller``, as gRPC does: HTTP and gRPC records share batches, and
  ``bentoml_service_adaptive_batch_size`` counts them), ``/predict_batch`` calls ``score`` directly;
* encodes the answer with msgspec and sends it in one ASGI message, with BentoML's ``Server`` header.

BentoML's outer middlewares (request metrics, tracing exclusions, timeout, concurrency limit) still
wrap it. Until the service's start-up hook has bound the routes (or when CORS is configured, whose
middleware sits inside the edge), requests take BentoML's own route, which answers the same.
"""

from __future__ import annotations

import json
import logging

import msgspec

from bento import bentoml_patches

log = logging.getLogger("bentoml.service")
_JSON = b"application/json"


class Record:
    """A validated record as the service reads it: ``__dict__`` (the values) and ``_rq`` (request id,
    transport, arrival), like the pydantic ``Customer`` it replaces on this path."""

    __slots__ = ("__dict__", "_rq")


def records(values: list[dict], rq: tuple) -> list[Record]:
    out = []
    for v in values:
        r = Record()
        r.__dict__ = v
        r._rq = rq
        out.append(r)
    return out


class LeanRoutes:
    def __init__(self, decoder, service_name: str) -> None:
        self.decoder = decoder
        self.server = f"BentoML Service/{service_name}".encode()
        self.encode = msgspec.json.Encoder().encode
        self.svc = None
        self.specs: dict[str, type] = {}
        self.paths = frozenset({"/predict", "/predict_batch"})

    @property
    def bound(self) -> bool:
        return self.svc is not None

    def bind(self, svc, factory, specs: dict[str, type]) -> None:
        """From the service's start-up hook: its instance, its ServiceAppFactory and the input specs
        (``/predict`` -> BentoML's input model) whose validation errors the routes answer."""
        if bentoml_patches.cors_enabled(factory):
            log.info("CORS is configured: /predict and /predict_batch take BentoML's route")
            return
        self.svc, self.specs = svc, specs

    async def __call__(self, path: str, rq: tuple, receive, send) -> None:
        body = await _read(receive)
        if body is None:  # the client went away
            return
        try:
            if path == "/predict":
                values = self.decoder.single(body)
                if values is None:
                    values = [c.__dict__ for c in self.specs[path].model_validate_json(body or b"{}").customer]
                out = await self.svc.batched_predict(records(values, rq))
                payload = self.encode(out[0] if len(out) == 1 else out)
            else:
                values = self.decoder.batch(body)
                if values is None:
                    values = [c.__dict__ for c in self.specs[path].model_validate_json(body or b"{}").customers]
                payload = self.encode(self.svc.score(records(values, rq)))
        except Exception as exc:
            status, error = bentoml_patches.endpoint_error(exc)
            if status >= 500:
                log.error("%s failed", path, exc_info=exc)
            return await self._send(send, status, json.dumps(error, separators=(",", ":")).encode())
        await self._send(send, 200, payload)

    async def _send(self, send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON),
                                (b"server", self.server)]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _read(receive) -> bytes | None:
    message = await receive()
    if message["type"] != "http.request":
        return None
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
