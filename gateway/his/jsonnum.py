"""Exact JSON numbers for HIS outputs: 数值型 fields go out as JSON numbers with exactly the digits
of their Decimal (Decimal("123.40") -> 123.40, Decimal("-0.50") -> -0.50), never through float.

    dumps(obj)  ==  json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  but Decimals are numbers
    yuan(12340) ==  Decimal("123.40")

How: the C encoder does the work. Its `default` hook turns each Decimal into the string
NUL + str(decimal) + NUL, which the encoder writes as "\\u0000123.40\\u0000"; then each such
quoted token loses its quotes and NULs (two str.replace passes: three times faster than re.sub).
A user string can never be taken for a number, nor inject anything: the encoder writes a NUL of any
user string (or key) as the same six characters \\u0000, so the output holds exactly two of them
per Decimal only when no user text contributed any, and then every one of them is a Decimal's;
otherwise (a NUL, or the literal text \\u0000, in some string) the object is written by the
pure-Python encoder below instead — the same bytes, slower; such strings are rare.
NaN / Infinity (Decimal or float) are refused with ValueError, as json.dumps(allow_nan=False) does.
"""

from __future__ import annotations

import json
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

_SENTINEL = "\x00"
_ESCAPED = "\\u0000"  # the C encoder's (and encode_basestring's) writing of NUL
_OPEN, _CLOSE = '"' + _ESCAPED, _ESCAPED + '"'
_SCALAR = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def yuan(fen: int) -> Decimal:
    """Integer fen -> exact yuan with two decimals: 12340 -> Decimal('123.40'), -50 -> Decimal('-0.50'),
    0 -> Decimal('0.00'). No context rounding, whatever the size."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, got {type(fen).__name__}")
    return Decimal(f"{int(fen)}E-2")


def number_text(d: Decimal) -> str:
    """The JSON number of a Decimal: its own digits and exponent (str(Decimal)), finite only."""
    if not d.is_finite():
        raise ValueError(f"Out of range decimal value for JSON: {d!r}")
    return str(d)


def dumps(obj: Any) -> str:
    """Compact JSON (UTF-8 text, no ASCII escaping) with every Decimal as an exact JSON number."""
    count = 0

    def default(o: Any) -> str:
        nonlocal count
        if isinstance(o, Decimal):
            count += 1
            return _SENTINEL + number_text(o) + _SENTINEL
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=default)
    if not count:
        return text  # nothing to replace: exactly json.dumps
    if text.count(_ESCAPED) != 2 * count:
        return _slow_dumps(obj)  # some user text wrote \u0000 too
    # Every \u0000 left is one of a Decimal's token "\u0000<digits>\u0000": drop its quotes and NULs.
    return text.replace(_OPEN, "").replace(_CLOSE, "")


# ----------------------------------------------------------------------------- the safe path

def _slow_dumps(obj: Any) -> str:
    out: list[str] = []
    _emit(obj, out, set())
    return "".join(out)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _SCALAR.encode(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _emit(o: Any, out: list[str], markers: set[int]) -> None:
    if isinstance(o, str):
        out.append(encode_basestring(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_SCALAR.encode(float(o)))
    elif isinstance(o, Decimal):
        out.append(number_text(o))
    elif isinstance(o, (dict, list, tuple)):
        if id(o) in markers:
            raise ValueError("Circular reference detected")
        markers.add(id(o))
        if isinstance(o, dict):
            out.append("{")
            for i, (k, v) in enumerate(o.items()):
                if i:
                    out.append(",")
                out.append(encode_basestring(_key(k)))
                out.append(":")
                _emit(v, out, markers)
            out.append("}")
        else:
            out.append("[")
            for i, v in enumerate(o):
                if i:
                    out.append(",")
                _emit(v, out, markers)
            out.append("]")
        markers.discard(id(o))
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
