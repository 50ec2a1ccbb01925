from medsettle.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Filing(_message.Message):
    __slots__ = ("filing_id", "psn_no", "insutype", "type", "group", "destination", "begin", "end", "status", "created_at", "source", "fixmedins_code", "diag_code", "diag_name", "insured_pool")
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    DIAG_CODE_FIELD_NUMBER: _ClassVar[int]
    DIAG_NAME_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    filing_id: str
    psn_no: str
    insutype: str
    type: str
    group: str
    destination: str
    begin: str
    end: str
    status: str
    created_at: str
    source: str
    fixmedins_code: str
    diag_code: str
    diag_name: str
    insured_pool: str
    def __init__(self, filing_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., type: _Optional[str] = ..., group: _Optional[str] = ..., destination: _Optional[str] = ..., begin: _Optional[str] = ..., end: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[str] = ..., source: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., diag_code: _Optional[str] = ..., diag_name: _Optional[str] = ..., insured_pool: _Optional[str] = ...) -> None: ...

class CreateFilingRequest(_message.Message):
    __slots__ = ("caller", "filing", "today")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FILING_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    filing: Filing
    today: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., filing: _Optional[_Union[Filing, _Mapping]] = ..., today: _Optional[str] = ...) -> None: ...

class RevokeFilingRequest(_message.Message):
    __slots__ = ("caller", "filing_id", "psn_no")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    filing_id: str
    psn_no: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., filing_id: _Optional[str] = ..., psn_no: _Optional[str] = ...) -> None: ...

class ChangeFilingRequest(_message.Message):
    __slots__ = ("caller", "filing_id", "destination", "begin", "end", "today")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    filing_id: str
    destination: str
    begin: str
    end: str
    today: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., filing_id: _Optional[str] = ..., destination: _Optional[str] = ..., begin: _Optional[str] = ..., end: _Optional[str] = ..., today: _Optional[str] = ...) -> None: ...

class ListFilingsRequest(_message.Message):
    __slots__ = ("psn_no", "include_inactive")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    include_inactive: bool
    def __init__(self, psn_no: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ListFilingsResponse(_message.Message):
    __slots__ = ("filings",)
    FILINGS_FIELD_NUMBER: _ClassVar[int]
    filings: _containers.RepeatedCompositeFieldContainer[Filing]
    def __init__(self, filings: _Optional[_Iterable[_Union[Filing, _Mapping]]] = ...) -> None: ...

class ResolveFilingRequest(_message.Message):
    __slots__ = ("psn_no", "insutype", "insured_pool", "hospital_admdvs", "visit_date", "emergency")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_ADMDVS_FIELD_NUMBER: _ClassVar[int]
    VISIT_DATE_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    insured_pool: str
    hospital_admdvs: str
    visit_date: str
    emergency: bool
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., insured_pool: _Optional[str] = ..., hospital_admdvs: _Optional[str] = ..., visit_date: _Optional[str] = ..., emergency: _Optional[bool] = ...) -> None: ...

class ResolveFilingResponse(_message.Message):
    __slots__ = ("region_class", "filed", "filing_group", "filing_id", "message")
    REGION_CLASS_FIELD_NUMBER: _ClassVar[int]
    FILED_FIELD_NUMBER: _ClassVar[int]
    FILING_GROUP_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    region_class: str
    filed: bool
    filing_group: str
    filing_id: str
    message: str
    def __init__(self, region_class: _Optional[str] = ..., filed: _Optional[bool] = ..., filing_group: _Optional[str] = ..., filing_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FileChronicRequest(_message.Message):
    __slots__ = ("caller", "psn_no", "insutype", "opsp_dise_code", "opsp_dise_name", "ide_fixmedins_no", "begndate", "enddate")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    OPSP_DISE_CODE_FIELD_NUMBER: _ClassVar[int]
    OPSP_DISE_NAME_FIELD_NUMBER: _ClassVar[int]
    IDE_FIXMEDINS_NO_FIELD_NUMBER: _ClassVar[int]
    BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    ENDDATE_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    psn_no: str
    insutype: str
    opsp_dise_code: str
    opsp_dise_name: str
    ide_fixmedins_no: str
    begndate: str
    enddate: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., opsp_dise_code: _Optional[str] = ..., opsp_dise_name: _Optional[str] = ..., ide_fixmedins_no: _Optional[str] = ..., begndate: _Optional[str] = ..., enddate: _Optional[str] = ...) -> None: ...

class ChronicFiling(_message.Message):
    __slots__ = ("filing_id", "psn_no", "insutype", "opsp_dise_code", "opsp_dise_name", "ide_fixmedins_no", "begndate", "enddate", "status")
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    OPSP_DISE_CODE_FIELD_NUMBER: _ClassVar[int]
    OPSP_DISE_NAME_FIELD_NUMBER: _ClassVar[int]
    IDE_FIXMEDINS_NO_FIELD_NUMBER: _ClassVar[int]
    BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    ENDDATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    filing_id: str
    psn_no: str
    insutype: str
    opsp_dise_code: str
    opsp_dise_name: str
    ide_fixmedins_no: str
    begndate: str
    enddate: str
    status: str
    def __init__(self, filing_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., opsp_dise_code: _Optional[str] = ..., opsp_dise_name: _Optional[str] = ..., ide_fixmedins_no: _Optional[str] = ..., begndate: _Optional[str] = ..., enddate: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class CancelChronicRequest(_message.Message):
    __slots__ = ("caller", "psn_no", "filing_id", "opsp_dise_code")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    OPSP_DISE_CODE_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    psn_no: str
    filing_id: str
    opsp_dise_code: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., psn_no: _Optional[str] = ..., filing_id: _Optional[str] = ..., opsp_dise_code: _Optional[str] = ...) -> None: ...

class QueryChronicRequest(_message.Message):
    __slots__ = ("psn_no", "insutype")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ...) -> None: ...

class QueryChronicResponse(_message.Message):
    __slots__ = ("filings",)
    FILINGS_FIELD_NUMBER: _ClassVar[int]
    filings: _containers.RepeatedCompositeFieldContainer[ChronicFiling]
    def __init__(self, filings: _Optional[_Iterable[_Union[ChronicFiling, _Mapping]]] = ...) -> None: ...

class ReverseByMsgidRequest(_message.Message):
    __slots__ = ("caller", "psn_no", "omsgid", "oinfno")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    OMSGID_FIELD_NUMBER: _ClassVar[int]
    OINFNO_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    psn_no: str
    omsgid: str
    oinfno: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., psn_no: _Optional[str] = ..., omsgid: _Optional[str] = ..., oinfno: _Optional[str] = ...) -> None: ...

class ReverseByMsgidResponse(_message.Message):
    __slots__ = ("filing_id", "status")
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    filing_id: str
    status: str
    def __init__(self, filing_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...
