"""The NHSA request envelope and the field checks every transaction's input goes through.

Every check raises `FieldError` naming the path of the offending field (`input.data.medfee_sumamt`)
with a message a hospital clerk can act on, Chinese then English. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.his.contract import national_codes
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
CODE_RE = re.compile(r"^[0-9]{1,6}$")

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


def psn_cert_type(o: dict, path: str, *, required: bool = False, key: str = "psn_cert_type") -> str:
    """psn_cert_type (人员证件类型): a code of the national dictionary (gateway/his/spec/nhsa_codes.json).
    `key`: the field's name where a block calls it otherwise (2401 `cert_type`, 6201 `idType`)."""
    v = text(o, key, path, required=required, max_len=6, pattern=CODE_RE, what="a national code")
    if v and v not in national_codes("psn_cert_type"):
        raise FieldError(_join(path, key), f"人员证件类型不在国家代码表中 (not a code of the national "
                                           f"psn_cert_type dictionary, e.g. 01 居民身份证): {v!r}")
    return v


# Division codes a block may carry besides the envelope's (the spec puts insuplc_admdvs and
# mdtrtarea_admvs inside 2303/2304/2401's blocks too); the handlers read none of them, but each
# given is checked as the envelope's are.
PLACE_KEYS = ("insuplc_admdvs", "mdtrtarea_admvs", "mdtrtarea_admdvs", "insu_admdvs", "medins_admdvs")


def person_and_place(o: dict, path: str, *, cert_type_key: str = "psn_cert_type") -> None:
    """The psn_cert_type and the admdvs fields a block carries, whether or not the handler uses
    them: a national psn_cert_type code, 6 ASCII digits (empty or absent is fine: optional)."""
    psn_cert_type(o, path, key=cert_type_key)
    for k in PLACE_KEYS:
        if k in o:
            admdvs(o, k, path, required=False)


SETLWAY_UNSUPPORTED_MESSAGE = (
    "按定额结算 (psn_setlway 02) 暂不支持: 参保地待遇政策未定义定额标准, 请按项目结算 (psn_setlway 01) 重新提交 "
    "(fixed-quota settlement is not supported: no pool's policy defines fixed quotas; settle by item, "
    "psn_setlway 01)")


def psn_setlway(o: dict, key: str, path: str) -> str:
    """psn_setlway (个人结算方式), required: 01 by item is settled; 02 by fixed quota is a code of the
    dictionary, but no policy defines quotas (DOMAIN.md §5: hosp_part_amt = 0 always), so it is
    refused by name rather than settled by item behind the HIS's back."""
    v = text(o, key, path, max_len=2, choices=("01", "02"))
    if v == "02":
        raise FieldError(_join(path, key), SETLWAY_UNSUPPORTED_MESSAGE, outcome="SETLWAY_UNSUPPORTED")
    return v


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


def fee_sn(o: dict, path: str, *, required: bool = True) -> str:
    """feedetl_sn (数字型 in the spec, which does not say string or number): a digit string, or a
    JSON integer 1..15 digits long taken as its digits (a number has no leading zeros to lose).
    Any other id form the HIS chose is accepted as a string, as ident() does."""
    v = o.get("feedetl_sn")
    if isinstance(v, int) and not isinstance(v, bool):
        if v <= 0 or v >= 10**15:
            raise FieldError(_join(path, "feedetl_sn"), f"明细流水号应为 1 至 15 位正整数 (feedetl_sn as a number must "
                                                        f"be a positive integer of at most 15 digits), got {v}")
        return str(v)
    return ident(o, "feedetl_sn", path, required=required)


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


# ----------------------------------------------------------------------------- JSON

def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


# A \uD800-\uDFFF escape in the raw text: only then can a decoded string hold a lone surrogate
# (a character UTF-8 cannot encode, which would fail later, in protobuf or in a log line).
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _lone_surrogate_path(tree: Any, root: str) -> str | None:
    """The path of the first key or string holding a lone surrogate, None if there is none.
    Iterative, like clear_placeholders: a deeply nested body cannot exhaust the stack."""
    stack: list[tuple[Any, str]] = [(tree, root)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE_RE.search(node):
                return path
        elif isinstance(node, dict):
            for k, v in node.items():
                sub = _join("" if path in ("(body)", "") else path, k) if isinstance(k, str) else path
                if isinstance(k, str) and _SURROGATE_RE.search(k):
                    return sub
                stack.append((v, sub))
        elif isinstance(node, list):
            stack.extend((v, _join(path, i)) for i, v in enumerate(node))
    return None


def parse_json(raw: bytes | str, *, field: str = "(body)", outcome: str = "BAD_JSON") -> Any:
    """JSON with numbers as Decimal (never float) and NaN/Infinity refused; a UTF-8 BOM is allowed.
    Whatever the request's Content-Type said: HIS clients label JSON bodies application/json,
    text/plain or nothing at all."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FieldError(field, "请求体应为 UTF-8 编码的 JSON (the body must be UTF-8 JSON)", outcome=outcome) from None
    else:
        text = raw
    if not text.strip():
        raise FieldError(field, "请求体为空, 应为 JSON (the body is empty: send the JSON envelope)", outcome=outcome)
    try:
        tree = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise FieldError(field, f"不是合法 JSON (not valid JSON: {str(e)[:80]})", outcome=outcome) from None
    if _SURROGATE_ESCAPE_RE.search(text) or _SURROGATE_RE.search(text):
        where = _lone_surrogate_path(tree, field)
        if where is not None:
            raise FieldError(where, "含无效的 Unicode 转义: 单独的代理项 \\uD800-\\uDFFF 不是字符 (contains a lone "
                                    "surrogate escape such as \\ud800: not a character, send valid UTF-16 pairs or "
                                    "UTF-8 text)", outcome="INVALID_INPUT")
    return tree


# ----------------------------------------------------------------------------- the envelope

# Texts the real platform reads as "no value" in optional fields (HIS_INTERFACE.md, "Real
# clients, as they are"). Under the loose reading they count as absent, in the envelope and
# everywhere in `input`: a required field sent as "null" is then refused as missing, by name.
PLACEHOLDERS = frozenset({"null", "NULL"})


@dataclass(frozen=True, slots=True)
class EnvelopeRules:
    """How strictly `parse_envelope` reads. The default is the strict reading (every field typed
    as the spec's table, the 30-character msgid). The endpoint reads every request loosely, with
    the hospital's msgid rule and admdvs (`EnvelopeRules.for_hospital`):
    - `msgid_strict`: fixmedins_code(12) + yyyyMMddHHmmss(14) + 4 digits; otherwise any non-blank
      id of at most 30 characters (it is the idempotency key either way, per hospital);
    - `loose`: what the real platform tolerates — `opter_type` as a JSON number, `input` as a JSON
      string holding the object, a missing `mdtrtarea_admvs` (the hospital's admdvs is taken), an
      empty `insuplc_admdvs` (the services look the insured place up), "null"/"NULL" for any
      empty field, an empty/absent/"null" `sign_no`. Every value that is present is still
      checked as strictly as before."""
    msgid_strict: bool = True
    loose: bool = False
    hospital_admdvs: str = ""

    @classmethod
    def for_hospital(cls, *, msgid: str, admdvs: str) -> EnvelopeRules:
        return cls(msgid_strict=msgid == "strict", loose=True, hospital_admdvs=admdvs)


STRICT = EnvelopeRules()


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


def check_msgid(msgid: str, fixmedins_code: str, path: str = "msgid", *, strict: bool = True) -> None:
    """strict: 30 chars = fixmedins_code(12) + yyyyMMddHHmmss(14) + 4 digits. Otherwise any
    non-blank id of at most 30 characters (UUID-style hex, 26-character ids, bare sequences)."""
    if not strict:
        if not msgid.strip():
            raise FieldError(path, "报文ID不能为空白 (msgid must not be blank)")
        if len(msgid) > 30:
            raise FieldError(path, f"报文ID至多30位 (msgid is at most 30 characters), got {len(msgid)}")
        if CONTROL_RE.search(msgid) or not msgid.isprintable():
            raise FieldError(path, "报文ID含控制字符 (msgid contains control characters)")
        return
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


def clear_placeholders(tree: Any) -> None:
    """Every "null"/"NULL" text inside `tree` (dicts and lists, in place) becomes None, i.e. absent.
    Iterative: a body nested as deep as json.loads allows cannot exhaust the stack here."""
    stack = [tree]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, str):
                if v in PLACEHOLDERS:
                    node[k] = None
            elif isinstance(v, (dict, list)):
                stack.append(v)


def _loose_input(body: dict) -> Any:
    """`input` as sent; a JSON string holding the object is parsed (numbers as Decimal)."""
    inp = body.get("input")
    if isinstance(inp, str) and inp.strip() and inp not in PLACEHOLDERS:
        inp = parse_json(inp, field="input", outcome="INVALID_INPUT")
        if not isinstance(inp, dict):
            raise FieldError("input", "input 是字符串时应包含一个 JSON 对象 (input sent as a string must hold a JSON "
                                      "object)")
    return inp


def parse_envelope(body: Any, *, known_infnos: Container[str], rules: EnvelopeRules = STRICT) -> Envelope:
    if not isinstance(body, dict):
        raise FieldError("(body)", "请求体应为 JSON 对象 (the body must be a JSON object: the NHSA envelope)")
    inp: Any
    if rules.loose:
        inp = _loose_input(body)
        body = {k: (None if isinstance(v, str) and v in PLACEHOLDERS else v) for k, v in body.items() if k != "input"}
        if isinstance(inp, (dict, list)):
            clear_placeholders(inp)
        ot = body.get("opter_type")
        if isinstance(ot, int) and not isinstance(ot, bool):  # 1, not "1"
            body["opter_type"] = str(ot)
        if body.get("mdtrtarea_admvs") in (None, "") and rules.hospital_admdvs:
            body["mdtrtarea_admvs"] = rules.hospital_admdvs
    else:
        inp = body.get("input")
    infno = text(body, "infno", "", max_len=4, min_len=4, pattern=INFNO_RE, what="4 digits")
    if infno not in known_infnos:
        raise FieldError("infno", f"不支持的交易编号 {infno} (unknown transaction {infno})", outcome="UNKNOWN_INFNO")
    fixmedins_code = text(body, "fixmedins_code", "", max_len=12, min_len=12, pattern=FIXMEDINS_RE,
                          what="12 characters, e.g. H33060200001")
    msgid = text(body, "msgid", "", max_len=30 if rules.msgid_strict else 10_000, min_len=1)
    check_msgid(msgid, fixmedins_code, strict=rules.msgid_strict)
    mdtrtarea = admdvs(body, "mdtrtarea_admvs", "")
    if not isinstance(inp, dict):
        raise FieldError("input", "缺少交易输入或不是 JSON 对象 (input is required and must be a JSON object)")
    insuplc = admdvs(body, "insuplc_admdvs", "", required=_has_psn_no(inp) and not rules.loose)
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
