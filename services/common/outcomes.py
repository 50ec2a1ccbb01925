"""The one outcome catalogue: every named outcome any part of medsettle answers with.

Each outcome is listed ONCE, with its kind and a Chinese and an English message that say what it
means and what the caller can do. A call site may give a more specific message (with the ids and
values involved); when it gives none, the catalogue's is used. The kind decides how each edge
shows it, each in one table: gRPC status codes (services/common/grpcutil.py), HIS failure
envelopes (gateway/his/errors.py) and REST status codes (gateway/rest.py).

Pure: no gRPC, no I/O. The engine's own outcomes (services/engine/outcomes.py) are registered
here with their kinds; tests/unit/test_outcomes.py proves that every outcome raised anywhere in
the code is in the catalogue with a kind and both messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    INVALID = "invalid"          # the caller's input is malformed: fix the named field
    REFUSED = "refused"          # well-formed, but a rule or the record's state says no
    NOT_FOUND = "not_found"      # the thing named does not exist (for this caller)
    FORBIDDEN = "forbidden"      # this caller may not do this
    CONFLICT = "conflict"        # clashes with what is already recorded (same msgid, taken id)
    RETRY = "retry"              # a transient clash: retry the same request (same msgid)
    UNAVAILABLE = "unavailable"  # a service or store is down: the outcome is unknown, retry or query
    INTERNAL = "internal"        # a bug: logged with its trace id; retry or query


RETRIABLE_KINDS = frozenset({Kind.RETRY, Kind.UNAVAILABLE, Kind.INTERNAL})


@dataclass(frozen=True, slots=True)
class OutcomeDef:
    code: str
    kind: Kind
    zh: str
    en: str

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"

    @property
    def retriable(self) -> bool:
        return self.kind in RETRIABLE_KINDS


INV, REF, NOF, FBD, CON, RTY, UNA, INT = (Kind.INVALID, Kind.REFUSED, Kind.NOT_FOUND, Kind.FORBIDDEN, Kind.CONFLICT, Kind.RETRY,
                                          Kind.UNAVAILABLE, Kind.INTERNAL)

_DEFS: tuple[tuple[str, Kind, str, str], ...] = (
    # --- input (any service) ----------------------------------------------------------------
    ("FIELD_REQUIRED", INV, "缺少必填字段", "a required field is missing"),
    ("MISSING_FIELD", INV, "缺少必填字段", "a required field is missing"),
    ("INVALID_INPUT", INV, "字段值不合法", "a field's value is not valid"),
    ("BAD_JSON", INV, "请求体不是合法的 UTF-8 JSON", "the body is not valid UTF-8 JSON"),
    ("BAD_DATE", INV, "日期格式错误, 应为 yyyy-MM-dd", "a date must be yyyy-MM-dd"),
    ("INVALID_DATE", INV, "日期格式错误, 应为 yyyy-MM-dd", "a date must be yyyy-MM-dd"),
    ("BAD_TIME", INV, "时间格式错误, 应为 yyyy-MM-dd HH:mm:ss", "a time must be yyyy-MM-dd HH:mm:ss"),
    ("BAD_MONTH", INV, "月份格式错误, 应为 yyyyMM", "a month must be yyyyMM"),
    ("BAD_NUMBER", INV, "数值格式错误", "a number is malformed"),
    ("INVALID_RANGE", INV, "起止日期不合理", "the date range is not valid"),
    ("END_BEFORE_BEGIN", INV, "结束日期早于开始日期", "the end date is before the begin date"),
    ("END_REQUIRED", INV, "此类备案须填写结束日期", "this kind of filing needs an end date"),
    ("INVALID_YEAR", INV, "年度不合法", "the year is not valid"),
    ("INVALID_LIMIT", INV, "条数上限不合法", "the limit is not valid"),
    ("INVALID_PSN_NO", INV, "人员编号 psn_no 不合法", "psn_no is not valid"),
    ("INVALID_CERTNO", INV, "身份证号无效 (GB 11643 校验位)", "not a valid resident ID number (GB 11643 check digit)"),
    ("INVALID_CERT_TYPE", INV, "就诊凭证类型不支持", "the certificate type is not supported"),
    ("INVALID_GENDER", INV, "性别代码不合法", "the gender code is not valid"),
    ("INVALID_INSUTYPE", INV, "险种类型不合法", "the insurance type is not valid"),
    ("BAD_INSUTYPE", INV, "险种类型不合法", "the insurance type is not valid"),
    ("INVALID_PSN_TYPE", INV, "人员类别不合法", "the person type is not valid"),
    ("INVALID_STATUS", INV, "参保状态不合法", "the enrollment status is not valid"),
    ("INVALID_ENROLLMENT", INV, "参保记录不合法", "the enrollment record is not valid"),
    ("INVALID_IDENTITY", INV, "人员身份类别不合法", "the identity type is not valid"),
    ("INVALID_DISEASE", INV, "病种编码不合法", "the disease code is not valid"),
    ("BAD_DISEASE_CODE", INV, "病种编码不合法", "the disease code is not valid"),
    ("BAD_MED_TYPE", INV, "医疗类别不合法", "the medical type (med_type) is not valid"),
    ("BAD_KIND", INV, "就诊类别不合法 (门诊/住院)", "the visit kind (outpatient/inpatient) is not valid"),
    ("BAD_ADMDVS", INV, "行政区划代码不合法", "the division code (admdvs) is not valid"),
    ("BAD_DESTINATION", INV, "备案就医地不合法", "the filing destination is not valid"),
    ("UNKNOWN_FILING_TYPE", INV, "备案类型不存在", "no such filing type"),
    ("UNKNOWN_POOL", INV, "统筹区不存在", "no such pool"),
    ("UNKNOWN_HOSPITAL", INV, "定点医疗机构编码不存在", "no such designated hospital"),
    ("POOL_INSUTYPE", INV, "该统筹区不经办此险种", "the pool does not carry this insurance type"),
    ("INSUTYPE_MISMATCH", INV, "险种与就诊登记不一致", "the insurance type differs from the visit's"),
    ("PSN_MISMATCH", INV, "人员编号与就诊登记不一致", "psn_no differs from the visit's"),
    ("MDTRT_MISMATCH", INV, "就诊 ID 与费用明细不一致", "mdtrt_id differs from the fee details'"),
    ("MEDFEE_MISMATCH", INV, "医疗费总额与上传费用明细合计不符", "medfee_sumamt differs from the uploaded fee details"),
    ("SPLIT_MISMATCH", INV, "HIS 送来的费用分项与平台计算不一致", "the HIS's amounts differ from the platform's split"),
    ("DUPLICATE_FEE", INV, "同一费用明细流水号重复", "the same feedetl_sn appears twice"),
    ("DUPLICATE_ROW", INV, "同一记录重复", "the same record appears twice"),
    ("AMBIGUOUS_FILING", INV, "备案条件不唯一, 请指明备案", "more than one filing fits: name the filing"),
    ("EMERGENCY_NEEDS_NO_FILING", INV, "急诊抢救无需备案", "an emergency needs no filing"),
    ("FILING_TOO_SHORT", INV, "临时备案期限不足", "the temporary filing is too short"),
    ("LONG_TERM_HAS_END", INV, "长期备案不设结束日期", "a long-term filing has no end date"),
    ("OINFNO_MISMATCH", INV, "原交易编号与原报文不符", "oinfno is not the original message's transaction"),
    ("UNKNOWN_INFNO", INV, "不支持的交易编号 infno", "this transaction (infno) is not served"),
    ("EVOUCHER_INVALID", INV, "医保电子凭证令牌无效", "the e-voucher token is not valid"),
    # --- rules and states ---------------------------------------------------------------------
    ("NOT_ENROLLED", REF, "未参保或不在待遇享受期", "not insured, or outside the benefit period"),
    ("WAITING_PERIOD", REF, "参保等待期内, 暂不享受待遇", "in the waiting period: no benefits yet"),
    ("LAPSED", REF, "参保已中断", "the enrollment has lapsed"),
    ("PAUSED", REF, "参保已暂停", "the enrollment is paused"),
    ("TERMINATED", REF, "参保已终止", "the enrollment has ended"),
    ("NO_POLICY", REF, "参保地无该年度该险种待遇政策", "the insured pool has no policy for that year and insurance type"),
    ("POOL_NOT_CONFIGURED", REF, "统筹区未配置", "the pool is not configured"),
    ("NO_TREATMENT_POOL", REF, "就医地未配置统筹区", "the treatment place belongs to no configured pool"),
    ("CARD_SN_MISMATCH", REF, "社会保障卡与人员不符", "the social security card does not belong to this person"),
    ("EVOUCHER_EXPIRED", REF, "医保电子凭证已过期, 请刷新二维码", "the e-voucher has expired: refresh the QR code"),
    ("EVOUCHER_USED", REF, "医保电子凭证已使用", "the e-voucher was already used"),
    ("EVOUCHER_UNVERIFIABLE", REF, "医保电子凭证暂无法核验", "the e-voucher cannot be verified now"),
    ("CERT_PERSON_MISMATCH", REF, "就诊凭证不属于该人员", "the certificate does not belong to this person"),
    ("EVOUCHER_OTHER_PERSON", REF, "医保电子凭证不属于该人员", "the e-voucher belongs to another person"),
    ("EVOUCHER_OTHER_HOSPITAL", REF, "医保电子凭证已在其他机构扫码", "the e-voucher was scanned at another hospital"),
    ("EVOUCHER_OTHER_VISIT", REF, "医保电子凭证已用于另一次就诊", "the e-voucher is bound to another visit"),
    ("SETLWAY_UNSUPPORTED", REF, "按定额结算 (psn_setlway 02) 暂不支持, 请按项目结算 (01)",
     "fixed-quota settlement (psn_setlway 02) is not supported: no policy defines quotas; settle by item (01)"),
    ("VISIT_CANCELLED", REF, "就诊已撤销", "the visit is cancelled"),
    ("VISIT_OPEN", REF, "就诊尚未出院或结算", "the visit is still open"),
    ("VISIT_DISCHARGED", REF, "就诊已出院, 不能办理此交易", "the visit is discharged: this transaction no longer applies"),
    ("VISIT_SETTLED", REF, "就诊已结算, 请先撤销结算", "the visit is settled: cancel the settlement first"),
    ("NOT_OPEN", REF, "就诊不在可办理状态", "the visit is not open"),
    ("NOT_INPATIENT", REF, "门诊就诊无需办理出院", "only an admission can be discharged"),
    ("NOT_DISCHARGED", REF, "就诊未出院", "the visit is not discharged"),
    ("NOT_CANCELLED", REF, "就诊未撤销", "the visit is not cancelled"),
    ("ALREADY_CANCELLED", REF, "已撤销", "already cancelled"),
    ("ALREADY_DISCHARGED", REF, "已办理出院", "already discharged"),
    ("ALREADY_SETTLED", REF, "已结算", "already settled"),
    ("ALREADY_REVERSED", REF, "原交易已冲正", "the original transaction is already reversed"),
    ("REVERSAL_OF_REVERSAL", REF, "冲正/冲销记录不能再冲正", "a reversal cannot itself be reversed"),
    ("NOT_REVERSIBLE", REF, "该交易不能冲正", "this transaction cannot be reversed"),
    ("FEE_SETTLED", REF, "费用已结算, 不能修改", "the fee is already settled"),
    ("MONTH_NOT_ENDED", REF, "月份尚未结束, 次月清算", "the month has not ended: clear it next month"),
    ("CHANGE_TOO_SOON", REF, "备案变更须满六个月", "a filing may change only six months after it was made"),
    ("FILING_NOT_ACTIVE", REF, "备案不在有效状态", "the filing is not active"),
    ("POLICY_MISSING", REF, "参保地无该年度待遇政策, 暂不能备案", "the insured pool has no policy for that year yet"),
    ("SUPERVISION_BLOCKED", REF, "基金监管规则拒绝结算", "a fund-supervision rule refuses this settlement"),
    ("ALERT_ALREADY_REVIEWED", REF, "该预警已复核, 不能再次变更", "the alert was already reviewed"),
    ("CERTNO_TAKEN", CON, "身份证号已属于其他人员", "the ID number belongs to another person"),
    ("LONG_TERM_EXISTS", CON, "已有有效的长期异地备案", "an active long-term filing exists already"),
    ("CHRONIC_ALREADY_FILED", CON, "该病种已备案", "this chronic disease is filed already"),
    # --- not found ----------------------------------------------------------------------------
    ("PERSON_NOT_FOUND", NOF, "查无此人", "no such person"),
    ("ENROLLMENT_NOT_FOUND", NOF, "查无参保记录", "no such enrollment"),
    ("IDENTITY_NOT_FOUND", NOF, "查无人员身份记录", "no such identity record"),
    ("QUALIFICATION_NOT_FOUND", NOF, "查无门慢特病资格", "no such chronic-disease qualification"),
    ("ALERT_NOT_FOUND", NOF, "查无此监管预警", "no such supervision alert"),
    ("VISIT_NOT_FOUND", NOF, "查无就诊记录", "no such visit"),
    ("FEE_NOT_FOUND", NOF, "查无费用明细", "no such fee detail"),
    ("SETTLEMENT_NOT_FOUND", NOF, "查无结算记录", "no such settlement"),
    ("ORIGINAL_NOT_FOUND", NOF, "查无原交易", "no such original transaction"),
    ("MSGID_NOT_FOUND", NOF, "查无该报文的交易记录", "no recorded transaction with this msgid (the console)"),
    ("UNKNOWN_FILING", NOF, "查无备案", "no such filing"),
    ("NOT_FOUND_PATH", NOF, "无此接口地址", "no such path"),
    # --- who may -----------------------------------------------------------------------------
    ("HOSPITAL_NOT_REGISTERED", FBD, "定点医药机构未登记, 不能办理结算业务", "the hospital is not a registered institution"),
    ("NOT_YOUR_FILING", FBD, "该备案不属于此人", "the filing belongs to another person"),
    ("NOT_TREATED_HERE", FBD, "该人员在本机构无就诊或出示凭证记录, 不能查询累计",
     "the person has no open or recent visit at, nor presented a certificate to, this hospital"),
    ("HOSPITAL_MISMATCH", FBD, "报文机构与认证机构不符", "fixmedins_code is not the authenticated hospital"),
    ("AUTH_MISSING", FBD, "缺少认证信息", "authentication headers are missing"),
    ("AUTH_MALFORMED", FBD, "认证信息格式错误", "authentication headers are malformed"),
    ("URL_TOO_LONG", INV, "请求地址过长", "the URL is longer than 8 KB"),
    ("HEADER_TOO_LARGE", INV, "请求头过长", "a header is longer than 8 KB"),
    ("AUTH_HEADER_REPEATED", FBD, "认证请求头重复且取值不同", "an authentication header was sent twice with different values"),
    ("AUTH_AMBIGUOUS", FBD, "请求同时带有两种认证方式的请求头", "the headers of two authentication profiles were sent"),
    ("AUTH_PROFILE_NOT_ALLOWED", FBD, "该机构未开通此认证方式", "this hospital's interface profile does not accept this "
                                                              "authentication"),
    ("BAD_SIGNATURE", FBD, "签名错误", "the signature does not verify"),
    ("STALE_TIMESTAMP", FBD, "时间戳超出允许窗口", "the timestamp is outside the allowed window"),
    ("NONCE_REUSED", FBD, "随机数已使用过", "the nonce was already used"),
    ("NOT_SIGNED_IN", FBD, "未签到或签到已过期, 请先 9001 签到", "not signed in, or the sign-in expired: sign in with 9001"),
    ("BAD_CONTENT_TYPE", INV, "Content-Type 不支持", "the Content-Type is not supported"),
    ("METHOD_NOT_ALLOWED", INV, "请求方法不被允许", "the method is not allowed"),
    ("BODY_TOO_LARGE", INV, "请求体过大", "the body is too large"),
    ("UNAUTHORIZED", FBD, "需要管理员令牌", "an admin token is required"),
    # --- the patient pages (/m/, gateway/portal/) ----------------------------------------------
    ("CODE_WRONG", REF, "验证码错误", "the one-time code is wrong"),
    ("CODE_EXPIRED", REF, "验证码已过期或未发送, 请重新获取", "the one-time code has expired or was not sent: ask for a new one"),
    ("LOCKED_OUT", REF, "尝试次数过多, 已暂时锁定, 请稍后再试", "too many wrong attempts: locked for a while, try later"),
    ("LOGIN_FAILED", REF, "证件号码或密码错误", "the certificate number or the password is wrong"),
    ("TOO_MANY_CODES", REF, "获取验证码过于频繁, 请稍后再试", "too many codes asked for: try later"),
    ("WEAK_PASSWORD", INV, "密码至少 8 位", "the password needs at least 8 characters"),
    ("PASSWORD_MISMATCH", INV, "两次输入的密码不一致", "the two passwords differ"),
    ("CSRF_REFUSED", FBD, "请求来源无法验证, 请从本站页面提交", "the request cannot be verified: submit it from this site"),
    ("SIGN_IN_REQUIRED", FBD, "请先登录", "sign in first"),
    ("NOT_RETIRED", REF, "异地安置退休备案仅限退休人员", "a retired_relocated filing is for retirees only"),
    # --- mobile payment (6201..6401, docs/MOBILE_PAYMENT.md) ---------------------------------------
    ("PAY_ORDER_NOT_FOUND", NOF, "无此支付订单", "no such pay order at this hospital"),
    ("PAY_TOKEN_MISMATCH", FBD, "payToken 与 6201 返回的不符", "payToken is not the one 6201 returned"),
    ("PAY_ORDER_MISMATCH", INV, "请求与支付订单不符", "the request does not match the pay order"),
    ("ORDER_NOT_REFUNDABLE", REF, "订单不能退费: 只能退已支付完成的订单", "only a paid order can be refunded"),
    ("ORDER_NOT_CANCELLABLE", REF, "订单不能撤销: 只能撤销未支付的订单", "only an unpaid order can be cancelled"),
    ("REFUND_TYPE_UNSUPPORTED", REF, "暂只支持全额退费 ALL", "only a full refund (refdType ALL) is supported"),
    ("REFUND_AMOUNT_MISMATCH", INV, "退费金额与订单不一致", "the refund amounts are not the order's"),
    # --- conflicts and retries ------------------------------------------------------------------
    ("MSGID_CONFLICT", CON, "同一 msgid 请求内容不同, 请使用新的 msgid", "same msgid, different request: send a new msgid"),
    ("CONCURRENT_UPDATE", RTY, "该参保人正在进行其他结算, 请用同一 msgid 重试", "another settlement of this person is in "
                                                                          "progress: retry with the same msgid"),
    ("RATE_LIMITED", RTY, "请求过于频繁, 请稍后重试", "too many requests: retry shortly"),
    ("BUSY", RTY, "医保服务繁忙, 请稍后重试", "the service is busy: retry shortly"),
    # --- outages --------------------------------------------------------------------------------
    ("SUPERVISION_UNAVAILABLE", UNA, "基金监管规则无法执行, 参保地设置为不执行不结算: 请稍后重试",
     "a fund-supervision rule could not be evaluated and the pool refuses to settle without it: retry"),
    ("DOWNSTREAM_UNAVAILABLE", UNA, "依赖的医保服务暂不可用, 请稍后重试", "a service this one needs is unavailable: retry"),
    ("ELIGIBILITY_UNAVAILABLE", UNA, "参保资格服务暂不可用, 请稍后重试", "the eligibility service is unavailable: retry"),
    ("SERVICE_UNAVAILABLE", UNA, "医保服务暂不可用, 结果未知: 请重试或用 5203 查询",
     "the service is unavailable and the outcome unknown: retry, or query with 5203"),
    ("DATABASE_UNAVAILABLE", UNA, "医保数据库暂不可用, 请稍后用同一 msgid 重试", "the database is unavailable: retry "
                                                                       "with the same msgid"),
    ("GATEWAY_UNAVAILABLE", UNA, "网关暂不可用, 请稍后重试", "the gateway is unavailable: retry"),
    ("TIMEOUT", UNA, "医保服务超时, 结果未知: 请重试或用 5203 查询", "the service timed out and the outcome is unknown: retry, "
                                                             "or query with 5203"),
    ("INTERNAL", INT, "内部错误, 请稍后重试或用 5203 查询", "internal error: retry, or query with 5203"),
)


def _engine_defs() -> tuple[tuple[str, Kind, str, str], ...]:
    """The engine's outcomes (services/engine/outcomes.py), with their kinds."""
    from services.engine.outcomes import Outcome as E

    input_errors = {E.AMOUNT_MISMATCH, E.INVALID_ITEM, E.MED_TYPE_UNKNOWN, E.DISEASE_CODE_MISSING, E.EMPTY_BILL}
    texts = {
        E.EMPTY_BILL: ("没有可结算的费用明细", "no fee items to settle"),
        E.AMOUNT_MISMATCH: ("明细金额不等于数量×单价", "det_item_fee_sumamt is not cnt times pric"),
        E.INVALID_ITEM: ("明细数量或单价不合法", "a quantity or price is not valid"),
        E.NOT_ELIGIBLE: ("人员参保与待遇政策不符", "the person's enrollment does not match the policy"),
        E.POLICY_YEAR_MISMATCH: ("待遇政策年度与就诊年度不符", "the policy is for another year than the visit"),
        E.MED_TYPE_UNKNOWN: ("不支持的医疗类别", "this medical type is not settled"),
        E.DISEASE_CODE_MISSING: ("门慢特病结算须填写病种编码", "a chronic-disease visit needs its disease code"),
        E.LINE_NOT_COVERED: ("参保地政策无此待遇", "the insured pool's policy has no such benefit"),
        E.NO_CHRONIC_QUALIFICATION: ("无有效的门慢特病资格", "no chronic-disease qualification that day"),
        E.DISEASE_NOT_CROSS_PROVINCE: ("该病种不能跨省直接结算", "this disease is not settled across provinces"),
        E.HOSPITAL_NOT_CROSS_PROVINCE: ("该医院未开通跨省直接结算", "the hospital is not connected for cross-province "
                                                              "settlement"),
        E.NOT_FILED: ("异地就医须先备案", "a visit away from home needs a filing first"),
        E.REVERSAL_OF_REVERSAL: ("冲正/冲销记录不能再冲正", "a reversal cannot itself be reversed"),
    }
    return tuple((o.value, INV if o in input_errors else REF, *texts[o]) for o in E)


class _Catalogue(dict[str, OutcomeDef]):
    def kind_of(self, code: str, default: Kind = Kind.INTERNAL) -> Kind:
        d = self.get(code)
        return d.kind if d is not None else default


def _build() -> _Catalogue:
    out = _Catalogue()
    for code, kind, zh, en in _DEFS + _engine_defs():
        prior = out.get(code)
        if prior is not None and (prior.kind, prior.zh, prior.en) != (kind, zh, en):
            raise AssertionError(f"outcome {code} is defined twice, differently")
        out[code] = OutcomeDef(code, kind, zh, en)
    return out


CATALOGUE = _build()


class Refusal(Exception):
    """A named outcome that ends a call with a clear message (never a stack trace).

    The kind is the catalogue's; `message` defaults to the catalogue's; `field` names the
    offending input field when there is one. An outcome missing from the catalogue keeps the
    kind its raiser gave (`fallback`), and a test fails until it is catalogued."""

    __slots__ = ("outcome", "message", "field", "kind")

    def __init__(self, outcome: str, message: str | None = None, field: str | None = None, *,
                 fallback: Kind = Kind.INTERNAL) -> None:
        d = CATALOGUE.get(outcome)
        self.outcome = outcome
        self.kind = d.kind if d is not None else fallback
        self.message = message if message else (d.message if d is not None else outcome)
        self.field = field
        super().__init__(self.message)

    @property
    def retriable(self) -> bool:
        return self.kind in RETRIABLE_KINDS
