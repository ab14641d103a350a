"""The host's physical limit for the serving benchmark: servers that do nothing but the web stack.

* HTTP: a bare Starlette app under uvicorn (2 workers, like the Bento): ``POST /predict`` parses the
  JSON body and answers a Prediction-shaped JSON object with the record's id;
* gRPC: a bare ``grpc.aio`` servicer of ``churn.v1.ChurnPredictor/Predict`` (2 processes sharing the
  port with SO_REUSEPORT): it answers a fixed ``Prediction`` with the request's id.

    uvicorn bench.echo:app --workers 2                  # HTTP
    python -m bench.echo --grpc-port 50052 --processes 2   # gRPC
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def predict(request: Request) -> Response:
    body = json.loads(await request.body())
    customer = body.get("customer") or {}
    out = {"customer_id": str(next(iter(customer.values()), "")), "churn_probability": 0.5, "will_churn": False,
           "risk": "medium", "model_version": "echo", "arm": "champion"}
    return Response(json.dumps(out), media_type="application/json")


async def ready(request: Request) -> Response:
    return Response("ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])


def _grpc_serve(port: int) -> None:
    import grpc

    from bento import churn_pb2, churn_pb2_grpc

    class Echo(churn_pb2_grpc.ChurnPredictorServicer):
        async def Predict(self, request, context):
            fields = request.customer.fields
            cid = next(iter(fields.values())).string_value if fields else ""
            return churn_pb2.Prediction(customer_id=cid, churn_probability=0.5, risk="medium", model_version="echo",
                                        arm="champion")

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
        churn_pb2_grpc.add_ChurnPredictorServicer_to_server(Echo(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--processes", type=int, default=2)
    args = p.parse_args(argv)
    procs = [multiprocessing.Process(target=_grpc_serve, args=(args.grpc_port,)) for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
