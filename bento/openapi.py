"""The OpenAPI document the Bento serves on /docs.json: BentoML's, with the real error model.

BentoML 1.4.40 declares its errors as ``{"error": str, "detail": str}`` (400/404/500) while a 400
body carries a list in ``detail``; and it knows nothing of keys, 401, 413 or 415. Here every API
route declares each status the edge (bento/edge.py) can answer, all with ``ErrorResponse``, the
``X-Request-ID`` header on success, and the key schemes when keys are configured.
"""

from __future__ import annotations

import copy

from bento.schemas import ErrorResponse

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    "400": "Malformed JSON or an invalid record (`detail` names each field and rule)",
    "401": "Missing or invalid API key",
    "413": "Request body over CHURN_MAX_BODY_BYTES",
    "415": "Content type other than application/json",
    "503": "Overloaded (load shedding): retry later",
}
REQUEST_ID = {"description": "Id of this request in the prediction log", "schema": {"type": "string"}}


def error_components() -> dict:
    schema = ErrorResponse.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {"ErrorResponse": schema, **defs}


def document(spec: dict, api_routes: set[str], keys_enabled: bool) -> dict:
    doc = copy.deepcopy(spec)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)
    schemas.update(error_components())
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    for route in api_routes:
        post = doc["paths"][route]["post"]
        responses = {str(k): v for k, v in post["responses"].items() if str(k) == "200"}
        responses["200"].setdefault("headers", {})["X-Request-ID"] = REQUEST_ID
        for status, description in ERROR_STATUSES.items():
            if status != "401" or keys_enabled:
                responses[status] = {"description": description, "content": copy.deepcopy(error)}
        post["responses"] = responses
        if keys_enabled:
            post["security"] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    if keys_enabled:
        doc["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    return doc
