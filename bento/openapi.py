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
RECORDS = ("**Customer records.** Numbers are JSON numbers (not booleans or strings), categories strings, dates "
           "and `as_of` ISO `YYYY-MM-DD` strings; any feature may be null. The target column and the columns "
           "the data contract drops are *rejected* (400, rule `not_an_input`, naming the field), on HTTP and "
           "gRPC alike; so is any unknown field (`extra_forbidden`). Cross-field rules, which JSON Schema "
           "cannot state, are checked per record and a violation is a 400 naming the rule (`value_error`); "
           "random batches mostly break one. ")
REQUEST_ID = {"description": "Id of this request in the prediction log", "schema": {"type": "string"}}


def error_components() -> dict:
    schema = ErrorResponse.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {"ErrorResponse": schema, **defs}


def document(spec: dict, api_routes: set[str], keys_enabled: bool, record_rules: str = "") -> dict:
    """``record_rules``: what a customer record must satisfy beyond its JSON Schema (row rules, fields
    that are not inputs), added to the API description."""
    doc = copy.deepcopy(spec)
    if record_rules:
        info = doc.setdefault("info", {})
        info["description"] = (info.get("description") or "").rstrip() + "\n\n" + RECORDS + record_rules
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(name, None)
    schemas.update(error_components())
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    for route in api_routes:
        post = doc["paths"][route]["post"]
        body = post.get("requestBody", {})
        if any(m.get("schema", {}).get("required") for m in body.get("content", {}).values()):
            body["required"] = True  # BentoML leaves it optional, but a POST without its fields is a 400
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
