"""The churn Bento: HTTP (adaptive batching) and gRPC from the same workers and the same batcher.

The served model is the registry champion saved by the ``churn_bento`` asset; its data contract
generates the request schema (OpenAPI shows the real fields) and its Pipeline's fitted steps
score records straight into numpy (``churn_assets.core.scoring.FastScorer``), with probabilities
identical to ``Pipeline.predict_proba`` (tested).

Environment: CHURN_BENTO_MODEL (model tag, default churn-classifier:latest), CHURN_GRPC_PORT
(default 50051; 0 disables gRPC), CHURN_RISK_BANDS (default "0.3,0.6"), CHURN_SERVING_AS_OF
("model": the model's as-of date, default; "today"), CHURN_SERVING_WORKERS (default 2),
CHURN_BATCH_WAIT_MS (default 2), CHURN_MAX_BATCH_SIZE (default 64).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

import bentoml
from _bentoml_sdk.io_models import ensure_io_descriptor

from bento import runtime
from bento.schemas import Prediction, json_response, make_models
from churn_assets.core.scoring import FastScorer, risk_band
from churn_assets.core.spec import DataContract

log = logging.getLogger("bentoml.service")
runtime.patch_timeout_middleware()

MODEL_TAG = os.environ.get("CHURN_BENTO_MODEL", "churn-classifier:latest")
_MODEL = bentoml.models.get(MODEL_TAG)
META = _MODEL.info.metadata
CONTRACT = DataContract.from_json(META["contract"])
Customer, PredictIn, BatchIn = make_models(CONTRACT, json.loads(META["example"]))
BANDS = tuple(float(x) for x in os.environ.get("CHURN_RISK_BANDS", "0.3,0.6").split(","))
GRPC_PORT = int(os.environ.get("CHURN_GRPC_PORT", "50051"))


class PredictionOut(ensure_io_descriptor(Prediction)):
    @classmethod
    async def to_http_response(cls, obj, serde):
        return json_response(obj)


class PredictionsOut(ensure_io_descriptor(list[Prediction])):
    @classmethod
    async def to_http_response(cls, obj, serde):
        return json_response(obj)


@bentoml.service(
    name="churn_service",
    workers=int(os.environ.get("CHURN_SERVING_WORKERS", "2")),
    threads=1,
    # A request that takes 10 s is broken; a short timeout also bounds per-request timers.
    traffic={"timeout": 10},
    logging={"access": {"enabled": os.environ.get("CHURN_ACCESS_LOG", "0") == "1"}},
    # Tracing middleware costs 15-20% CPU per request; keep it off the prediction routes.
    tracing={"excluded_urls": ["/predict", "/predict_batch"]},
)
class ChurnService:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.pipeline = bentoml.sklearn.load_model(self.model_ref)
        self.scorer = FastScorer(self.pipeline)
        self.threshold = float(META["threshold"])
        self.version = str(META["registry_version"])
        self.as_of_today = os.environ.get("CHURN_SERVING_AS_OF", "model") == "today"
        self.grpc = None
        self.factory = None

    # -- scoring (one implementation for HTTP, gRPC, single and batch) ---------------------------
    def score(self, customers: list) -> list[dict]:
        records = [c.__dict__ for c in customers]
        if self.as_of_today:
            today = dt.date.today()  # the serving edge may use the clock; features never do
            records = [r if r.get("as_of") else {**r, "as_of": today} for r in records]
        probs = self.scorer.predict_records(records)
        idc = CONTRACT.id_column
        return [{"customer_id": str(r[idc]), "churn_probability": float(p), "will_churn": bool(p >= self.threshold),
                 "risk": risk_band(p, BANDS), "model_version": self.version} for r, p in zip(records, probs)]

    @bentoml.api(route="/predict", batchable=True, batch_dim=0,
                 max_batch_size=int(os.environ.get("CHURN_MAX_BATCH_SIZE", "64")),
                 # A shedding deadline, not a wait window: far above p99 so load is never refused early.
                 max_latency_ms=10_000, input_spec=PredictIn, output_spec=PredictionOut)
    async def predict(self, customer: list) -> list[dict]:
        """Churn probability of one customer (concurrent requests are batched adaptively)."""
        return self.score(customer)

    @bentoml.api(route="/predict_batch", input_spec=BatchIn, output_spec=PredictionsOut)
    async def predict_batch(self, customers: list) -> list[dict]:
        """Churn probabilities of up to 10,000 customers in one call."""
        return self.score(customers)

    @bentoml.api(route="/model_info")
    async def model_info(self) -> dict:
        """Registry name, version and alias, threshold, test metrics and risk bands of the served model."""
        return {"name": META["registry_name"], "version": self.version, "alias": META["alias"],
                "bento_model": str(_MODEL.tag), "threshold": self.threshold, "risk_bands": list(BANDS),
                "metrics": json.loads(META["metrics"]), "dataset": CONTRACT.dataset,
                "as_of": CONTRACT.as_of, "grpc_port": GRPC_PORT or None}

    # -- lifecycle -------------------------------------------------------------------------------
    @bentoml.on_startup
    async def _start(self) -> None:
        self.factory = runtime.find_app_factory()
        # A fixed 2 ms batching window (see bento/runtime.py): measured best for c=32 throughput and
        # tail while keeping a lone request at ~2 ms.
        runtime.pin_batch_wait(self.factory, runtime.env_float("CHURN_BATCH_WAIT_MS", 2.0))
        self.scorer.predict_records([Customer.model_validate(json.loads(META["example"])).__dict__])  # warm up
        if GRPC_PORT:
            from bento.grpc_server import start

            self.grpc = await start(self, GRPC_PORT)
        runtime.freeze_heap()

    @bentoml.on_shutdown
    async def _stop(self) -> None:
        if self.grpc is not None:
            await self.grpc.stop(grace=2)

    def __is_ready__(self) -> bool:
        # /readyz covers gRPC too: not ready until this worker's gRPC server is serving.
        return self.scorer is not None and (not GRPC_PORT or (self.grpc is not None and self.grpc.serving))
