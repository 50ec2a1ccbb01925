"""Yuan strings on the HIS wire <-> integer fen inside the suite.

The HIS sends amounts as strings ("1234.50") or JSON numbers; the gateway parses JSON numbers as
Decimal (never float), so "12.345" and 12.345 are both refused with the field named — an amount
with more than two decimals is a mistake on the hospital's side that must not be rounded away.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf.message import Message

from gateway.his.jsonnum import yuan

# The largest amount a single field may carry: 10^11 yuan is far beyond any bill and keeps the
# fen value inside int64 with room for sums.
MAX_YUAN = Decimal("99999999999.99")


# The amount forms the interface allows (数值型 16,2): ASCII digits, at most one dot followed by one
# or two decimals, a minus sign only where negatives are allowed. No exponent ("1E2"), no
# fullwidth or other Unicode digits ("１２"), no "+", no inner spaces, no "." without digits.
AMOUNT_RE = re.compile(r"-?[0-9]{1,14}(?:\.[0-9]+)?")  # more decimals: refused below, by name
# A quantity or ratio: the same, with up to 4 decimals (the caller checks the places it allows).
QUANTITY_RE = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]+)?")


class AmountError(ValueError):
    """Not a valid yuan amount; the message says why (the caller adds the field path)."""


def yuan_to_fen(value: Any, *, allow_negative: bool = False) -> int:
    """'1234.5' / '1234.50' / 1234 / Decimal('1234.5') -> 123450. At most two decimals."""
    if isinstance(value, bool) or value is None:
        raise AmountError("应为金额字符串 (must be an amount in yuan, e.g. \"12.50\")")
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 20:
            raise AmountError("应为金额字符串 (must be an amount in yuan, e.g. \"12.50\")")
        if not AMOUNT_RE.fullmatch(text):
            raise AmountError(f"金额格式应为数字, 可带一个小数点及至多两位小数 (an amount is ASCII digits with at most one "
                              f"dot and two decimals, e.g. \"12.50\"; no exponent, no fullwidth digits): {value[:24]!r}")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise AmountError(f"不是金额 (not an amount): {value!r}") from None
    else:
        raise AmountError("应为金额字符串 (must be an amount in yuan, e.g. \"12.50\")")
    if not d.is_finite():
        raise AmountError(f"不是金额 (not an amount): {value!r}")
    exponent = d.as_tuple().exponent
    if isinstance(value, Decimal) and isinstance(exponent, int) and exponent > 0:  # the JSON number 1E2
        raise AmountError(f"金额不能用指数形式 (an amount is written in digits, not with an exponent): {value}")
    if isinstance(exponent, int) and exponent < -2:
        raise AmountError(f"金额最多两位小数 (at most two decimals, never rounded): {value!r}")
    if d < 0 and not allow_negative:
        raise AmountError(f"金额不能为负 (must not be negative): {value!r}")
    if abs(d) > MAX_YUAN:
        raise AmountError(f"金额过大 (amount too large): {value!r}")
    return int(d * 100)


def fen_to_yuan(fen: int) -> str:
    """123450 -> '1234.50'; -5 -> '-0.05'. Exact: integer arithmetic only."""
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(fen), 100)
    return f"{sign}{q}.{r:02d}"


def number(text: str) -> Decimal:
    """A count or ratio the services carry as a decimal string ('28', '0.05', '0.70') as the exact
    Decimal of the same digits (a JSON number through jsonnum.dumps); "" -> 0."""
    try:
        d = Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        raise AmountError(f"不是数字 (not a number): {text!r}") from None
    if not d.is_finite():
        raise AmountError(f"不是数字 (not a number): {text!r}")
    return d


# ----------------------------------------------------------------------------- national codes
# Our internal words -> the national dictionaries (gateway/his/spec/nhsa_codes.json); the word
# itself stays in the output under the row's `medsettle` extra.

PSN_TYPE = {"employee": "11", "retired": "12", "resident": "1701"}   # 在职 / 退休 / 城乡居民
PSN_IDET_TYPE = {"tekun": "2304",        # 特困救助对象
                 "dibao": "2303",        # 低保救助对象
                 "dibao_edge": "2305",   # 低收入救助对象
                 "fanpin": "2302",       # 建档立卡贫困人员 (防返贫监测)
                 "orphan": "2360",       # 地方扩展医疗救助对象人员
                 "disabled_1_2": "2308"}  # 残疾人员
PAY_LOC = {"local": "2", "intra_province": "3", "inter_province": "4"}  # 医疗机构 / 省内异地 / 跨省异地
HOSP_LV = {3: "12", 2: "13", 1: "14"}   # 三级无等 / 二级无等 / 一级无等 (the reference data holds no 甲乙)


def code_of(mapping: dict[str, str], word: str, other: str = "99") -> str:
    """The national code of an internal word; a value already a code passes; an unknown word is
    `other` (99 其他 in most dictionaries)."""
    if word in mapping:
        return mapping[word]
    if word.isdigit() or not word:
        return word
    return other


def decimal_text(value: Any, *, max_places: int = 4) -> str:
    """A count or ratio as a canonical decimal string ('2', '2.5'); raises AmountError."""
    if isinstance(value, bool) or value is None:
        raise AmountError("应为数字 (must be a number)")
    if isinstance(value, str) and not QUANTITY_RE.fullmatch(value.strip()):
        raise AmountError(f"数字格式应为数字, 可带一个小数点 (a number is ASCII digits with at most one dot; no "
                          f"exponent, no fullwidth digits): {value[:24]!r}")
    try:
        d = Decimal(value.strip()) if isinstance(value, str) else Decimal(value) if isinstance(value, (int, Decimal)) else None
    except InvalidOperation:
        d = None
    if isinstance(value, Decimal) and d is not None and d.is_finite() and int(d.as_tuple().exponent) > 0:
        raise AmountError(f"数字不能用指数形式 (a number is written in digits, not with an exponent): {value}")
    if d is None or not d.is_finite() or (isinstance(value, str) and len(value) > 24):
        raise AmountError(f"不是数字 (not a number): {value!r}")
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -max_places:
        raise AmountError(f"最多 {max_places} 位小数 (at most {max_places} decimals): {value!r}")
    if d <= 0:
        raise AmountError(f"必须大于 0 (must be greater than 0): {value!r}")
    if d > Decimal("99999999"):
        raise AmountError(f"数值过大 (too large): {value!r}")
    d = d.normalize()
    return format(d, "f")


def proto_to_his(msg: Message, *, exact: bool = False) -> dict[str, Any]:
    """Every field of a reply as HIS JSON: `x_fen` ints become `x` yuan — strings ("12.50", the
    REST API's form) or, with exact=True, Decimal('12.50') that gateway.his.jsonnum.dumps writes as
    the JSON number 12.50 (the HIS outputs' 数值型); nested messages and repeated fields recurse.
    Default values are included (a zero amount is "0.00" / 0.00, not absent)."""
    money = yuan if exact else fen_to_yuan
    out: dict[str, Any] = {}
    for name, out_name, kind in _plan(msg.DESCRIPTOR):
        value = getattr(msg, name)
        if kind == _MESSAGE:
            out[out_name] = proto_to_his(value, exact=exact) if msg.HasField(name) else None
        elif kind == _SCALAR:
            out[out_name] = value
        elif kind == _FEN:
            out[out_name] = money(value)
        elif kind == _MESSAGES:
            out[out_name] = [proto_to_his(v, exact=exact) for v in value]
        elif kind == _FENS:
            out[out_name] = [money(v) for v in value]
        elif kind == _MAP:
            out[out_name] = dict(sorted(value.items()))
        else:  # _SCALARS
            out[out_name] = list(value)
    return out


_SCALAR, _FEN, _MESSAGE, _SCALARS, _FENS, _MESSAGES, _MAP = range(7)
_PLANS: dict[Any, tuple[tuple[str, str, int], ...]] = {}


def _plan(descriptor) -> tuple[tuple[str, str, int], ...]:
    """(field name, HIS name, kind) of each field of a message type, worked out once per type:
    the reply of every transaction passes through here, and descriptor walking per call was
    ~4% of the gateway's time in the profile."""
    plan = _PLANS.get(descriptor)
    if plan is None:
        rows = []
        for fd in descriptor.fields:
            is_fen = fd.name.endswith("_fen")
            out_name = fd.name[:-4] if is_fen else fd.name
            repeated = _is_repeated(fd)
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                kind = _MAP  # map<string, string> (a supervision finding's evidence)
            elif fd.message_type is not None:
                kind = _MESSAGES if repeated else _MESSAGE
            elif repeated:
                kind = _FENS if is_fen else _SCALARS
            else:
                kind = _FEN if is_fen else _SCALAR
            rows.append((fd.name, out_name, kind))
        plan = _PLANS[descriptor] = tuple(rows)
    return plan


def _is_repeated(fd) -> bool:
    # protobuf >= 5 has `is_repeated`; older descriptors only `label`.
    rep = getattr(fd, "is_repeated", None)
    if rep is not None:
        return bool(rep)
    return fd.label == fd.LABEL_REPEATED
