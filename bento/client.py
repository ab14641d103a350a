"""Python client of the churn gRPC API (churn.v1.ChurnPredictor).

    python -m bento.client --target 127.0.0.1:50051 '{"customer_id": "C1", ...}'
    python -m bento.client --target 127.0.0.1:50051 --file customers.json   # a list: PredictBatch
    python -m bento.client --explain 3 '{"customer_id": "C1", ...}'           # Explain: top 3 reasons

A record is the raw customer as JSON (the fields of the data set the model was trained on).
Invalid records raise ``grpc.RpcError`` with code INVALID_ARGUMENT and the field in the details.
With API keys on the server, pass ``api_key`` (``--api-key``): it is sent as ``authorization:
Bearer <key>`` metadata. ``last_request_id`` is the id of the last call in the prediction log.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bento import churn_pb2, churn_pb2_grpc


def to_struct(record: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(record)
    return s


def _as_dict(p: churn_pb2.Prediction) -> dict[str, Any]:
    return json_format.MessageToDict(p, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


class ChurnClient:
    """``channels`` > 1 opens several connections, so SO_REUSEPORT spreads them over server workers."""

    def __init__(self, target: str = "127.0.0.1:50051", channels: int = 1, timeout_s: float = 10.0,
                 api_key: str | None = None):
        self.channels = [grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(channels)]
        self.stubs = [churn_pb2_grpc.ChurnPredictorStub(c) for c in self.channels]
        self.timeout_s = timeout_s
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self.last_request_id: str | None = None
        self._next = 0

    def _stub(self):
        self._next = (self._next + 1) % len(self.stubs)
        return self.stubs[self._next]

    def _call(self, method, request):
        resp, call = method.with_call(request, timeout=self.timeout_s, metadata=self.metadata)
        self.last_request_id = dict(call.trailing_metadata() or ()).get("x-request-id")
        return resp

    def predict(self, customer: dict[str, Any]) -> dict[str, Any]:
        return _as_dict(self._call(self._stub().Predict, churn_pb2.PredictRequest(customer=to_struct(customer))))

    def predict_batch(self, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        req = churn_pb2.PredictBatchRequest(customers=[to_struct(c) for c in customers])
        return [_as_dict(p) for p in self._call(self._stub().PredictBatch, req).predictions]

    def explain(self, customers: list[dict[str, Any]], k: int = 3) -> list[dict[str, Any]]:
        req = churn_pb2.ExplainRequest(customers=[to_struct(c) for c in customers], k=k)
        return [_as_dict(e) for e in self._call(self._stub().Explain, req).explanations]

    def health(self) -> str:
        stub = health_pb2_grpc.HealthStub(self.channels[0])
        resp = stub.Check(health_pb2.HealthCheckRequest(service="churn.v1.ChurnPredictor"), timeout=self.timeout_s)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    def close(self) -> None:
        for c in self.channels:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("record", nargs="?", help="one customer as JSON")
    p.add_argument("--file", help="a JSON file with one record or a list of records")
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--api-key", help="API key (when the server requires one)")
    p.add_argument("--explain", type=int, metavar="K", help="Explain: the top K contributions per customer")
    args = p.parse_args(argv)
    data = json.load(open(args.file)) if args.file else json.loads(args.record or sys.stdin.read())
    with ChurnClient(args.target, api_key=args.api_key) as client:
        try:
            if args.explain is not None:
                out = client.explain(data if isinstance(data, list) else [data], args.explain)
            else:
                out = client.predict_batch(data) if isinstance(data, list) else client.predict(data)
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            return 2
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
