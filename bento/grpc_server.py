"""gRPC (package churn.v1) served from inside each BentoML worker, through the HTTP batcher.

Why inside the service: ``bentoml serve-grpc`` refuses new-style services, and the legacy path
is slower and broken on this dependency set (README, "Serving"). Each worker starts a
``grpc.aio`` server on the same port (SO_REUSEPORT: the kernel spreads connections over
workers) and hands single-record calls to the worker's adaptive batcher, so HTTP and gRPC
requests share batches. Validation is the HTTP request model's: a bad message gets
INVALID_ARGUMENT naming the field and the rule. gRPC health (grpc.health.v1) reports SERVING
once the model is warm; request counts and latencies go to the service's Prometheus /metrics.
"""

from __future__ import annotations

import os
import time

import bentoml
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import ValidationError

from bento import churn_pb2, churn_pb2_grpc

SERVICE = "churn.v1.ChurnPredictor"
REQUESTS = bentoml.metrics.Counter(name="churn_grpc_requests", documentation="gRPC requests by method and code",
                                   labelnames=["method", "code"])
LATENCY = bentoml.metrics.Histogram(name="churn_grpc_request_duration_seconds", labelnames=["method"],
                                    documentation="gRPC request latency",
                                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))


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


def _prediction(d: dict) -> churn_pb2.Prediction:
    return churn_pb2.Prediction(**d)


class _Servicer(churn_pb2_grpc.ChurnPredictorServicer):
    def __init__(self, svc) -> None:
        from bento.service import Customer

        self.svc, self.customer, self.factory = svc, Customer, svc.factory

    async def Predict(self, request, context):
        started, code = time.perf_counter(), "OK"
        try:
            try:
                record = self.customer.model_validate(struct_to_dict(request.customer))
            except ValidationError as err:
                code = "INVALID_ARGUMENT"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _describe(err, "customer"))
            out = await self.factory.batch_infer("predict", ([record],), {})
            return _prediction(out[0])
        finally:
            REQUESTS.labels(method="Predict", code=code).inc()
            LATENCY.labels(method="Predict").observe(time.perf_counter() - started)

    async def PredictBatch(self, request, context):
        started, code = time.perf_counter(), "OK"
        try:
            if len(request.customers) > 10_000:
                code = "INVALID_ARGUMENT"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "customers: at most 10,000 records per call")
            records = []
            for i, c in enumerate(request.customers):
                try:
                    records.append(self.customer.model_validate(struct_to_dict(c)))
                except ValidationError as err:
                    code = "INVALID_ARGUMENT"
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _describe(err, f"customers.{i}"))
            return churn_pb2.PredictBatchResponse(predictions=[_prediction(d) for d in self.svc.score(records)])
        finally:
            REQUESTS.labels(method="PredictBatch", code=code).inc()
            LATENCY.labels(method="PredictBatch").observe(time.perf_counter() - started)


class GrpcServer:
    def __init__(self, server: grpc.aio.Server, health_servicer) -> None:
        self.server, self.health, self.serving = server, health_servicer, False

    async def stop(self, grace: float = 2.0) -> None:
        self.serving = False
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start(svc, port: int) -> GrpcServer:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    churn_pb2_grpc.add_ChurnPredictorServicer_to_server(_Servicer(svc), server)
    health_servicer = health.aio.HealthServicer()
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

