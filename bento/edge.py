"""The HTTP edge of the Bento: API keys, content types, body size, request ids, one error model.

A plain ASGI middleware (no per-request Starlette objects: it costs microseconds), innermost of
BentoML's own middlewares, so a rejected request never reaches input parsing or the batcher:

* a path outside ``CHURN_OPEN_PATHS`` needs a key (``Authorization: Bearer`` or ``X-API-Key``):
  401 otherwise, with ``WWW-Authenticate``;
* on the API routes: only ``application/json`` bodies (415 otherwise; BentoML answered a
  multipart type without a boundary with a 500), at most ``CHURN_MAX_BODY_BYTES`` (413, checked
  on ``Content-Length`` before reading, and while reading a chunked body);
* every response carries ``X-Request-ID`` (the id under which the prediction log keeps the row);
* every ``CHURN_HTTP_RECYCLE_EVERY``-th response asks its client to reconnect (``Connection:
  close``): keep-alive connections otherwise stay on the worker that accepted them, so after a
  worker is killed and respawned all load would stay on the survivor (measured: throughput never
  came back within 40 s at c=64); reconnecting clients are accepted by the idle worker first;
* every 4xx/5xx body is rewritten into the documented ``ErrorResponse`` (``/docs.json`` declares
  it for every status the routes can answer), each 4xx is logged once at INFO, without a
  traceback or any header, and counted in ``churn_http_rejected_total{reason,status}``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from http import HTTPStatus

from bento import metrics
from bento.keys import KeyRing, bearer
from bento.schemas import REQUEST, ErrorResponse

log = logging.getLogger("bentoml.service")
_JSON = b"application/json"
_REASONS = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            408: "timeout", 413: "body_too_large", 415: "unsupported_media_type", 422: "validation_error",
            429: "too_many_requests", 500: "internal_error", 503: "unavailable", 504: "timeout"}


_PREFIX = os.urandom(6).hex()  # per worker process: ids stay unique across workers and restarts
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_request_id() -> str:
    """24 hex digits: this worker's random prefix and a counter (no syscall per request)."""
    return f"{_PREFIX}{next(_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def reason_of(status: int, detail: list[dict]) -> str:
    if status == 400:
        return "invalid_json" if any(str(d.get("type", "")).startswith("json") for d in detail) else \
            "validation_error" if detail else "bad_request"
    return _REASONS.get(status, f"http_{status}")


def error_body(status: int, body: bytes, request_id: str) -> tuple[bytes, str]:
    """Any error body (BentoML's, Starlette's, ours) -> the documented ErrorResponse JSON."""
    detail: list[dict] = []
    message = ""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):  # BentoML 4xx: ({"error": ...},)
        data = data[0]
    if isinstance(data, dict):
        message = str(data.get("error") or data.get("message") or "")
        raw = data.get("detail")
        if isinstance(raw, list):
            detail = [{"loc": [p if isinstance(p, int | str) else str(p) for p in d.get("loc", [])],
                       "msg": str(d.get("msg", "")), "type": str(d.get("type", ""))}
                      for d in raw if isinstance(d, dict)]
        elif isinstance(raw, str) and not message:
            message = raw
    elif body and data is None:
        message = body.decode("utf-8", "replace")[:500]
    if detail:
        named = "; ".join(f"{'.'.join(str(p) for p in d['loc']) or 'body'}: {d['msg']} ({d['type']})"
                          for d in detail[:5])
        message = f"{message}: {named}" if message else named
    reason = reason_of(status, detail)
    out = ErrorResponse(error=reason, message=message or HTTPStatus(status).phrase, detail=detail,
                        request_id=request_id)
    return out.model_dump_json().encode(), reason


class Edge:
    def __init__(self, app, keys: KeyRing, open_paths: frozenset[str], api_paths: frozenset[str],
                 max_body: int, openapi, recycle_every: int = 0, lean=None) -> None:
        self.app, self.keys, self.open_paths, self.api_paths = app, keys, open_paths, api_paths
        self.lean = lean  # bento/lean.py: /predict and /predict_batch answered from here once bound
        self.max_body, self.openapi, self.recycle_every = max_body, openapi, recycle_every
        self._spec: bytes | None = None
        self._served = itertools.count(1)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            return await self.app(scope, receive, send)
        rid = new_request_id()
        path = scope["path"]
        ctype = length = key = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value
            elif name == b"content-length":
                length = value
            elif name == b"x-api-key":
                key = value
            elif name == b"authorization" and key is None:
                key = bearer(value)
        if self.keys.enabled and not self.keys.check(key):
            return await self._reject(scope, send, 401, "missing or invalid API key: send `Authorization: "
                                      "Bearer <key>` or `X-API-Key: <key>`", rid, [(b"www-authenticate", b"Bearer")])
        if path == "/docs.json":
            if self._spec is None:
                self._spec = json.dumps(self.openapi()).encode()
            return await _respond(send, 200, self._spec, rid)
        if path in self.api_paths and scope["method"] == "POST":
            media = ctype.split(b";", 1)[0].strip().lower() if ctype else _JSON
            if media != _JSON:
                return await self._reject(scope, send, 415, f"unsupported content type {media.decode('latin-1')!r}:"
                                          " send application/json", rid)
            if length is not None:
                if not length.isdigit():
                    return await self._reject(scope, send, 400, "invalid Content-Length header", rid)
                if int(length) > self.max_body:
                    return await self._reject(scope, send, 413, self._too_large(), rid)
            else:
                receive = await self._buffered(receive)
                if receive is None:
                    return await self._reject(scope, send, 413, self._too_large(), rid)
        rq = (rid, "http", time.perf_counter())
        close = self.recycle_every > 0 and next(self._served) % self.recycle_every == 0
        lean = self.lean
        if lean is not None and lean.bound and path in lean.paths and scope["method"] == "POST":
            return await lean(path, rq, receive, _ErrorRewriter(send, rid, scope, close))
        token = REQUEST.set(rq)
        try:
            await self.app(scope, receive, _ErrorRewriter(send, rid, scope, close))
        finally:
            REQUEST.reset(token)

    def _too_large(self) -> str:
        return f"request body over {self.max_body:,} bytes (CHURN_MAX_BODY_BYTES); send at most 10,000 records"

    async def _buffered(self, receive):
        """Read a body sent without Content-Length (chunked) up to the cap; None if over it."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _reject(self, scope, send, status: int, message: str, rid: str, headers=()):
        body, reason = error_body(status, json.dumps({"error": message}).encode(), rid)
        count_and_log(scope, status, reason, rid)
        await _respond(send, status, body, rid, headers)


def count_and_log(scope, status: int, reason: str, rid: str) -> None:
    if status < 500:
        metrics.rejected("http", reason, status)
        log.info("rejected %s %s: %d %s (request %s)", scope["method"], scope["path"], status, reason, rid)
    else:
        log.warning("%s %s: %d %s (request %s)", scope["method"], scope["path"], status, reason, rid)


async def _respond(send, status: int, body: bytes, rid: str, headers=()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()),
                            (b"x-request-id", rid.encode()), *headers]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _ErrorRewriter:
    """``send`` that adds X-Request-ID and turns any error body into the ErrorResponse model."""

    __slots__ = ("chunks", "close", "rid", "scope", "send", "start")

    def __init__(self, send, rid: str, scope, close: bool = False) -> None:
        self.send, self.rid, self.scope, self.start, self.chunks = send, rid, scope, None, []
        self.close = close

    async def __call__(self, message):
        kind = message["type"]
        if kind == "http.response.start":
            if message["status"] >= 400:
                self.start = message
                return None
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", self.rid.encode()),
                                  *([(b"connection", b"close")] if self.close else ())]
        elif kind == "http.response.body" and self.start is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            status = self.start["status"]
            body, reason = error_body(status, b"".join(self.chunks), self.rid)
            count_and_log(self.scope, status, reason, self.rid)
            keep = [(k, v) for k, v in self.start.get("headers", ()) if k.lower() in (b"allow", b"retry-after")]
            self.start = None
            return await _respond(self.send, status, body, self.rid, keep)
        return await self.send(message)
