"""The churn Bento: HTTP (adaptive batching) and gRPC from the same workers and the same batcher.

The served model is the registry champion saved by the ``churn_bento`` asset; its data contract
generates the request schema (OpenAPI shows the real fields) and its Pipeline's fitted steps
score records straight into numpy (``churn_assets.model.scorer.FastScorer``), with probabilities
identical to ``Pipeline.predict_proba`` (tested).

Settings: ``churn_assets.model.settings.ServingSettings`` (one instance, ``SETTINGS``). The HTTP edge
(keys, content types, body cap, error model) is bento/edge.py; every prediction is appended to the
prediction log (churn_assets/model/prediction_log.py) off the request path. When the Bento also packs
the registry's challenger, ``CHURN_SERVING_MODE`` shadow/ab routes it inside the same batch call
(bento/arms.py); /explain answers why (bento/explain_api.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

import bentoml
import yaml

from bento import arms, bentoml_patches, explain_api, grpc_server, metrics, openapi
from bento.edge import Edge
from bento.keys import KeyRing
from bento.lean import LeanRoutes
from bento.schemas import MAX_BATCH_RECORDS, Prediction, json_response, make_explain_in, make_models
from churn_assets.model.contract import DataContract
from churn_assets.model.prediction_log import PredictionLog
from churn_assets.model.pseudonym import serving_ring
from churn_assets.model.request_decoder import RequestDecoder
from churn_assets.model.request_schema import example_record
from churn_assets.model.settings import ServingSettings

log = logging.getLogger("bentoml.service")
bentoml_patches.check_version()
SETTINGS = ServingSettings()
bentoml_patches.patch_timeout_middleware()
bentoml_patches.quiet_client_errors()

def _model_tag(label: str, setting: str) -> str:
    """A model this Bento packs: its bento.yaml label (`model`: the champion, `challenger`: set by the
    churn_bento asset at build), read from the Bento's own bento.yaml when served from the store or
    an image; the setting (CHURN_BENTO_MODEL, CHURN_BENTO_CHALLENGER) when set (the build itself sets
    them, before any bento.yaml exists)."""
    if setting in SETTINGS.model_fields_set:
        return getattr(SETTINGS, setting)
    manifest = Path(__file__).resolve().parents[2] / "bento.yaml"  # <bento>/src/bento/service.py
    if manifest.is_file():
        value = (yaml.safe_load(manifest.read_text()) or {}).get("labels", {}).get(label)
        if value:
            return str(value)
    return getattr(SETTINGS, setting)


MODEL_TAG = _model_tag("model", "bento_model")
CHALLENGER_TAG = _model_tag("challenger", "bento_challenger")  # "" when the Bento packs no challenger
_MODEL = bentoml.models.get(MODEL_TAG)
META = _MODEL.info.metadata
CONTRACT = DataContract.from_json(META["contract"])
EXAMPLE = example_record(CONTRACT)  # valid by construction: Swagger's "Try it out" works as prefilled
Customer, PredictIn, BatchIn = make_models(CONTRACT, EXAMPLE)
ExplainIn = make_explain_in(Customer, EXAMPLE)
BANDS = SETTINGS.bands
KEYS = KeyRing.from_settings(SETTINGS)
LEAN = LeanRoutes(RequestDecoder(CONTRACT, MAX_BATCH_RECORDS), "churn_service")  # bento/lean.py


class PredictionOut(bentoml_patches.io_descriptor(Prediction)):
    @classmethod
    async def to_http_response(cls, obj, serde):
        return json_response(obj)


class PredictionsOut(bentoml_patches.io_descriptor(list[Prediction])):
    @classmethod
    async def to_http_response(cls, obj, serde):
        return json_response(obj, single=False)


class ExplanationsOut(bentoml_patches.io_descriptor(list[explain_api.Explanation])):
    @classmethod
    async def to_http_response(cls, obj, serde):
        return json_response(obj, single=False)


@bentoml.service(
    name="churn_service",
    workers=SETTINGS.serving_workers,
    threads=1,
    # A request that takes 10 s is broken; a short timeout also bounds per-request timers.
    traffic={"timeout": 10},
    logging={"access": {"enabled": SETTINGS.access_log}},
    # Tracing middleware costs 15-20% CPU per request; keep it off the prediction routes.
    tracing={"excluded_urls": ["/predict", "/predict_batch", "/explain"]},
)
class ChurnService:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)
    # Packed into the Bento only when churn_bento found a challenger (None is not a model to BentoML).
    model_ref_challenger = bentoml.models.BentoModel(CHALLENGER_TAG) if CHALLENGER_TAG else None

    def __init__(self) -> None:
        challenger = arms.Arm("challenger", bentoml.models.get(CHALLENGER_TAG), BANDS) if CHALLENGER_TAG else None
        self.router = arms.Router(arms.Arm("champion", _MODEL, BANDS), challenger, SETTINGS.serving_mode,
                                  SETTINGS.ab_challenger_share, CONTRACT.id_column)
        for arm in self.router.serving:  # once per worker: /explain answers from these
            arm.build_explainer()
        self.scorer = self.router.champion.scorer
        self.version = self.router.champion.version
        self.as_of_today = SETTINGS.serving_as_of == "today"
        self.grpc = None
        self.factory = None
        self.batched_predict = None
        self.plog: PredictionLog | None = None

    # -- scoring (one implementation for HTTP, gRPC, single and batch, both arms) ----------------
    def records(self, customers: list) -> list[dict]:
        records = [c.__dict__ for c in customers]
        if self.as_of_today:
            today = dt.date.today()  # the serving edge may use the clock; features never do
            records = [r if r.get("as_of") else {**r, "as_of": today} for r in records]
        return records

    def score(self, customers: list) -> list[dict]:
        return self.router.score(customers, self.records(customers))

    async def explain_records(self, customers: list, k: int) -> list[dict]:
        records = self.records(customers)
        if len(records) <= explain_api.INLINE_RECORDS:
            out = explain_api.explain(self.router, records, k)
        else:  # in a thread: TreeSHAP of a big forest runs ~250 rows/s, and the event loop must keep
            # serving /predict and gRPC meanwhile
            out = await asyncio.to_thread(explain_api.explain, self.router, records, k)
        self.router.log_explained(customers, records, out)  # an explanation serves a probability too
        return out

    @bentoml.api(route="/predict", batchable=True, batch_dim=0, max_batch_size=SETTINGS.max_batch_size,
                 # A shedding deadline, not a wait window: far above p99 so load is never refused early.
                 max_latency_ms=10_000, input_spec=PredictIn, output_spec=PredictionOut)
    async def predict(self, customer: list) -> list[dict]:
        """Churn probability of one customer (concurrent requests are batched adaptively)."""
        return self.score(customer)

    @bentoml.api(route="/predict_batch", input_spec=BatchIn, output_spec=PredictionsOut)
    async def predict_batch(self, customers: list) -> list[dict]:
        """Churn probabilities of up to 10,000 customers in one call."""
        return self.score(customers)

    @bentoml.api(route="/explain", input_spec=ExplainIn, output_spec=ExplanationsOut)
    async def explain(self, customers: list, k: int = explain_api.DEFAULT_K) -> list[dict]:
        """Why: per customer the probability, the base value and the top-k contributions per raw input column."""
        return await self.explain_records(customers, k)

    @bentoml.api(route="/model_info")
    async def model_info(self) -> dict:
        """The champion's registry name, version, alias, threshold, test metrics and risk bands; the serving
        mode and both arms (the challenger is null when the Bento packs none)."""
        champion = self.router.champion
        return {"name": META["registry_name"], "version": self.version, "alias": META["alias"],
                "bento_model": str(_MODEL.tag), "threshold": champion.threshold, "risk_bands": list(BANDS),
                "metrics": json.loads(META["metrics"]), "dataset": CONTRACT.dataset,
                "as_of": CONTRACT.as_of, "grpc_port": SETTINGS.grpc_port or None, **self.router.info()}

    # -- lifecycle -------------------------------------------------------------------------------
    @bentoml.on_startup
    async def _start(self) -> None:
        self.factory = bentoml_patches.find_app_factory()
        # A fixed 2 ms batching window (see bento/bentoml_patches.py): measured best for c=32
        # throughput and tail while keeping a lone request at ~2 ms.
        bentoml_patches.pin_batch_wait(self.factory, SETTINGS.batch_wait_ms)
        self.batched_predict = bentoml_patches.batch_caller(self.factory, self, "predict")  # HTTP and gRPC
        warm = [Customer.model_validate(EXAMPLE).__dict__]
        for arm in (self.router.champion, self.router.challenger):
            if arm is not None:
                arm.scorer.predict_records(warm)
                if arm.explainer is not None:
                    arm.explainer.explain_records(warm)
        if SETTINGS.prediction_log:
            self.plog = PredictionLog(SETTINGS.prediction_log_url, SETTINGS.prediction_log_queue,
                                      SETTINGS.prediction_log_batch, SETTINGS.prediction_log_flush_ms / 1000,
                                      count=metrics.log_rows, id_field=CONTRACT.id_column,
                                      pseudonyms=serving_ring(SETTINGS.id_hash_keys.get_secret_value(),
                                                              SETTINGS.home)).start()
            self.router.plog = self.plog
        if SETTINGS.grpc_port:
            self.grpc = await grpc_server.start(self, Customer, KEYS, SETTINGS.grpc_host, SETTINGS.grpc_port,
                                                SETTINGS.grpc_max_connection_age_s)
        if SETTINGS.lean_routes:
            LEAN.bind(self, self.factory, {"/predict": ChurnService.apis["predict"].input_spec,
                                           "/predict_batch": ChurnService.apis["predict_batch"].input_spec})
        bentoml_patches.freeze_heap()

    @bentoml.on_shutdown
    async def _stop(self) -> None:
        if self.grpc is not None:
            await self.grpc.stop(grace=2)
        if self.plog is not None:
            self.plog.close()

    def __is_ready__(self) -> bool:
        # /readyz covers gRPC too: not ready until this worker's gRPC server is serving.
        return self.scorer is not None and (not SETTINGS.grpc_port or (self.grpc is not None and self.grpc.serving))


_API_ROUTES = frozenset(api.route for api in ChurnService.apis.values())
ChurnService.add_asgi_middleware(
    Edge, keys=KEYS, open_paths=SETTINGS.open_path_set, api_paths=_API_ROUTES, max_body=SETTINGS.max_body_bytes,
    recycle_every=SETTINGS.http_recycle_every, lean=LEAN,
    openapi=lambda: openapi.document(ChurnService.openapi_spec.asdict(), set(_API_ROUTES), KEYS.enabled,
                                     Customer.model_json_schema().get("description", "")))
