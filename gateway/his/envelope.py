"""The NHSA request envelope and the field checks every transaction's input goes through.

Every check raises `FieldError` naming the path of the offending field (`input.data.medfee_sumamt`)
with a message a hospital clerk can act on, Chinese then English. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.his.convert import AmountError, decimal_text, yuan_to_fen
from services.common.ids import valid_certno

ADMDVS_RE = re.compile(r"^[0-9]{6}$")
FIXMEDINS_RE = re.compile(r"^[0-9A-Z]{12}$")
INFNO_RE = re.compile(r"^[0-9]{4}$")
MSGID_TAIL_RE = re.compile(r"^[0-9]{18}$")  # yyyyMMddHHmmss + 4 digits
# Hot path: every request parses ~30 fields and 2-3 timestamps, so the checks are precompiled
# regexes and int() instead of per-character generators and strptime (~3x faster each).
CONTROL_RE = re.compile(r"[\x00-\x1f]")
DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
DATETIME_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})$")
COMPACT_TIME_RE = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})$")
PSN_NO_RE = re.compile(r"^[0-9A-Za-z]{1,30}$")
IDENT_RE = re.compile(r"^[0-9A-Za-z_.:-]+$")
INTEGER_RE = re.compile(r"-?[0-9]{1,12}")

INSUTYPES = ("310", "320", "330", "390", "392")
MED_TYPES = ("11", "12", "13", "14", "21", "22", "23", "24", "28")
INPATIENT_MED_TYPES = ("21", "22", "23", "24", "28")
CERT_TYPES = ("01", "02", "03")


class FieldError(Exception):
    """Bad input: `field` is the path, `message` what is wrong and how to fix it."""

    def __init__(self, field: str, message: str, outcome: str = "INVALID_INPUT"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.outcome = outcome


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# ----------------------------------------------------------------------------- field readers

def obj(parent: dict, key: str, path: str, *, required: bool = True) -> dict:
    p = _join(path, key)
    v = parent.get(key)
    if v is None:
        if required:
            raise FieldError(p, "缺少必填对象 (required object missing)")
        return {}
    if not isinstance(v, dict):
        raise FieldError(p, "应为 JSON 对象 (must be a JSON object)")
    return v


def data_of(inp: dict, key: str = "data") -> tuple[dict, str]:
    """The transaction's main object and its path."""
    return obj(inp, key, "input"), f"input.{key}"


def lst(parent: dict, key: str, path: str, *, required: bool = True, max_items: int = 2000,
        min_items: int = 1) -> list[dict]:
    p = _join(path, key)
    v = parent.get(key)
    if v is None:
        if required:
            raise FieldError(p, "缺少必填列表 (required list missing)")
        return []
    if not isinstance(v, list):
        raise FieldError(p, "应为 JSON 数组 (must be a JSON array)")
    if required and len(v) < min_items:
        raise FieldError(p, f"至少 {min_items} 项 (needs at least {min_items} item(s))")
    if len(v) > max_items:
        raise FieldError(p, f"最多 {max_items} 项 (at most {max_items} items per call)")
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise FieldError(_join(p, i), "应为 JSON 对象 (must be a JSON object)")
    return v


def text(o: dict, key: str, path: str, *, required: bool = True, max_len: int = 100, min_len: int = 1,
         pattern: re.Pattern | None = None, choices: Iterable[str] | None = None, what: str = "") -> str:
    """A string field; '' when optional and absent. Strictly a JSON string: a number where a code
    is expected ("01" sent as 1) would silently lose its leading zeros."""
    p = _join(path, key)
    v = o.get(key)
    if v is None or v == "":
        if required:
            raise FieldError(p, "必填 (required)")
        return ""
    if not isinstance(v, str):
        raise FieldError(p, "应为字符串 (must be a string)")
    if len(v) < min_len or len(v) > max_len:
        raise FieldError(p, f"长度应为 {min_len}..{max_len} (length must be {min_len}..{max_len}), got {len(v)}")
    if CONTROL_RE.search(v):
        raise FieldError(p, "含控制字符 (contains control characters)")
    if choices is not None:
        allowed = choices if isinstance(choices, tuple) else tuple(choices)
        if v not in allowed:
            raise FieldError(p, f"取值应为 {'/'.join(allowed)} (must be one of {', '.join(allowed)}), got {v[:20]!r}")
    if pattern is not None and not pattern.match(v):
        raise FieldError(p, f"格式不符 (bad format{', expected ' + what if what else ''}): {v[:40]!r}")
    return v


def admdvs(o: dict, key: str, path: str, *, required: bool = True) -> str:
    return text(o, key, path, required=required, max_len=6, min_len=6, pattern=ADMDVS_RE, what="6 digits")


def date(o: dict, key: str, path: str, *, required: bool = True) -> str:
    """'yyyy-MM-dd' (a 'yyyy-MM-dd HH:mm:ss' value is accepted and cut to its date)."""
    p = _join(path, key)
    v = text(o, key, path, required=required, max_len=19, min_len=10)
    if not v:
        return ""
    try:
        m = DATE_RE.match(v[:10])
        d = dt.date(int(m[1]), int(m[2]), int(m[3])) if m else None
        if len(v) > 10 and _datetime(v) is None:
            d = None
    except ValueError:
        d = None
    if d is None:
        raise FieldError(p, f"日期格式应为 yyyy-MM-dd (date must be yyyy-MM-dd): {v!r}")
    return d.isoformat()


def _datetime(v: str) -> dt.datetime | None:
    """'yyyy-MM-dd HH:mm:ss' as a datetime, None if it is not one; ValueError for an impossible
    date or time (2026-02-30, 25:00:00)."""
    m = DATETIME_RE.match(v)
    if m is None:
        return None
    return dt.datetime(  # noqa: DTZ001 - naive Beijing wall-clock time (HIS field)
        int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))


def timestamp(o: dict, key: str, path: str, *, required: bool = True) -> str:
    """'yyyy-MM-dd HH:mm:ss' (a bare date means its midnight)."""
    p = _join(path, key)
    v = text(o, key, path, required=required, max_len=19, min_len=10)
    if not v:
        return ""
    try:
        if len(v) == 19:
            # Already canonical when it parses: return it as sent (no strftime round trip).
            if _datetime(v) is not None:
                return v
        elif len(v) == 10:
            m = DATE_RE.match(v)
            if m is not None:
                dt.date(int(m[1]), int(m[2]), int(m[3]))
                return v + " 00:00:00"
    except ValueError:
        pass
    raise FieldError(p, f"时间格式应为 yyyy-MM-dd HH:mm:ss (time must be yyyy-MM-dd HH:mm:ss): {v!r}")


def money(o: dict, key: str, path: str, *, required: bool = True) -> int | None:
    """A yuan amount as integer fen; None when optional and absent."""
    p = _join(path, key)
    v = o.get(key)
    if v is None or v == "":
        if required:
            raise FieldError(p, "必填金额 (required amount)")
        return None
    try:
        return yuan_to_fen(v)
    except AmountError as e:
        raise FieldError(p, str(e)) from None


def quantity(o: dict, key: str, path: str, *, required: bool = True) -> str:
    p = _join(path, key)
    v = o.get(key)
    if v is None or v == "":
        if required:
            raise FieldError(p, "必填数量 (required quantity)")
        return ""
    try:
        return decimal_text(v, max_places=4)
    except AmountError as e:
        raise FieldError(p, str(e)) from None


def flag(o: dict, key: str, path: str, *, required: bool = False, default: str = "0") -> bool:
    v = text(o, key, path, required=required, max_len=1, choices=("0", "1"))
    return (v or default) == "1"


def integer(o: dict, key: str, path: str, *, required: bool = True, lo: int = 0, hi: int = 10**9) -> int:
    p = _join(path, key)
    v = o.get(key)
    if v is None or v == "":
        if required:
            raise FieldError(p, "必填 (required)")
        return 0
    if isinstance(v, str) and INTEGER_RE.fullmatch(v):
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise FieldError(p, "应为整数 (must be an integer)")
    if not lo <= v <= hi:
        raise FieldError(p, f"应在 {lo}..{hi} 之间 (must be within {lo}..{hi})")
    return v


def psn_no(o: dict, path: str, *, required: bool = True) -> str:
    return text(o, "psn_no", path, required=required, max_len=30, pattern=PSN_NO_RE, what="letters and digits")


def insutype(o: dict, path: str, *, required: bool = True) -> str:
    return text(o, "insutype", path, required=required, max_len=6, choices=INSUTYPES)


def med_type(o: dict, path: str, *, required: bool = True, choices: Iterable[str] = MED_TYPES) -> str:
    return text(o, "med_type", path, required=required, max_len=6, choices=choices)


def ident(o: dict, key: str, path: str, *, required: bool = True, max_len: int = 30) -> str:
    """An id the suite issued or the HIS chose (mdtrt_id, setl_id, feedetl_sn...)."""
    return text(o, key, path, required=required, max_len=max_len, pattern=IDENT_RE, what="letters, digits and _.:-")


def certificate(o: dict, path: str, *, required: bool = True) -> tuple[str, str, str]:
    """(mdtrt_cert_type, mdtrt_cert_no, card_sn) with the rules of each certificate type."""
    ctype = text(o, "mdtrt_cert_type", path, required=required, max_len=3, choices=CERT_TYPES)
    cno = text(o, "mdtrt_cert_no", path, required=bool(ctype), max_len=600)
    card_sn = text(o, "card_sn", path, required=False, max_len=32)
    if ctype == "02" and not valid_certno(cno):
        raise FieldError(_join(path, "mdtrt_cert_no"),
                         "身份证号无效: 18 位且校验位正确 (not a valid resident ID number: 18 characters with a "
                         "correct GB 11643 check digit)")
    if ctype == "03" and not card_sn:
        raise FieldError(_join(path, "card_sn"), "社保卡 (03) 须提供卡识别码 card_sn (a social-security card needs card_sn)")
    return ctype, cno, card_sn


# ----------------------------------------------------------------------------- the envelope

@dataclass(frozen=True, slots=True)
class Envelope:
    infno: str
    msgid: str
    mdtrtarea_admvs: str
    insuplc_admdvs: str
    recer_sys_code: str
    infver: str
    opter_type: str
    opter: str
    opter_name: str
    inf_time: str
    fixmedins_code: str
    fixmedins_name: str
    sign_no: str
    input: dict


def peek_infno(body: Any) -> str:
    """The infno, when the body has a plausible one (for spans and the response), else ''."""
    if isinstance(body, dict) and isinstance(body.get("infno"), str) and INFNO_RE.match(body["infno"]):
        return body["infno"]
    return ""


def check_msgid(msgid: str, fixmedins_code: str, path: str = "msgid") -> None:
    """30 chars = fixmedins_code(12) + yyyyMMddHHmmss(14) + 4 digits."""
    if len(msgid) != 30:
        raise FieldError(path, f"报文ID应为30位: 机构编码(12)+yyyyMMddHHmmss(14)+序号(4) "
                               f"(msgid must be 30 characters: fixmedins_code + yyyyMMddHHmmss + 4 digits), got {len(msgid)}")
    if fixmedins_code and msgid[:12] != fixmedins_code:
        raise FieldError(path, "报文ID前12位应为本机构编码 (msgid must start with the envelope's fixmedins_code)")
    tail = msgid[12:]
    if not MSGID_TAIL_RE.match(tail):
        raise FieldError(path, "报文ID第13-30位应为数字: yyyyMMddHHmmss + 4 位序号 (msgid characters 13-30 must be digits)")
    try:
        m = COMPACT_TIME_RE.match(tail[:14])
        if m is None:
            raise ValueError(tail[:14])
        dt.datetime(  # noqa: DTZ001 - naive Beijing wall-clock time (HIS field)
            int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        raise FieldError(path, f"报文ID中的时间无效 (msgid carries an invalid time {tail[:14]!r})") from None


def _has_psn_no(inp: dict) -> bool:
    """The transaction is about one insured person (reconciliation rows naming many do not count)."""
    if "psn_no" in inp:
        return True
    for k, v in inp.items():
        if isinstance(v, dict) and "psn_no" in v:
            return True
        if k == "feedetail" and isinstance(v, list) and v and isinstance(v[0], dict) and "psn_no" in v[0]:
            return True
    return False


def parse_envelope(body: Any, *, known_infnos: Container[str]) -> Envelope:
    if not isinstance(body, dict):
        raise FieldError("(body)", "请求体应为 JSON 对象 (the body must be a JSON object: the NHSA envelope)")
    infno = text(body, "infno", "", max_len=4, min_len=4, pattern=INFNO_RE, what="4 digits")
    if infno not in known_infnos:
        raise FieldError("infno", f"不支持的交易编号 {infno} (unknown transaction {infno})", outcome="UNKNOWN_INFNO")
    fixmedins_code = text(body, "fixmedins_code", "", max_len=12, min_len=12, pattern=FIXMEDINS_RE,
                          what="12 characters, e.g. H33060200001")
    msgid = text(body, "msgid", "", max_len=30, min_len=1)
    check_msgid(msgid, fixmedins_code)
    mdtrtarea = admdvs(body, "mdtrtarea_admvs", "")
    inp = body.get("input")
    if not isinstance(inp, dict):
        raise FieldError("input", "缺少交易输入或不是 JSON 对象 (input is required and must be a JSON object)")
    insuplc = admdvs(body, "insuplc_admdvs", "", required=_has_psn_no(inp))
    recer = text(body, "recer_sys_code", "", required=False, max_len=20)
    for k, n in (("dev_no", 100), ("dev_safe_info", 2000), ("cainfo", 4000), ("signtype", 10)):
        text(body, k, "", required=False, max_len=n)
    infver = text(body, "infver", "", required=False, max_len=10)
    opter_type = text(body, "opter_type", "", max_len=1, choices=("1", "2", "3"))
    opter = text(body, "opter", "", max_len=30)
    opter_name = text(body, "opter_name", "", required=False, max_len=50)
    inf_time = timestamp(body, "inf_time", "")
    fixmedins_name = text(body, "fixmedins_name", "", required=False, max_len=200)
    # A missing sign_no is the Guard's refusal (NOT_SIGNED_IN, with how to sign in), not a bare "required".
    sign_no = text(body, "sign_no", "", required=False, max_len=64)
    return Envelope(infno=infno, msgid=msgid, mdtrtarea_admvs=mdtrtarea, insuplc_admdvs=insuplc,
                    recer_sys_code=recer, infver=infver, opter_type=opter_type, opter=opter,
                    opter_name=opter_name, inf_time=inf_time, fixmedins_code=fixmedins_code,
                    fixmedins_name=fixmedins_name, sign_no=sign_no, input=inp)
