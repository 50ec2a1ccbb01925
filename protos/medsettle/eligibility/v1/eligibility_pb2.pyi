from medsettle.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FindPersonRequest(_message.Message):
    __slots__ = ("mdtrt_cert_type", "mdtrt_cert_no", "card_sn", "psn_no", "on_date", "hospital")
    MDTRT_CERT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_NO_FIELD_NUMBER: _ClassVar[int]
    CARD_SN_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    ON_DATE_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    card_sn: str
    psn_no: str
    on_date: str
    hospital: str
    def __init__(self, mdtrt_cert_type: _Optional[str] = ..., mdtrt_cert_no: _Optional[str] = ..., card_sn: _Optional[str] = ..., psn_no: _Optional[str] = ..., on_date: _Optional[str] = ..., hospital: _Optional[str] = ...) -> None: ...

class BaseInfo(_message.Message):
    __slots__ = ("psn_no", "psn_cert_type", "certno", "psn_name", "gend", "naty", "brdy", "age")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    PSN_CERT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    PSN_NAME_FIELD_NUMBER: _ClassVar[int]
    GEND_FIELD_NUMBER: _ClassVar[int]
    NATY_FIELD_NUMBER: _ClassVar[int]
    BRDY_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    psn_cert_type: str
    certno: str
    psn_name: str
    gend: str
    naty: str
    brdy: str
    age: int
    def __init__(self, psn_no: _Optional[str] = ..., psn_cert_type: _Optional[str] = ..., certno: _Optional[str] = ..., psn_name: _Optional[str] = ..., gend: _Optional[str] = ..., naty: _Optional[str] = ..., brdy: _Optional[str] = ..., age: _Optional[int] = ...) -> None: ...

class InsuInfo(_message.Message):
    __slots__ = ("balc_fen", "insutype", "psn_type", "psn_insu_stas", "psn_insu_date", "paus_insu_date", "cvlserv_flag", "insuplc_admdvs", "insured_pool", "emp_name", "benefit_end", "duplicate", "used")
    BALC_FEN_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    PSN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PSN_INSU_STAS_FIELD_NUMBER: _ClassVar[int]
    PSN_INSU_DATE_FIELD_NUMBER: _ClassVar[int]
    PAUS_INSU_DATE_FIELD_NUMBER: _ClassVar[int]
    CVLSERV_FLAG_FIELD_NUMBER: _ClassVar[int]
    INSUPLC_ADMDVS_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    EMP_NAME_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_END_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    balc_fen: int
    insutype: str
    psn_type: str
    psn_insu_stas: str
    psn_insu_date: str
    paus_insu_date: str
    cvlserv_flag: str
    insuplc_admdvs: str
    insured_pool: str
    emp_name: str
    benefit_end: str
    duplicate: bool
    used: bool
    def __init__(self, balc_fen: _Optional[int] = ..., insutype: _Optional[str] = ..., psn_type: _Optional[str] = ..., psn_insu_stas: _Optional[str] = ..., psn_insu_date: _Optional[str] = ..., paus_insu_date: _Optional[str] = ..., cvlserv_flag: _Optional[str] = ..., insuplc_admdvs: _Optional[str] = ..., insured_pool: _Optional[str] = ..., emp_name: _Optional[str] = ..., benefit_end: _Optional[str] = ..., duplicate: _Optional[bool] = ..., used: _Optional[bool] = ...) -> None: ...

class IdentityInfo(_message.Message):
    __slots__ = ("psn_no", "psn_idet_type", "psn_type_lv", "begntime", "endtime")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    PSN_IDET_TYPE_FIELD_NUMBER: _ClassVar[int]
    PSN_TYPE_LV_FIELD_NUMBER: _ClassVar[int]
    BEGNTIME_FIELD_NUMBER: _ClassVar[int]
    ENDTIME_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    psn_idet_type: str
    psn_type_lv: str
    begntime: str
    endtime: str
    def __init__(self, psn_no: _Optional[str] = ..., psn_idet_type: _Optional[str] = ..., psn_type_lv: _Optional[str] = ..., begntime: _Optional[str] = ..., endtime: _Optional[str] = ...) -> None: ...

class PersonInfo(_message.Message):
    __slots__ = ("baseinfo", "insuinfo", "idetinfo")
    BASEINFO_FIELD_NUMBER: _ClassVar[int]
    INSUINFO_FIELD_NUMBER: _ClassVar[int]
    IDETINFO_FIELD_NUMBER: _ClassVar[int]
    baseinfo: BaseInfo
    insuinfo: _containers.RepeatedCompositeFieldContainer[InsuInfo]
    idetinfo: _containers.RepeatedCompositeFieldContainer[IdentityInfo]
    def __init__(self, baseinfo: _Optional[_Union[BaseInfo, _Mapping]] = ..., insuinfo: _Optional[_Iterable[_Union[InsuInfo, _Mapping]]] = ..., idetinfo: _Optional[_Iterable[_Union[IdentityInfo, _Mapping]]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("psn_no", "insutype", "on_date", "certificate")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    ON_DATE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    on_date: str
    certificate: Certificate
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., on_date: _Optional[str] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("mdtrt_cert_type", "mdtrt_cert_no", "card_sn", "hospital", "visit_key")
    MDTRT_CERT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MDTRT_CERT_NO_FIELD_NUMBER: _ClassVar[int]
    CARD_SN_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    VISIT_KEY_FIELD_NUMBER: _ClassVar[int]
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    card_sn: str
    hospital: str
    visit_key: str
    def __init__(self, mdtrt_cert_type: _Optional[str] = ..., mdtrt_cert_no: _Optional[str] = ..., card_sn: _Optional[str] = ..., hospital: _Optional[str] = ..., visit_key: _Optional[str] = ...) -> None: ...

class PresentedRequest(_message.Message):
    __slots__ = ("psn_no", "hospital")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    hospital: str
    def __init__(self, psn_no: _Optional[str] = ..., hospital: _Optional[str] = ...) -> None: ...

class PresentedResponse(_message.Message):
    __slots__ = ("presented",)
    PRESENTED_FIELD_NUMBER: _ClassVar[int]
    presented: bool
    def __init__(self, presented: _Optional[bool] = ...) -> None: ...

class ChronicQualification(_message.Message):
    __slots__ = ("psn_no", "code", "begin", "end", "hospital", "qualification_id")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    QUALIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    code: str
    begin: str
    end: str
    hospital: str
    qualification_id: str
    def __init__(self, psn_no: _Optional[str] = ..., code: _Optional[str] = ..., begin: _Optional[str] = ..., end: _Optional[str] = ..., hospital: _Optional[str] = ..., qualification_id: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("psn_no", "name", "insutype", "eligible", "ineligible_outcome", "ineligible_message", "psn_type", "insured_pool", "insuplc_admdvs", "benefit_start", "benefit_end", "identities", "chronic", "account_balance_fen", "cvlserv", "duplicate_enrollment", "certno", "gend", "brdy", "status_version")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    INELIGIBLE_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INELIGIBLE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PSN_TYPE_FIELD_NUMBER: _ClassVar[int]
    INSURED_POOL_FIELD_NUMBER: _ClassVar[int]
    INSUPLC_ADMDVS_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_START_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_END_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    CHRONIC_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    CVLSERV_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    GEND_FIELD_NUMBER: _ClassVar[int]
    BRDY_FIELD_NUMBER: _ClassVar[int]
    STATUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    name: str
    insutype: str
    eligible: bool
    ineligible_outcome: str
    ineligible_message: str
    psn_type: str
    insured_pool: str
    insuplc_admdvs: str
    benefit_start: str
    benefit_end: str
    identities: _containers.RepeatedCompositeFieldContainer[IdentityInfo]
    chronic: _containers.RepeatedCompositeFieldContainer[ChronicQualification]
    account_balance_fen: int
    cvlserv: bool
    duplicate_enrollment: bool
    certno: str
    gend: str
    brdy: str
    status_version: int
    def __init__(self, psn_no: _Optional[str] = ..., name: _Optional[str] = ..., insutype: _Optional[str] = ..., eligible: _Optional[bool] = ..., ineligible_outcome: _Optional[str] = ..., ineligible_message: _Optional[str] = ..., psn_type: _Optional[str] = ..., insured_pool: _Optional[str] = ..., insuplc_admdvs: _Optional[str] = ..., benefit_start: _Optional[str] = ..., benefit_end: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[IdentityInfo, _Mapping]]] = ..., chronic: _Optional[_Iterable[_Union[ChronicQualification, _Mapping]]] = ..., account_balance_fen: _Optional[int] = ..., cvlserv: _Optional[bool] = ..., duplicate_enrollment: _Optional[bool] = ..., certno: _Optional[str] = ..., gend: _Optional[str] = ..., brdy: _Optional[str] = ..., status_version: _Optional[int] = ...) -> None: ...

class CheckBenefitRequest(_message.Message):
    __slots__ = ("psn_no", "insutype", "fixmedins_code", "med_type", "begntime", "endtime", "dise_codg")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    MED_TYPE_FIELD_NUMBER: _ClassVar[int]
    BEGNTIME_FIELD_NUMBER: _ClassVar[int]
    ENDTIME_FIELD_NUMBER: _ClassVar[int]
    DISE_CODG_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    insutype: str
    fixmedins_code: str
    med_type: str
    begntime: str
    endtime: str
    dise_codg: str
    def __init__(self, psn_no: _Optional[str] = ..., insutype: _Optional[str] = ..., fixmedins_code: _Optional[str] = ..., med_type: _Optional[str] = ..., begntime: _Optional[str] = ..., endtime: _Optional[str] = ..., dise_codg: _Optional[str] = ...) -> None: ...

class TrtInfo(_message.Message):
    __slots__ = ("fund_pay_type", "trt_enjymnt_flag", "begndate", "enddate", "trt_chk_rslt")
    FUND_PAY_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRT_ENJYMNT_FLAG_FIELD_NUMBER: _ClassVar[int]
    BEGNDATE_FIELD_NUMBER: _ClassVar[int]
    ENDDATE_FIELD_NUMBER: _ClassVar[int]
    TRT_CHK_RSLT_FIELD_NUMBER: _ClassVar[int]
    fund_pay_type: str
    trt_enjymnt_flag: str
    begndate: str
    enddate: str
    trt_chk_rslt: str
    def __init__(self, fund_pay_type: _Optional[str] = ..., trt_enjymnt_flag: _Optional[str] = ..., begndate: _Optional[str] = ..., enddate: _Optional[str] = ..., trt_chk_rslt: _Optional[str] = ...) -> None: ...

class CheckBenefitResponse(_message.Message):
    __slots__ = ("trtinfo",)
    TRTINFO_FIELD_NUMBER: _ClassVar[int]
    trtinfo: _containers.RepeatedCompositeFieldContainer[TrtInfo]
    def __init__(self, trtinfo: _Optional[_Iterable[_Union[TrtInfo, _Mapping]]] = ...) -> None: ...

class Enrollment(_message.Message):
    __slots__ = ("psn_no", "pool", "insutype", "year", "psn_type", "benefit_start", "benefit_end", "status")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    PSN_TYPE_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_START_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_END_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    pool: str
    insutype: str
    year: int
    psn_type: str
    benefit_start: str
    benefit_end: str
    status: str
    def __init__(self, psn_no: _Optional[str] = ..., pool: _Optional[str] = ..., insutype: _Optional[str] = ..., year: _Optional[int] = ..., psn_type: _Optional[str] = ..., benefit_start: _Optional[str] = ..., benefit_end: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class UpsertEnrollmentRequest(_message.Message):
    __slots__ = ("enrollment", "paid_date", "enrollment_kind", "certno", "name", "gender", "birthdate")
    ENROLLMENT_FIELD_NUMBER: _ClassVar[int]
    PAID_DATE_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    BIRTHDATE_FIELD_NUMBER: _ClassVar[int]
    enrollment: Enrollment
    paid_date: str
    enrollment_kind: str
    certno: str
    name: str
    gender: str
    birthdate: str
    def __init__(self, enrollment: _Optional[_Union[Enrollment, _Mapping]] = ..., paid_date: _Optional[str] = ..., enrollment_kind: _Optional[str] = ..., certno: _Optional[str] = ..., name: _Optional[str] = ..., gender: _Optional[str] = ..., birthdate: _Optional[str] = ...) -> None: ...

class TerminateEnrollmentRequest(_message.Message):
    __slots__ = ("psn_no", "pool", "insutype", "year", "end_date", "status")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    INSUTYPE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    pool: str
    insutype: str
    year: int
    end_date: str
    status: str
    def __init__(self, psn_no: _Optional[str] = ..., pool: _Optional[str] = ..., insutype: _Optional[str] = ..., year: _Optional[int] = ..., end_date: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class SetIdentityRequest(_message.Message):
    __slots__ = ("psn_no", "type", "begin", "end", "remove")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    type: str
    begin: str
    end: str
    remove: bool
    def __init__(self, psn_no: _Optional[str] = ..., type: _Optional[str] = ..., begin: _Optional[str] = ..., end: _Optional[str] = ..., remove: _Optional[bool] = ...) -> None: ...

class GrantChronicRequest(_message.Message):
    __slots__ = ("psn_no", "code", "begin", "end", "hospital")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    code: str
    begin: str
    end: str
    hospital: str
    def __init__(self, psn_no: _Optional[str] = ..., code: _Optional[str] = ..., begin: _Optional[str] = ..., end: _Optional[str] = ..., hospital: _Optional[str] = ...) -> None: ...

class RevokeChronicRequest(_message.Message):
    __slots__ = ("psn_no", "code", "end")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    code: str
    end: str
    def __init__(self, psn_no: _Optional[str] = ..., code: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class ListChronicRequest(_message.Message):
    __slots__ = ("psn_no",)
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    def __init__(self, psn_no: _Optional[str] = ...) -> None: ...

class ListChronicResponse(_message.Message):
    __slots__ = ("chronic",)
    CHRONIC_FIELD_NUMBER: _ClassVar[int]
    chronic: _containers.RepeatedCompositeFieldContainer[ChronicQualification]
    def __init__(self, chronic: _Optional[_Iterable[_Union[ChronicQualification, _Mapping]]] = ...) -> None: ...

class InvalidatePersonRequest(_message.Message):
    __slots__ = ("psn_no",)
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    def __init__(self, psn_no: _Optional[str] = ...) -> None: ...

class IssueEvoucherRequest(_message.Message):
    __slots__ = ("psn_no", "certno")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    certno: str
    def __init__(self, psn_no: _Optional[str] = ..., certno: _Optional[str] = ...) -> None: ...

class Evoucher(_message.Message):
    __slots__ = ("token", "expires_at", "ttl_s")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_at: str
    ttl_s: int
    def __init__(self, token: _Optional[str] = ..., expires_at: _Optional[str] = ..., ttl_s: _Optional[int] = ...) -> None: ...

class VerifyRealNameRequest(_message.Message):
    __slots__ = ("certno", "name")
    CERTNO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    certno: str
    name: str
    def __init__(self, certno: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class VerifyRealNameResponse(_message.Message):
    __slots__ = ("matched", "psn_no", "phone")
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    matched: bool
    psn_no: str
    phone: str
    def __init__(self, matched: _Optional[bool] = ..., psn_no: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class ListImportsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ImportStatus(_message.Message):
    __slots__ = ("file_sha256", "path", "splits", "committed_through", "rows_ok", "rows_rejected", "started_at", "updated_at", "finished_at")
    FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SPLITS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    ROWS_OK_FIELD_NUMBER: _ClassVar[int]
    ROWS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    file_sha256: str
    path: str
    splits: int
    committed_through: int
    rows_ok: int
    rows_rejected: int
    started_at: str
    updated_at: str
    finished_at: str
    def __init__(self, file_sha256: _Optional[str] = ..., path: _Optional[str] = ..., splits: _Optional[int] = ..., committed_through: _Optional[int] = ..., rows_ok: _Optional[int] = ..., rows_rejected: _Optional[int] = ..., started_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., finished_at: _Optional[str] = ...) -> None: ...

class ListImportsResponse(_message.Message):
    __slots__ = ("imports",)
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    imports: _containers.RepeatedCompositeFieldContainer[ImportStatus]
    def __init__(self, imports: _Optional[_Iterable[_Union[ImportStatus, _Mapping]]] = ...) -> None: ...
