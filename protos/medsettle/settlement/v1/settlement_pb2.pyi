from medsettle.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Finding(_message.Message):
    __slots__ = ("rule_code", "rule_name", "kind", "severity", "message", "feedetl_sn", "amount_fen", "evidence", "action")
    class EvidenceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RULE_CODE_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    rule_code: str
    rule_name: str
    kind: str
    severity: str
    message: str
    feedetl_sn: str
    amount_fen: int
    evidence: _containers.ScalarMap[str, str]
    action: str
    def __init__(self, rule_code: _Optional[str] = ..., rule_name: _Optional[str] = ..., kind: _Optional[str] = ..., severity: _Optional[str] = ..., message: _Optional[str] = ..., feedetl_sn: _Optional[str] = ..., amount_fen: _Optional[int] = ..., evidence: _Optional[_Mapping[str, str]] = ..., action: _Optional[str] = ...) -> None: ...

class AuditItem(_message.Message):
    __slots__ = ("rx_id", "med_list_codg", "cnt", "amount_fen", "day")
    RX_ID_FIELD_NUMBER: _ClassVar[int]
    MED_LIST_CODG_FIELD_NUMBER: _ClassVar[int]
    CNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    rx_id: str
    med_list_codg: str
    cnt: str
    amount_fen: int
    day: str
    def __init__(self, rx_id: _Optional[str] = ..., med_list_codg: _Optional[str] = ..., cnt: _Optional[str] = ..., amount_fen: _Optional[int] = ..., day: _Optional[str] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ("caller", "stage", "psn_no", "mdtrt_id", "items", "diagnoses", "gend", "brdy", "insutype", "begin", "kind")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSES_FIELD_NUMBER: _ClassVar[int]
    GEND_FIELD_NUMBER: _ClassVar[int]
    BRDY_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    stage: str
    psn_no: str
    mdtrt_id: str
    items: _containers.RepeatedCompositeFieldContainer[AuditItem]
    diagnoses: _containers.RepeatedScalarFieldContainer[str]
    gend: str
    brdy: str
    insutype: str
    begin: str
    kind: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., stage: _Optional[str] = ..., psn_no: _Optional[str] = ..., mdtrt_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[AuditItem, _Mapping]]] = ..., diagnoses: _Optional[_Iterable[str]] = ..., gend: _Optional[str] = ..., brdy: _Optional[str] = ..., insutype: _Optional[str] = ..., begin: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ("findings", "rules_evaluated", "failed_rules")
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    RULES_EVALUATED_FIELD_NUMBER: _ClassVar[int]
    FAILED_RULES_FIELD_NUMBER: _ClassVar[int]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    rules_evaluated: int
    failed_rules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., rules_evaluated: _Optional[int] = ..., failed_rules: _Optional[_Iterable[str]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "pattern", "rule_code", "severity", "status", "psn_no", "fixmedins_code", "setl_ids", "summary", "evidence_json", "reviewer", "note", "created_at", "reviewed_at", "amount_fen")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    RULE_CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    SETL_IDS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    pattern: str
    rule_code: str
    severity: str
    status: str
    psn_no: str
    fixmedins_code: str
    setl_ids: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    evidence_json: str
    reviewer: str
    note: str
    created_at: str
    reviewed_at: str
    amount_fen: int
    def __init__(self, alert_id: _Optional[str] = ..., pattern: _Optional[str] = ..., rule_code: _Optional[str] = ..., severity: _Optional[str] = ..., status: _Optional[str] = ..., psn_no: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., setl_ids: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., evidence_json: _Optional[str] = ..., reviewer: _Optional[str] = ..., note: _Optional[str] = ..., created_at: _Optional[str] = ..., reviewed_at: _Optional[str] = ..., amount_fen: _Optional[int] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("status", "pattern", "psn_no", "fixmedins_code", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    pattern: str
    psn_no: str
    fixmedins_code: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., pattern: _Optional[str] = ..., psn_no: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ReviewAlertRequest(_message.Message):
    __slots__ = ("alert_id", "status", "reviewer", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    status: str
    reviewer: str
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., status: _Optional[str] = ..., reviewer: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class Visit(_message.Message):
    __slots__ = ("mdtrt_id", "psn_no", "insutype", "fixmedins_code", "kind", "med_type", "begntime", "endtime", "status", "ipt_otp_no", "dise_codg", "dise_name", "emergency", "insured_pool", "replayed")
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    BEGNTIME_FIELD_NUMBER: _ClassVar[int]
    ENDTIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IPT_OTP_NO_FIELD_NUMBER: _ClassVar[int]
    DISE_CODG_FIELD_NUMBER: _ClassVar[int]
    DISE_NAME_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    mdtrt_id: str
    psn_no: str
    insutype: str
    fixmedins_code: str
    kind: str
    med_type: str
    begntime: str
    endtime: str
    status: str
    ipt_otp_no: str
    dise_codg: str
    dise_name: str
    emergency: bool
    insured_pool: str
    replayed: bool
    def __init__(self, mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., kind: _Optional[str] = ..., med_type: _Optional[str] = ..., begntime: _Optional[str] = ..., endtime: _Optional[str] = ..., status: _Optional[str] = ..., ipt_otp_no: _Optional[str] = ..., dise_codg: _Optional[str] = ..., dise_name: _Optional[str] = ..., emergency: _Optional[bool] = ..., insured_pool: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("caller", "psn_no", "insutype", "kind", "med_type", "begntime", "mdtrt_cert_type", "mdtrt_cert_no", "ipt_otp_no", "dise_codg", "dise_name", "dept_code", "dept_name", "atddr_no", "dr_name", "emergency", "card_sn")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    BEGNTIME_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_NO_FIELD_NUMBER: _ClassVar[int]
    IPT_OTP_NO_FIELD_NUMBER: _ClassVar[int]
    DISE_CODG_FIELD_NUMBER: _ClassVar[int]
    DISE_NAME_FIELD_NUMBER: _ClassVar[int]
    DEPT_CODE_FIELD_NUMBER: _ClassVar[int]
    DEPT_NAME_FIELD_NUMBER: _ClassVar[int]
    ATDDR_NO_FIELD_NUMBER: _ClassVar[int]
    DR_NAME_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    CARD_SN_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    psn_no: str
    insutype: str
    kind: str
    med_type: str
    begntime: str
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    ipt_otp_no: str
    dise_codg: str
    dise_name: str
    dept_code: str
    dept_name: str
    atddr_no: str
    dr_name: str
    emergency: bool
    card_sn: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., kind: _Optional[str] = ..., med_type: _Optional[str] = ..., begntime: _Optional[str] = ..., mdtrt_cert_type: _Optional[str] = ..., mdtrt_cert_no: _Optional[str] = ..., ipt_otp_no: _Optional[str] = ..., dise_codg: _Optional[str] = ..., dise_name: _Optional[str] = ..., dept_code: _Optional[str] = ..., dept_name: _Optional[str] = ..., atddr_no: _Optional[str] = ..., dr_name: _Optional[str] = ..., emergency: _Optional[bool] = ..., card_sn: _Optional[str] = ...) -> None: ...

class CancelVisitRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ...) -> None: ...

class RecordDiagnosisRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no", "med_type", "begntime", "dise_codg", "dise_name", "emergency")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    BEGNTIME_FIELD_NUMBER: _ClassVar[int]
    DISE_CODG_FIELD_NUMBER: _ClassVar[int]
    DISE_NAME_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    med_type: str
    begntime: str
    dise_codg: str
    dise_name: str
    emergency: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., med_type: _Optional[str] = ..., begntime: _Optional[str] = ..., dise_codg: _Optional[str] = ..., dise_name: _Optional[str] = ..., emergency: _Optional[bool] = ...) -> None: ...

class DischargeRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no", "endtime", "dise_codg", "dscg_way")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    ENDTIME_FIELD_NUMBER: _ClassVar[int]
    DISE_CODG_FIELD_NUMBER: _ClassVar[int]
    DSCG_WAY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    endtime: str
    dise_codg: str
    dscg_way: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., endtime: _Optional[str] = ..., dise_codg: _Optional[str] = ..., dscg_way: _Optional[str] = ...) -> None: ...

class FeeDetail(_message.Message):
    __slots__ = ("feedetl_sn", "chrg_bchno", "fee_ocur_time", "med_list_codg", "medins_list_codg", "det_item_fee_sumamt_fen", "cnt", "pric_fen", "name")
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    CHRG_BCHNO_FIELD_NUMBER: _ClassVar[int]
    FEE_OCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    MED_LIST_CODG_FIELD_NUMBER: _ClassVar[int]
    MEDINS_LIST_CODG_FIELD_NUMBER: _ClassVar[int]
    DET_ITEM_FEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    CNT_FIELD_NUMBER: _ClassVar[int]
    PRIC_FEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    feedetl_sn: str
    chrg_bchno: str
    fee_ocur_time: str
    med_list_codg: str
    medins_list_codg: str
    det_item_fee_sumamt_fen: int
    cnt: str
    pric_fen: int
    name: str
    def __init__(self, feedetl_sn: _Optional[str] = ..., chrg_bchno: _Optional[str] = ..., fee_ocur_time: _Optional[str] = ..., med_list_codg: _Optional[str] = ..., medins_list_codg: _Optional[str] = ..., det_item_fee_sumamt_fen: _Optional[int] = ..., cnt: _Optional[str] = ..., pric_fen: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class FeeResult(_message.Message):
    __slots__ = ("feedetl_sn", "det_item_fee_sumamt_fen", "cnt", "pric_fen", "pric_uplmt_amt_fen", "selfpay_prop", "fulamt_ownpay_amt_fen", "overlmt_amt_fen", "preselfpay_amt_fen", "inscp_scp_amt_fen", "chrgitm_lv", "med_list_codg")
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    DET_ITEM_FEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    CNT_FIELD_NUMBER: _ClassVar[int]
    PRIC_FEN_FIELD_NUMBER: _ClassVar[int]
    PRIC_UPLMT_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    SELFPAY_PROP_FIELD_NUMBER: _ClassVar[int]
    FULAMT_OWNPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    OVERLMT_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    PRESELFPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    CHRGITM_LV_FIELD_NUMBER: _ClassVar[int]
    MED_LIST_CODG_FIELD_NUMBER: _ClassVar[int]
    feedetl_sn: str
    det_item_fee_sumamt_fen: int
    cnt: str
    pric_fen: int
    pric_uplmt_amt_fen: int
    selfpay_prop: str
    fulamt_ownpay_amt_fen: int
    overlmt_amt_fen: int
    preselfpay_amt_fen: int
    inscp_scp_amt_fen: int
    chrgitm_lv: str
    med_list_codg: str
    def __init__(self, feedetl_sn: _Optional[str] = ..., det_item_fee_sumamt_fen: _Optional[int] = ..., cnt: _Optional[str] = ..., pric_fen: _Optional[int] = ..., pric_uplmt_amt_fen: _Optional[int] = ..., selfpay_prop: _Optional[str] = ..., fulamt_ownpay_amt_fen: _Optional[int] = ..., overlmt_amt_fen: _Optional[int] = ..., preselfpay_amt_fen: _Optional[int] = ..., inscp_scp_amt_fen: _Optional[int] = ..., chrgitm_lv: _Optional[str] = ..., med_list_codg: _Optional[str] = ...) -> None: ...

class UploadFeesRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no", "feedetail")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    FEEDETAIL_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    feedetail: _containers.RepeatedCompositeFieldContainer[FeeDetail]
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., feedetail: _Optional[_Iterable[_Union[FeeDetail, _Mapping]]] = ...) -> None: ...

class UploadFeesResponse(_message.Message):
    __slots__ = ("result", "replayed", "findings")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    result: _containers.RepeatedCompositeFieldContainer[FeeResult]
    replayed: bool
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, result: _Optional[_Iterable[_Union[FeeResult, _Mapping]]] = ..., replayed: _Optional[bool] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class CancelFeesRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no", "feedetl_sn", "chrg_bchno")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    CHRG_BCHNO_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    feedetl_sn: str
    chrg_bchno: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., feedetl_sn: _Optional[str] = ..., chrg_bchno: _Optional[str] = ...) -> None: ...

class SettleRequest(_message.Message):
    __slots__ = ("caller", "mdtrt_id", "psn_no", "insutype", "med_type", "medfee_sumamt_fen", "acct_used_flag", "mdtrt_cert_type", "mdtrt_cert_no", "psn_setlway", "chrg_bchno", "invono", "mid_setl_flag", "has_declared_split", "fulamt_ownpay_amt_fen", "overlmt_selfpay_fen", "preselfpay_amt_fen", "inscp_scp_amt_fen", "card_sn")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_USED_FLAG_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_NO_FIELD_NUMBER: _ClassVar[int]
    PSN_SETLWAY_FIELD_NUMBER: _ClassVar[int]
    CHRG_BCHNO_FIELD_NUMBER: _ClassVar[int]
    INVONO_FIELD_NUMBER: _ClassVar[int]
    MID_SETL_FLAG_FIELD_NUMBER: _ClassVar[int]
    HAS_DECLARED_SPLIT_FIELD_NUMBER: _ClassVar[int]
    FULAMT_OWNPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    OVERLMT_SELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PRESELFPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    CARD_SN_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    mdtrt_id: str
    psn_no: str
    insutype: str
    med_type: str
    medfee_sumamt_fen: int
    acct_used_flag: bool
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    psn_setlway: str
    chrg_bchno: str
    invono: str
    mid_setl_flag: bool
    has_declared_split: bool
    fulamt_ownpay_amt_fen: int
    overlmt_selfpay_fen: int
    preselfpay_amt_fen: int
    inscp_scp_amt_fen: int
    card_sn: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., med_type: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., acct_used_flag: _Optional[bool] = ..., mdtrt_cert_type: _Optional[str] = ..., mdtrt_cert_no: _Optional[str] = ..., psn_setlway: _Optional[str] = ..., chrg_bchno: _Optional[str] = ..., invono: _Optional[str] = ..., mid_setl_flag: _Optional[bool] = ..., has_declared_split: _Optional[bool] = ..., fulamt_ownpay_amt_fen: _Optional[int] = ..., overlmt_selfpay_fen: _Optional[int] = ..., preselfpay_amt_fen: _Optional[int] = ..., inscp_scp_amt_fen: _Optional[int] = ..., card_sn: _Optional[str] = ...) -> None: ...

class SetlInfo(_message.Message):
    __slots__ = ("mdtrt_id", "setl_id", "psn_no", "psn_name", "insutype", "psn_type", "setl_time", "med_type", "medfee_sumamt_fen", "fulamt_ownpay_amt_fen", "overlmt_selfpay_fen", "preselfpay_amt_fen", "inscp_scp_amt_fen", "act_pay_dedc_fen", "hifp_pay_fen", "pool_prop_selfpay", "cvlserv_pay_fen", "hifes_pay_fen", "hifmi_pay_fen", "hifob_pay_fen", "maf_pay_fen", "oth_pay_fen", "fund_pay_sumamt_fen", "psn_part_amt_fen", "acct_pay_fen", "psn_cash_pay_fen", "hosp_part_amt_fen", "balc_fen", "clr_optins", "clr_way", "clr_type", "region_class", "filing_group", "fixmedins_code", "status", "reverses_setl_id", "msgid")
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    PSN_NAME_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    PSN_TYPE_FIELD_NUMBER: _ClassVar[int]
    SETL_TIME_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FULAMT_OWNPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    OVERLMT_SELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PRESELFPAY_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACT_PAY_DEDC_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFP_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    POOL_PROP_SELFPAY_FIELD_NUMBER: _ClassVar[int]
    CVLSERV_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFES_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFMI_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFOB_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    MAF_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    OTH_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_PART_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_CASH_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HOSP_PART_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    BALC_FEN_FIELD_NUMBER: _ClassVar[int]
    CLR_OPTINS_FIELD_NUMBER: _ClassVar[int]
    CLR_WAY_FIELD_NUMBER: _ClassVar[int]
    CLR_TYPE_FIELD_NUMBER: _ClassVar[int]
    REGION_CLASS_FIELD_NUMBER: _ClassVar[int]
    FILING_GROUP_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVERSES_SETL_ID_FIELD_NUMBER: _ClassVar[int]
    MSGID_FIELD_NUMBER: _ClassVar[int]
    mdtrt_id: str
    setl_id: str
    psn_no: str
    psn_name: str
    insutype: str
    psn_type: str
    setl_time: str
    med_type: str
    medfee_sumamt_fen: int
    fulamt_ownpay_amt_fen: int
    overlmt_selfpay_fen: int
    preselfpay_amt_fen: int
    inscp_scp_amt_fen: int
    act_pay_dedc_fen: int
    hifp_pay_fen: int
    pool_prop_selfpay: str
    cvlserv_pay_fen: int
    hifes_pay_fen: int
    hifmi_pay_fen: int
    hifob_pay_fen: int
    maf_pay_fen: int
    oth_pay_fen: int
    fund_pay_sumamt_fen: int
    psn_part_amt_fen: int
    acct_pay_fen: int
    psn_cash_pay_fen: int
    hosp_part_amt_fen: int
    balc_fen: int
    clr_optins: str
    clr_way: str
    clr_type: str
    region_class: str
    filing_group: str
    fixmedins_code: str
    status: str
    reverses_setl_id: str
    msgid: str
    def __init__(self, mdtrt_id: _Optional[str] = ..., setl_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., psn_name: _Optional[str] = ..., insutype: _Optional[str] = ..., psn_type: _Optional[str] = ..., setl_time: _Optional[str] = ..., med_type: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., fulamt_ownpay_amt_fen: _Optional[int] = ..., overlmt_selfpay_fen: _Optional[int] = ..., preselfpay_amt_fen: _Optional[int] = ..., inscp_scp_amt_fen: _Optional[int] = ..., act_pay_dedc_fen: _Optional[int] = ..., hifp_pay_fen: _Optional[int] = ..., pool_prop_selfpay: _Optional[str] = ..., cvlserv_pay_fen: _Optional[int] = ..., hifes_pay_fen: _Optional[int] = ..., hifmi_pay_fen: _Optional[int] = ..., hifob_pay_fen: _Optional[int] = ..., maf_pay_fen: _Optional[int] = ..., oth_pay_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., psn_part_amt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., psn_cash_pay_fen: _Optional[int] = ..., hosp_part_amt_fen: _Optional[int] = ..., balc_fen: _Optional[int] = ..., clr_optins: _Optional[str] = ..., clr_way: _Optional[str] = ..., clr_type: _Optional[str] = ..., region_class: _Optional[str] = ..., filing_group: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., status: _Optional[str] = ..., reverses_setl_id: _Optional[str] = ..., msgid: _Optional[str] = ...) -> None: ...

class SetlDetail(_message.Message):
    __slots__ = ("fund_pay_type", "fund_pay_type_name", "inscp_scp_amt_fen", "crt_payb_lmt_amt_fen", "fund_payamt_fen", "setl_proc_info")
    FUND_PAY_TYPE_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    CRT_PAYB_LMT_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAYAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    SETL_PROC_INFO_FIELD_NUMBER: _ClassVar[int]
    fund_pay_type: str
    fund_pay_type_name: str
    inscp_scp_amt_fen: int
    crt_payb_lmt_amt_fen: int
    fund_payamt_fen: int
    setl_proc_info: str
    def __init__(self, fund_pay_type: _Optional[str] = ..., fund_pay_type_name: _Optional[str] = ..., inscp_scp_amt_fen: _Optional[int] = ..., crt_payb_lmt_amt_fen: _Optional[int] = ..., fund_payamt_fen: _Optional[int] = ..., setl_proc_info: _Optional[str] = ...) -> None: ...

class ExplainStep(_message.Message):
    __slots__ = ("code", "label", "text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    code: str
    label: str
    text: str
    def __init__(self, code: _Optional[str] = ..., label: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class SettlePerson(_message.Message):
    __slots__ = ("certno", "gend", "brdy", "age", "cvlserv")
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    GEND_FIELD_NUMBER: _ClassVar[int]
    BRDY_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    CVLSERV_FIELD_NUMBER: _ClassVar[int]
    certno: str
    gend: str
    brdy: str
    age: int
    cvlserv: bool
    def __init__(self, certno: _Optional[str] = ..., gend: _Optional[str] = ..., brdy: _Optional[str] = ..., age: _Optional[int] = ..., cvlserv: _Optional[bool] = ...) -> None: ...

class SettleResponse(_message.Message):
    __slots__ = ("setlinfo", "setldetail", "explanation", "replayed", "person", "findings")
    SETLINFO_FIELD_NUMBER: _ClassVar[int]
    SETLDETAIL_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    setlinfo: SetlInfo
    setldetail: _containers.RepeatedCompositeFieldContainer[SetlDetail]
    explanation: _containers.RepeatedCompositeFieldContainer[ExplainStep]
    replayed: bool
    person: SettlePerson
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, setlinfo: _Optional[_Union[SetlInfo, _Mapping]] = ..., setldetail: _Optional[_Iterable[_Union[SetlDetail, _Mapping]]] = ..., explanation: _Optional[_Iterable[_Union[ExplainStep, _Mapping]]] = ..., replayed: _Optional[bool] = ..., person: _Optional[_Union[SettlePerson, _Mapping]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class CancelSettlementRequest(_message.Message):
    __slots__ = ("caller", "setl_id", "mdtrt_id", "psn_no")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    setl_id: str
    mdtrt_id: str
    psn_no: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., setl_id: _Optional[str] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ...) -> None: ...

class ReverseRequest(_message.Message):
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

class ReverseResponse(_message.Message):
    __slots__ = ("oinfno", "omsgid", "result", "settlement", "replayed")
    OINFNO_FIELD_NUMBER: _ClassVar[int]
    OMSGID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    oinfno: str
    omsgid: str
    result: str
    settlement: SettleResponse
    replayed: bool
    def __init__(self, oinfno: _Optional[str] = ..., omsgid: _Optional[str] = ..., result: _Optional[str] = ..., settlement: _Optional[_Union[SettleResponse, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class GetSettlementRequest(_message.Message):
    __slots__ = ("fixmedins_code", "setl_id", "mdtrt_id", "psn_no")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    setl_id: str
    mdtrt_id: str
    psn_no: str
    def __init__(self, fixmedins_code: _Optional[str] = ..., setl_id: _Optional[str] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ...) -> None: ...

class GetAccumulatorsRequest(_message.Message):
    __slots__ = ("psn_no", "insutype", "year", "hospital")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    year: int
    hospital: str
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., year: _Optional[int] = ..., hospital: _Optional[str] = ...) -> None: ...

class ListPersonSettlementsRequest(_message.Message):
    __slots__ = ("psn_no", "year", "limit")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    year: int
    limit: int
    def __init__(self, psn_no: _Optional[str] = ..., year: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListPersonSettlementsResponse(_message.Message):
    __slots__ = ("settlements",)
    SETTLEMENTS_FIELD_NUMBER: _ClassVar[int]
    settlements: _containers.RepeatedCompositeFieldContainer[SettleResponse]
    def __init__(self, settlements: _Optional[_Iterable[_Union[SettleResponse, _Mapping]]] = ...) -> None: ...

class Accumulator(_message.Message):
    __slots__ = ("key", "amount", "cap")
    KEY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    key: str
    amount: int
    cap: int
    def __init__(self, key: _Optional[str] = ..., amount: _Optional[int] = ..., cap: _Optional[int] = ...) -> None: ...

class AccumulatorsResponse(_message.Message):
    __slots__ = ("psn_no", "insutype", "year", "accumulators", "account_balance_fen")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATORS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    year: int
    accumulators: _containers.RepeatedCompositeFieldContainer[Accumulator]
    account_balance_fen: int
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., year: _Optional[int] = ..., accumulators: _Optional[_Iterable[_Union[Accumulator, _Mapping]]] = ..., account_balance_fen: _Optional[int] = ...) -> None: ...

class ReconcileTotalsRequest(_message.Message):
    __slots__ = ("caller", "insutype", "clr_type", "setl_optins", "stmt_begndate", "stmt_enddate", "medfee_sumamt_fen", "fund_pay_sumamt_fen", "acct_pay_fen", "fixmedins_setl_cnt")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    CLR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SETL_OPTINS_FIELD_NUMBER: _ClassVar[int]
    STMT_BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    STMT_ENDDATE_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_SETL_CNT_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    insutype: str
    clr_type: str
    setl_optins: str
    stmt_begndate: str
    stmt_enddate: str
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    fixmedins_setl_cnt: int
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., insutype: _Optional[str] = ..., clr_type: _Optional[str] = ..., setl_optins: _Optional[str] = ..., stmt_begndate: _Optional[str] = ..., stmt_enddate: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., fixmedins_setl_cnt: _Optional[int] = ...) -> None: ...

class ReconcileTotalsResponse(_message.Message):
    __slots__ = ("setl_optins", "stmt_rslt", "stmt_rslt_dscr", "medfee_sumamt_fen", "fund_pay_sumamt_fen", "acct_pay_fen", "setl_cnt")
    SETL_OPTINS_FIELD_NUMBER: _ClassVar[int]
    STMT_RSLT_FIELD_NUMBER: _ClassVar[int]
    STMT_RSLT_DSCR_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    SETL_CNT_FIELD_NUMBER: _ClassVar[int]
    setl_optins: str
    stmt_rslt: str
    stmt_rslt_dscr: str
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    setl_cnt: int
    def __init__(self, setl_optins: _Optional[str] = ..., stmt_rslt: _Optional[str] = ..., stmt_rslt_dscr: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., setl_cnt: _Optional[int] = ...) -> None: ...

class DetailRow(_message.Message):
    __slots__ = ("setl_id", "mdtrt_id", "psn_no", "medfee_sumamt_fen", "fund_pay_sumamt_fen", "acct_pay_fen", "refd_setl_flag")
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    MDTRT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    REFD_SETL_FLAG_FIELD_NUMBER: _ClassVar[int]
    setl_id: str
    mdtrt_id: str
    psn_no: str
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    refd_setl_flag: str
    def __init__(self, setl_id: _Optional[str] = ..., mdtrt_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., refd_setl_flag: _Optional[str] = ...) -> None: ...

class ReconcileDetailRequest(_message.Message):
    __slots__ = ("caller", "stmt_begndate", "stmt_enddate", "insutype", "clr_type", "rows")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    STMT_BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    STMT_ENDDATE_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    CLR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    stmt_begndate: str
    stmt_enddate: str
    insutype: str
    clr_type: str
    rows: _containers.RepeatedCompositeFieldContainer[DetailRow]
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., stmt_begndate: _Optional[str] = ..., stmt_enddate: _Optional[str] = ..., insutype: _Optional[str] = ..., clr_type: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[DetailRow, _Mapping]]] = ...) -> None: ...

class DetailResult(_message.Message):
    __slots__ = ("setl_id", "stmt_rslt", "memo")
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    STMT_RSLT_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    setl_id: str
    stmt_rslt: str
    memo: str
    def __init__(self, setl_id: _Optional[str] = ..., stmt_rslt: _Optional[str] = ..., memo: _Optional[str] = ...) -> None: ...

class ReconcileDetailResponse(_message.Message):
    __slots__ = ("results", "agreed", "disagreed")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    DISAGREED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DetailResult]
    agreed: int
    disagreed: int
    def __init__(self, results: _Optional[_Iterable[_Union[DetailResult, _Mapping]]] = ..., agreed: _Optional[int] = ..., disagreed: _Optional[int] = ...) -> None: ...

class ApplyClearingRequest(_message.Message):
    __slots__ = ("caller", "clr_type", "clr_way", "setlym", "psntime", "medfee_sumamt_fen", "fund_appy_sum_fen", "cash_payamt_fen", "acct_pay_fen", "begndate", "enddate")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CLR_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLR_WAY_FIELD_NUMBER: _ClassVar[int]
    SETLYM_FIELD_NUMBER: _ClassVar[int]
    PSNTIME_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_APPY_SUM_FEN_FIELD_NUMBER: _ClassVar[int]
    CASH_PAYAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    ENDDATE_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    clr_type: str
    clr_way: str
    setlym: str
    psntime: int
    medfee_sumamt_fen: int
    fund_appy_sum_fen: int
    cash_payamt_fen: int
    acct_pay_fen: int
    begndate: str
    enddate: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., clr_type: _Optional[str] = ..., clr_way: _Optional[str] = ..., setlym: _Optional[str] = ..., psntime: _Optional[int] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_appy_sum_fen: _Optional[int] = ..., cash_payamt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., begndate: _Optional[str] = ..., enddate: _Optional[str] = ...) -> None: ...

class ApplyClearingResponse(_message.Message):
    __slots__ = ("clr_appy_evt_id", "status", "memo", "medfee_sumamt_fen", "fund_appy_sum_fen", "psntime", "replayed")
    CLR_APPY_EVT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_APPY_SUM_FEN_FIELD_NUMBER: _ClassVar[int]
    PSNTIME_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    clr_appy_evt_id: str
    status: str
    memo: str
    medfee_sumamt_fen: int
    fund_appy_sum_fen: int
    psntime: int
    replayed: bool
    def __init__(self, clr_appy_evt_id: _Optional[str] = ..., status: _Optional[str] = ..., memo: _Optional[str] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_appy_sum_fen: _Optional[int] = ..., psntime: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...

class RunClearingRequest(_message.Message):
    __slots__ = ("setlym",)
    SETLYM_FIELD_NUMBER: _ClassVar[int]
    setlym: str
    def __init__(self, setlym: _Optional[str] = ...) -> None: ...

class ClearingStatement(_message.Message):
    __slots__ = ("insured_pool", "treatment_pool", "settlement_count", "fund_fen", "acct_fen", "carried_over_count", "carried_over_fen")
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_POOL_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FUND_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_FEN_FIELD_NUMBER: _ClassVar[int]
    CARRIED_OVER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CARRIED_OVER_FEN_FIELD_NUMBER: _ClassVar[int]
    insured_pool: str
    treatment_pool: str
    settlement_count: int
    fund_fen: int
    acct_fen: int
    carried_over_count: int
    carried_over_fen: int
    def __init__(self, insured_pool: _Optional[str] = ..., treatment_pool: _Optional[str] = ..., settlement_count: _Optional[int] = ..., fund_fen: _Optional[int] = ..., acct_fen: _Optional[int] = ..., carried_over_count: _Optional[int] = ..., carried_over_fen: _Optional[int] = ...) -> None: ...

class NetPosition(_message.Message):
    __slots__ = ("pool", "receivable_fen", "payable_fen", "net_fen")
    POOL_FIELD_NUMBER: _ClassVar[int]
    RECEIVABLE_FEN_FIELD_NUMBER: _ClassVar[int]
    PAYABLE_FEN_FIELD_NUMBER: _ClassVar[int]
    NET_FEN_FIELD_NUMBER: _ClassVar[int]
    pool: str
    receivable_fen: int
    payable_fen: int
    net_fen: int
    def __init__(self, pool: _Optional[str] = ..., receivable_fen: _Optional[int] = ..., payable_fen: _Optional[int] = ..., net_fen: _Optional[int] = ...) -> None: ...

class ClearingRun(_message.Message):
    __slots__ = ("run_id", "setlym", "statements", "positions", "replayed", "created_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SETLYM_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    setlym: str
    statements: _containers.RepeatedCompositeFieldContainer[ClearingStatement]
    positions: _containers.RepeatedCompositeFieldContainer[NetPosition]
    replayed: bool
    created_at: str
    def __init__(self, run_id: _Optional[str] = ..., setlym: _Optional[str] = ..., statements: _Optional[_Iterable[_Union[ClearingStatement, _Mapping]]] = ..., positions: _Optional[_Iterable[_Union[NetPosition, _Mapping]]] = ..., replayed: _Optional[bool] = ..., created_at: _Optional[str] = ...) -> None: ...

class ListSettlementsRequest(_message.Message):
    __slots__ = ("fixmedins_code", "insured_pool", "status", "date_from", "date_to", "msgid", "limit")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    MSGID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    insured_pool: str
    status: str
    date_from: str
    date_to: str
    msgid: str
    limit: int
    def __init__(self, fixmedins_code: _Optional[str] = ..., insured_pool: _Optional[str] = ..., status: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ..., msgid: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListSettlementsResponse(_message.Message):
    __slots__ = ("settlements",)
    SETTLEMENTS_FIELD_NUMBER: _ClassVar[int]
    settlements: _containers.RepeatedCompositeFieldContainer[SetlInfo]
    def __init__(self, settlements: _Optional[_Iterable[_Union[SetlInfo, _Mapping]]] = ...) -> None: ...

class GetSettlementStoryRequest(_message.Message):
    __slots__ = ("fixmedins_code", "msgid", "setl_id")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    MSGID_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    msgid: str
    setl_id: str
    def __init__(self, fixmedins_code: _Optional[str] = ..., msgid: _Optional[str] = ..., setl_id: _Optional[str] = ...) -> None: ...

class LedgerLine(_message.Message):
    __slots__ = ("entry_no", "transfer_no", "leg", "account", "fund_pay_type", "amount_fen", "setl_id")
    ENTRY_NO_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_NO_FIELD_NUMBER: _ClassVar[int]
    LEG_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    entry_no: int
    transfer_no: int
    leg: str
    account: str
    fund_pay_type: str
    amount_fen: int
    setl_id: str
    def __init__(self, entry_no: _Optional[int] = ..., transfer_no: _Optional[int] = ..., leg: _Optional[str] = ..., account: _Optional[str] = ..., fund_pay_type: _Optional[str] = ..., amount_fen: _Optional[int] = ..., setl_id: _Optional[str] = ...) -> None: ...

class JournalLine(_message.Message):
    __slots__ = ("msgid", "infno", "effect", "setl_id", "created_at", "reversed_by")
    MSGID_FIELD_NUMBER: _ClassVar[int]
    INFNO_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    SETL_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVERSED_BY_FIELD_NUMBER: _ClassVar[int]
    msgid: str
    infno: str
    effect: str
    setl_id: str
    created_at: str
    reversed_by: str
    def __init__(self, msgid: _Optional[str] = ..., infno: _Optional[str] = ..., effect: _Optional[str] = ..., setl_id: _Optional[str] = ..., created_at: _Optional[str] = ..., reversed_by: _Optional[str] = ...) -> None: ...

class SettlementStory(_message.Message):
    __slots__ = ("settlement", "reply", "visit", "fees", "ledger", "journal", "reversal", "found_by")
    SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    VISIT_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    LEDGER_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_FIELD_NUMBER: _ClassVar[int]
    FOUND_BY_FIELD_NUMBER: _ClassVar[int]
    settlement: SettleResponse
    reply: SettleResponse
    visit: Visit
    fees: _containers.RepeatedCompositeFieldContainer[FeeResult]
    ledger: _containers.RepeatedCompositeFieldContainer[LedgerLine]
    journal: _containers.RepeatedCompositeFieldContainer[JournalLine]
    reversal: SettleResponse
    found_by: str
    def __init__(self, settlement: _Optional[_Union[SettleResponse, _Mapping]] = ..., reply: _Optional[_Union[SettleResponse, _Mapping]] = ..., visit: _Optional[_Union[Visit, _Mapping]] = ..., fees: _Optional[_Iterable[_Union[FeeResult, _Mapping]]] = ..., ledger: _Optional[_Iterable[_Union[LedgerLine, _Mapping]]] = ..., journal: _Optional[_Iterable[_Union[JournalLine, _Mapping]]] = ..., reversal: _Optional[_Union[SettleResponse, _Mapping]] = ..., found_by: _Optional[str] = ...) -> None: ...

class DailyTotalsRequest(_message.Message):
    __slots__ = ("fixmedins_code", "date_from", "date_to")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    DATE_FROM_FIELD_NUMBER: _ClassVar[int]
    DATE_TO_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    date_from: str
    date_to: str
    def __init__(self, fixmedins_code: _Optional[str] = ..., date_from: _Optional[str] = ..., date_to: _Optional[str] = ...) -> None: ...

class DailyTotal(_message.Message):
    __slots__ = ("fixmedins_code", "setl_date", "insutype", "clr_type", "setl_cnt", "reversed_cnt", "medfee_sumamt_fen", "fund_pay_sumamt_fen", "acct_pay_fen", "psn_cash_pay_fen")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    SETL_DATE_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    CLR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SETL_CNT_FIELD_NUMBER: _ClassVar[int]
    REVERSED_CNT_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_CASH_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    setl_date: str
    insutype: str
    clr_type: str
    setl_cnt: int
    reversed_cnt: int
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    psn_cash_pay_fen: int
    def __init__(self, fixmedins_code: _Optional[str] = ..., setl_date: _Optional[str] = ..., insutype: _Optional[str] = ..., clr_type: _Optional[str] = ..., setl_cnt: _Optional[int] = ..., reversed_cnt: _Optional[int] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., psn_cash_pay_fen: _Optional[int] = ...) -> None: ...

class ClearingApplicationRow(_message.Message):
    __slots__ = ("clr_appy_evt_id", "fixmedins_code", "setlym", "status", "memo", "psntime", "medfee_sumamt_fen", "fund_appy_sum_fen", "platform_psntime", "platform_medfee_fen", "platform_fund_fen", "created_at")
    CLR_APPY_EVT_ID_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    SETLYM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    PSNTIME_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_APPY_SUM_FEN_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_PSNTIME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_MEDFEE_FEN_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FUND_FEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    clr_appy_evt_id: str
    fixmedins_code: str
    setlym: str
    status: str
    memo: str
    psntime: int
    medfee_sumamt_fen: int
    fund_appy_sum_fen: int
    platform_psntime: int
    platform_medfee_fen: int
    platform_fund_fen: int
    created_at: str
    def __init__(self, clr_appy_evt_id: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., setlym: _Optional[str] = ..., status: _Optional[str] = ..., memo: _Optional[str] = ..., psntime: _Optional[int] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_appy_sum_fen: _Optional[int] = ..., platform_psntime: _Optional[int] = ..., platform_medfee_fen: _Optional[int] = ..., platform_fund_fen: _Optional[int] = ..., created_at: _Optional[str] = ...) -> None: ...

class DailyTotalsResponse(_message.Message):
    __slots__ = ("days", "applications")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyTotal]
    applications: _containers.RepeatedCompositeFieldContainer[ClearingApplicationRow]
    def __init__(self, days: _Optional[_Iterable[_Union[DailyTotal, _Mapping]]] = ..., applications: _Optional[_Iterable[_Union[ClearingApplicationRow, _Mapping]]] = ...) -> None: ...

class ListClearingRunsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListClearingRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[ClearingRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[ClearingRun, _Mapping]]] = ...) -> None: ...
