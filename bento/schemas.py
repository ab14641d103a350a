"""Request/response models of the Bento, generated from the served model's data contract."""

import contextvars
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from bento import explain_api
from churn_assets.model.contract import DataContract
from churn_assets.model.request_schema import customer_model, example_record

MAX_BATCH_RECORDS = 10_000
# (request id, transport, arrival time.perf_counter()) of the request being parsed: set by the HTTP
# edge and the gRPC handlers, read when a record is validated, so each record carries its request's
# id (prediction log) and arrival (per-arm latency) through the batcher.
REQUEST: contextvars.ContextVar[tuple[str, str, float]] = contextvars.ContextVar("churn_request",
                                                                                default=("", "", 0.0))


def _one_record(v: Any) -> Any:
    # /predict takes one record (a JSON object); the adaptive batcher works on lists and concatenates
    # them, so it becomes a list of one here. A list is refused: `[]` answered 200 with `[]` and a list
    # of n answered n predictions, neither the documented single Prediction.
    if isinstance(v, dict | BaseModel):
        return [v]
    raise PydanticCustomError("model_type", "Input should be one customer record (a JSON object); "
                                            "send lists of records to /predict_batch")


def _first(v: Any) -> Any:
    # The batcher hands each request its slice of the batch output: a one-element list.
    return v[0] if isinstance(v, list) and len(v) == 1 else v


class Prediction(BaseModel):
    customer_id: str
    churn_probability: float = Field(ge=0, le=1)
    will_churn: bool
    risk: Literal["low", "medium", "high"]
    model_version: str = Field(description="registry version of the model that answered")
    arm: Literal["champion", "challenger"] = Field(description="which arm answered (challenger: A/B mode only)")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: the path of the field, e.g. [\"customer\", \"total_spent\"]")
    msg: str = Field(description="what is wrong")
    type: str = Field(description="the rule, e.g. greater_than_equal, missing, extra_forbidden")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body of the HTTP API."""

    error: str = Field(description="machine-readable reason, e.g. validation_error, invalid_json, unauthenticated, "
                                   "unsupported_media_type, body_too_large, not_found, method_not_allowed")
    message: str = Field(description="human-readable explanation naming the field(s)")
    detail: list[ErrorItem] = Field(default_factory=list, description="one item per invalid field")
    request_id: str = Field(description="the id in the X-Request-ID response header")


def make_models(contract: DataContract, example: dict[str, Any] | None = None):
    """(Customer, PredictIn, BatchIn) for this contract. ``example`` (default: generated from the
    contract, ``request_schema.example_record``) is the valid record every request schema shows."""
    Base = customer_model(contract)
    example = example_record(contract) if example is None else example
    extra = {**Base.model_config.get("json_schema_extra", {}), "example": example}

    class Customer(Base):
        # A slot, not a pydantic PrivateAttr: private attributes doubled the validation cost of a
        # record (measured: +20 us per record), a slot costs nothing measurable.
        __slots__ = ("_rq",)
        model_config = ConfigDict(json_schema_extra=extra)

        def model_post_init(self, _context: Any) -> None:
            object.__setattr__(self, "_rq", REQUEST.get())

    schema = Customer.model_json_schema()

    class PredictIn(BaseModel):
        model_config = ConfigDict(json_schema_extra={"example": {"customer": example}})
        customer: Annotated[list[Customer], BeforeValidator(_one_record), WithJsonSchema(schema)] = Field(
            description="one raw customer record")

    class BatchIn(BaseModel):
        model_config = ConfigDict(json_schema_extra={"example": {"customers": [example]}})
        customers: list[Customer] = Field(max_length=MAX_BATCH_RECORDS,
                                          description=f"up to {MAX_BATCH_RECORDS:,} raw customer records")

    return Customer, PredictIn, BatchIn


def make_explain_in(customer: type[BaseModel], example: dict[str, Any]) -> type[BaseModel]:
    """/explain's request model (bento/explain_api.py) with a strict ``k`` (``true`` or ``"3"`` is a 400,
    not 1 or 3) and the example request."""

    class ExplainIn(explain_api.make_explain_in(customer)):
        model_config = ConfigDict(json_schema_extra={"example": {"customers": [example], "k": explain_api.DEFAULT_K}})
        k: Annotated[int, Strict()] = Field(explain_api.DEFAULT_K, ge=1, le=explain_api.MAX_K,
                                            description="contributions per customer (largest |value| first)")

    return ExplainIn


def json_response(obj: Any, single: bool = True) -> Response:
    # One-shot body with Content-Length: BentoML's default streams a chunked response (3 ASGI sends)
    # and rebuilds a JSON schema per response for root-typed outputs. ``single``: /predict's slice of
    # a batch (a one-element list) is its one object; /predict_batch always answers a list.
    return Response(json.dumps(_first(obj) if single else obj, separators=(",", ":")).encode(),
                    media_type="application/json")
