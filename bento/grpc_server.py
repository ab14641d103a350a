"""gRPC (package churn.v1) served from inside each BentoML worker, through the HTTP batcher.

Why inside the service: ``bentoml serve-grpc`` refuses new-style services, and the legacy path
is slower and broken on this dependency set (README, "Serving"). Each worker starts a
``grpc.aio`` server on its own event loop and on the same port (SO_REUSEPORT: the kernel spreads
connections over workers); single-record calls await the worker's adaptive batcher
(``ServiceAppFactory.batch_infer``), so HTTP and gRPC requests share batches.

Why ``grpc.aio`` and not a thread-pool server: measured on 2026-11-27 with the batching window
pinned (bento/runtime.py), the sync server's Python machinery costs ~0.26 ms of CPU per call
(a bare no-op server: 3,900 req/s on one core, vs 6,500 for aio), and every call crosses three
threads and the GIL; in the Bento at c=32 the aio server gave 3,770-4,310 req/s with p99 14-16 ms,
the thread pool 3,400-3,600 req/s with p99 26-33 ms. (Before the window was pinned, aio calls
trickled into the batcher one by one and the thread pool won; README, "Serving".)

Validation is the HTTP request model's: a bad message gets INVALID_ARGUMENT naming the field and
the rule. gRPC health (grpc.health.v1) reports SERVING once the model is warm; request counts
and latencies go to the service's Prometheus /metrics.
"""

from __future__ import annotations

import asyncio
import os
import time

import bentoml
import grpc
from bentoml.exceptions import ServiceUnavailable
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from pydantic import ValidationError

from bento import churn_pb2, churn_pb2_grpc

SERVICE = "churn.v1.ChurnPredictor"
MAX_BATCH_RECORDS = 10_000
REQUESTS = bentoml.metrics.Counter(name="churn_grpc_requests", documentation="gRPC requests by method and code",
                                   labelnames=["method", "code"])
LATENCY = bentoml.metrics.Histogram(name="churn_grpc_request_duration_seconds", labelnames=["method"],
                                    documentation="gRPC request latency",
                                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
# Labelled children bound once: `.labels()` takes a lock and a lookup on every call.
_COUNT = {(m, c): REQUESTS.labels(method=m, code=c) for m in ("Predict", "PredictBatch")
          for c in ("OK", "INVALID_ARGUMENT", "CANCELLED", "UNAVAILABLE", "INTERNAL")}
_LATENCY = {m: LATENCY.labels(method=m) for m in ("Predict", "PredictBatch")}


def _observe(method: str, code: str, started: float) -> None:
    _COUNT[(method, code)].inc()
    _LATENCY[method].observe(time.perf_counter() - started)


def struct_to_dict(s) -> dict:
    out = {}
    for key, value in s.fields.items():
        kind = value.WhichOneof("kind")
        if kind == "null_value" or kind is None:
            out[key] = None
        elif kind in ("number_value", "string_value", "bool_value"):
            out[key] = getattr(value, kind)
        else:  # nested struct/list: never valid for a flat record; let validation say so
            out[key] = str(value)
    return out


def _describe(err: ValidationError, prefix: str) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *e["loc"]))
        parts.append(f"{loc}: {e['msg']} ({e['type']})")
    return "; ".join(parts)


class _Servicer(churn_pb2_grpc.ChurnPredictorServicer):
    """Handlers run on the worker's event loop: Predict awaits the adaptive batcher."""

    def __init__(self, svc) -> None:
        from bento.service import Customer

        self.svc, self.customer, self.factory = svc, Customer, svc.factory

    def _validate(self, struct, where: str):
        try:
            return self.customer.model_validate(struct_to_dict(struct)), None
        except ValidationError as err:
            return None, _describe(err, where)

    async def Predict(self, request, context):
        started, code = time.perf_counter(), "INVALID_ARGUMENT"
        try:
            record, error = self._validate(request.customer, "customer")
            if error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)
            code = "INTERNAL"
            try:
                out = await self.factory.batch_infer("predict", ([record],), {})
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

    async def PredictBatch(self, request, context):
        started, code = time.perf_counter(), "INVALID_ARGUMENT"
        try:
            if len(request.customers) > MAX_BATCH_RECORDS:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"customers: at most {MAX_BATCH_RECORDS:,} records per call")
            records = []
            for i, c in enumerate(request.customers):
                record, error = self._validate(c, f"customers.{i}")
                if error:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)
                records.append(record)
            code = "INTERNAL"
            scored = self.svc.score(records)  # on the event loop, like HTTP /predict_batch
            code = "OK"
            return churn_pb2.PredictBatchResponse(predictions=[churn_pb2.Prediction(**d) for d in scored])
        finally:
            _observe("PredictBatch", code, started)


class GrpcServer:
    def __init__(self, server: grpc.aio.Server, health_servicer: health_aio.HealthServicer) -> None:
        self.server, self.health, self.serving = server, health_servicer, False

    async def stop(self, grace: float = 2.0) -> None:
        self.serving = False
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start(svc, port: int) -> GrpcServer:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    churn_pb2_grpc.add_ChurnPredictorServicer_to_server(_Servicer(svc), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = os.environ.get("CHURN_GRPC_HOST", "127.0.0.1")  # 0.0.0.0 in containers
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise RuntimeError(f"gRPC could not bind {host}:{port}")
    await server.start()
    for name in (SERVICE, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    out = GrpcServer(server, health_servicer)
    out.serving = True
    return out
