from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("customer",)
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    customer: _struct_pb2.Struct
    def __init__(self, customer: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class PredictBatchRequest(_message.Message):
    __slots__ = ("customers",)
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, customers: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("customer_id", "churn_probability", "will_churn", "risk", "model_version", "arm")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHURN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    WILL_CHURN_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    churn_probability: float
    will_churn: bool
    risk: str
    model_version: str
    arm: str
    def __init__(self, customer_id: _Optional[str] = ..., churn_probability: _Optional[float] = ..., will_churn: _Optional[bool] = ..., risk: _Optional[str] = ..., model_version: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class PredictBatchResponse(_message.Message):
    __slots__ = ("predictions",)
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("customers", "k")
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    k: int
    def __init__(self, customers: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., k: _Optional[int] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("column", "value")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    column: str
    value: float
    def __init__(self, column: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("customer_id", "churn_probability", "raw_score", "base_value", "space", "contributions", "model_version", "arm")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHURN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASE_VALUE_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    churn_probability: float
    raw_score: float
    base_value: float
    space: str
    contributions: _containers.RepeatedCompositeFieldContainer[Contribution]
    model_version: str
    arm: str
    def __init__(self, customer_id: _Optional[str] = ..., churn_probability: _Optional[float] = ..., raw_score: _Optional[float] = ..., base_value: _Optional[float] = ..., space: _Optional[str] = ..., contributions: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., model_version: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("explanations",)
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    explanations: _containers.RepeatedCompositeFieldContainer[Explanation]
    def __init__(self, explanations: _Optional[_Iterable[_Union[Explanation, _Mapping]]] = ...) -> None: ...
