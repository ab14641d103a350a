"""Protobuf <-> Python for the churn.v1 gRPC handlers: records out of ``Struct``, validation errors
as one INVALID_ARGUMENT message, and deserializers that never raise (a payload that is not the
request message becomes ``Garbage``, answered INVALID_ARGUMENT instead of grpc.aio's UNKNOWN)."""

from __future__ import annotations

import math

from pydantic import ValidationError


def struct_to_dict(s) -> dict:
    out = {}
    for key, value in s.fields.items():
        kind = value.WhichOneof("kind")
        if kind == "null_value" or kind is None:
            out[key] = None
        elif kind == "number_value" and not math.isfinite(value.number_value):
            out[key] = str(value.number_value)  # NaN/inf: not a number to the validator, which says so
        elif kind in ("number_value", "string_value", "bool_value"):
            out[key] = getattr(value, kind)
        else:  # nested struct/list: never valid for a flat record; let validation say so
            out[key] = str(value)
    return out


def describe(err: ValidationError, prefix: str) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *e["loc"]))
        parts.append(f"{loc}: {e['msg']} ({e['type']})")
    return "; ".join(parts)


class Garbage:
    """What a payload that does not parse as the request message deserializes to."""

    def __init__(self, error: str) -> None:
        self.error = error


def safe(message_cls):
    parse, name = message_cls.FromString, message_cls.DESCRIPTOR.full_name

    def deserialize(data: bytes):
        try:
            return parse(data)
        except Exception as err:  # noqa: BLE001  (DecodeError and friends: a client error)
            return Garbage(f"payload is not a valid {name} message ({type(err).__name__})")
    return deserialize
