"""gRPC (package churn.v1) served from inside each BentoML worker, through the HTTP batcher.

Why inside the service: ``bentoml serve-grpc`` refuses new-style services, and the legacy path
is slower and broken on this dependency set (docs/SERVING.md). Each worker starts a
``grpc.aio`` server on its own event loop and on the same port (SO_REUSEPORT: the kernel spreads
connections over workers); single-record calls await the worker's adaptive batcher
(``bentoml_patches.batch_caller``), so HTTP and gRPC requests share batches.

Why ``grpc.aio`` and not a thread-pool server: measured on 2026-11-27 with the batching window
pinned (bento/bentoml_patches.py), the sync server's Python machinery costs ~0.26 ms of CPU per call
(a bare no-op server: 3,900 req/s on one core, vs 6,500 for aio), and every call crosses three
threads and the GIL; in the Bento at c=32 the aio server gave 3,770-4,310 req/s with p99 14-16 ms,
the thread pool 3,400-3,600 req/s with p99 26-33 ms. (Before the window was pinned, aio calls
trickled into the batcher one by one and the thread pool won; docs/SERVING.md.)

Every Prediction names its arm and model version (champion/challenger routing: bento/arms.py, in
the one batch call); Explain answers as HTTP /explain (bento/explain_api.py). Validation is the
HTTP request model's: a bad message gets INVALID_ARGUMENT naming the field and
the rule, and so does a payload that is not a valid protobuf message (the deserializer never
raises; grpc.aio would answer UNKNOWN). With API keys configured, a call without a valid key in
its metadata (``authorization: Bearer <key>`` or ``x-api-key``) gets UNAUTHENTICATED before
validation or the batcher; health stays open. Each call's request id (its prediction-log rows) is
sent back as the trailing metadata ``x-request-id``. gRPC health (grpc.health.v1) reports SERVING
once the model is warm; request counts and latencies go to the service's Prometheus /metrics.
"""

from __future__ import annotations

import asyncio
import time

import bentoml
import grpc
from bentoml.exceptions import ServiceUnavailable
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from pydantic import ValidationError

from bento import churn_pb2, explain_api, metrics
from bento.edge import new_request_id
from bento.grpc_codec import Garbage, describe, safe, struct_to_dict
from bento.keys import KeyRing, bearer
from bento.schemas import MAX_BATCH_RECORDS, REQUEST

SERVICE = "churn.v1.ChurnPredictor"
REQUESTS = bentoml.metrics.Counter(name="churn_grpc_requests", documentation="gRPC requests by method and code",
                                   labelnames=["method", "code"])
LATENCY = bentoml.metrics.Histogram(name="churn_grpc_request_duration_seconds", labelnames=["method"],
                                    documentation="gRPC request latency",
                                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
# Labelled children bound once: `.labels()` takes a lock and a lookup on every call.
METHODS = ("Predict", "PredictBatch", "Explain")
_COUNT = {(m, c): REQUESTS.labels(method=m, code=c) for m in METHODS
          for c in ("OK", "INVALID_ARGUMENT", "UNAUTHENTICATED", "CANCELLED", "UNAVAILABLE", "INTERNAL",
                    "UNIMPLEMENTED")}
_LATENCY = {m: LATENCY.labels(method=m) for m in METHODS}


def _observe(method: str, code: str, started: float) -> None:
    _COUNT[(method, code)].inc()
    _LATENCY[method].observe(time.perf_counter() - started)


class _Servicer:
    """Handlers run on the worker's event loop: Predict awaits the adaptive batcher."""

    def __init__(self, svc, customer, keys: KeyRing) -> None:
        self.svc, self.customer, self.keys = svc, customer, keys

    def _validate(self, struct, where: str):
        try:
            return self.customer.model_validate(struct_to_dict(struct)), None
        except ValidationError as err:
            return None, describe(err, where)

    def _admit(self, request, context, started: float) -> tuple[grpc.StatusCode, str] | None:
        """Key and payload checks shared by all methods: None (admitted) or the refusal."""
        if self.keys.enabled:
            key = None
            for k, v in context.invocation_metadata() or ():
                if k == "x-api-key":
                    key = v
                elif k == "authorization" and key is None:
                    key = bearer(v)
            if not self.keys.check(key):
                metrics.rejected("grpc", "unauthenticated", "UNAUTHENTICATED")
                return grpc.StatusCode.UNAUTHENTICATED, ("missing or invalid API key: send metadata "
                                                         "`authorization: Bearer <key>` or `x-api-key: <key>`")
        if isinstance(request, Garbage):
            metrics.rejected("grpc", "invalid_message", "INVALID_ARGUMENT")
            return grpc.StatusCode.INVALID_ARGUMENT, request.error
        rid = new_request_id()
        REQUEST.set((rid, "grpc", started))  # this call's task only: records validated from here carry it
        context.set_trailing_metadata((("x-request-id", rid),))
        return None

    async def _invalid(self, context, error: str):
        metrics.rejected("grpc", "validation_error", "INVALID_ARGUMENT")
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)

    async def Predict(self, request, context):
        started, code = time.perf_counter(), "INVALID_ARGUMENT"
        try:
            refused = self._admit(request, context, started)
            if refused:
                code = refused[0].name
                await context.abort(*refused)
            record, error = self._validate(request.customer, "customer")
            if error:
                await self._invalid(context, error)
            code = "INTERNAL"
            try:
                out = await self.svc.batched_predict([record])
            except ServiceUnavailable as err:
                # BentoML's dispatcher reports a cancelled wait as "overloaded". A client that hung up
                # (deadline, disconnect, end of a load test) is CANCELLED, not a server error; real
                # load shedding is UNAVAILABLE, as HTTP answers 503.
                if context.cancelled() or asyncio.current_task().cancelling():
                    code = "CANCELLED"
                    raise asyncio.CancelledError from None  # grpc.aio drops it quietly
                code = "UNAVAILABLE"
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
            code = "OK"
            return churn_pb2.Prediction(**out[0])
        finally:
            _observe("Predict", code, started)

    async def _records(self, context, customers, most: int) -> list:
        if len(customers) > most:
            await self._invalid(context, f"customers: at most {most:,} records per call")
        records = []
        for i, c in enumerate(customers):
            record, error = self._validate(c, f"customers.{i}")
            if error:
                await self._invalid(context, error)
            records.append(record)
        return records

    async def PredictBatch(self, request, context):
        started, code = time.perf_counter(), "INVALID_ARGUMENT"
        try:
            refused = self._admit(request, context, started)
            if refused:
                code = refused[0].name
                await context.abort(*refused)
            records = await self._records(context, request.customers, MAX_BATCH_RECORDS)
            code = "INTERNAL"
            scored = self.svc.score(records) if records else []  # on the event loop, like HTTP /predict_batch
            code = "OK"
            return churn_pb2.PredictBatchResponse(predictions=[churn_pb2.Prediction(**d) for d in scored])
        finally:
            _observe("PredictBatch", code, started)

    async def Explain(self, request, context):
        started, code = time.perf_counter(), "INVALID_ARGUMENT"
        try:
            refused = self._admit(request, context, started)
            if refused:
                code = refused[0].name
                await context.abort(*refused)
            k = request.k or explain_api.DEFAULT_K  # proto3: 0 is "not set"
            if not 1 <= k <= explain_api.MAX_K:
                await self._invalid(context, f"k: must be between 1 and {explain_api.MAX_K} (got {k})")
            if not request.customers:
                await self._invalid(context, "customers: at least one record")
            records = await self._records(context, request.customers, explain_api.MAX_EXPLAIN_RECORDS)
            code = "INTERNAL"
            try:
                out = await self.svc.explain_records(records, k)
            except explain_api.ExplanationsUnavailable as err:
                code = "UNIMPLEMENTED"
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(err))
            code = "OK"
            return churn_pb2.ExplainResponse(explanations=[_explanation(d) for d in out])
        finally:
            _observe("Explain", code, started)


def _explanation(d: dict) -> churn_pb2.Explanation:
    contributions = [churn_pb2.Contribution(column=c["column"], value=c["value"]) for c in d["contributions"]]
    return churn_pb2.Explanation(**{**d, "contributions": contributions})


class GrpcServer:
    def __init__(self, server: grpc.aio.Server, health_servicer: health_aio.HealthServicer) -> None:
        self.server, self.health, self.serving = server, health_servicer, False

    async def stop(self, grace: float = 2.0) -> None:
        self.serving = False
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def handlers(servicer: _Servicer) -> grpc.GenericRpcHandler:
    """churn.v1.ChurnPredictor with deserializers that never raise (garbage -> INVALID_ARGUMENT)."""
    rpc = grpc.unary_unary_rpc_method_handler
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Predict": rpc(servicer.Predict, request_deserializer=safe(churn_pb2.PredictRequest),
                       response_serializer=churn_pb2.Prediction.SerializeToString),
        "PredictBatch": rpc(servicer.PredictBatch,
                            request_deserializer=safe(churn_pb2.PredictBatchRequest),
                            response_serializer=churn_pb2.PredictBatchResponse.SerializeToString),
        "Explain": rpc(servicer.Explain, request_deserializer=safe(churn_pb2.ExplainRequest),
                       response_serializer=churn_pb2.ExplainResponse.SerializeToString),
    })


async def start(svc, customer, keys: KeyRing, host: str, port: int, max_age_s: float = 0) -> GrpcServer:
    """Serve gRPC from this worker; ``customer`` is the request model, ``svc`` has ``score``,
    ``explain_records`` and ``batched_predict``. Workers share the port (SO_REUSEPORT); a client's HTTP/2
    connection stays on one worker, so connections are aged out (GOAWAY after ``max_age_s``) for
    clients to spread again after a worker restarts, as HTTP keep-alive is recycled."""
    options = [("grpc.so_reuseport", 1)]
    if max_age_s > 0:
        options += [("grpc.max_connection_age_ms", int(max_age_s * 1000)),
                    ("grpc.max_connection_age_grace_ms", 10_000)]
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers((handlers(_Servicer(svc, customer, keys)),))
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise RuntimeError(f"gRPC could not bind {host}:{port}")
    await server.start()
    for name in (SERVICE, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    out = GrpcServer(server, health_servicer)
    out.serving = True
    return out
