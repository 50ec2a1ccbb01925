"""gateway/his/jsonnum: Decimals written as JSON numbers with exactly their digits, never through
float; everything else exactly as json.dumps(ensure_ascii=False, separators=(",", ":")); no user
string can turn into a number or inject structure, whatever it holds (the sentinel NUL included)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.his import jsonnum
from gateway.his.jsonnum import dumps, yuan

PLAIN = {"ensure_ascii": False, "separators": (",", ":")}


def fen_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(fen), 100)
    return f"{sign}{q}.{r:02d}"


def loads(text: str):
    return json.loads(text, parse_float=Decimal)


def same(back, orig) -> bool:
    """back (read with parse_float=Decimal) is orig, every Decimal equal in its digits and exponent too
    (Decimal('1.10') is not Decimal('1.1')); a float comes back as the Decimal of its repr."""
    if isinstance(orig, float):
        return isinstance(back, Decimal) and back == Decimal(repr(orig))
    if isinstance(orig, Decimal) and orig.as_tuple().exponent == 0 and type(back) is int:
        return back == orig  # an integral Decimal ("12", "-0") is a JSON integer: read back as int
    if isinstance(orig, Decimal) or isinstance(back, Decimal):
        return isinstance(orig, Decimal) and isinstance(back, Decimal) and back.as_tuple() == orig.as_tuple()
    if isinstance(orig, tuple):
        orig = list(orig)
    if isinstance(orig, dict):
        return isinstance(back, dict) and back.keys() == orig.keys() and all(same(back[k], orig[k]) for k in orig)
    if isinstance(orig, list):
        return isinstance(back, list) and len(back) == len(orig) and all(
            same(x, y) for x, y in zip(back, orig, strict=True))
    return type(back) is type(orig) and back == orig


# Strings that stress the sentinel: NULs, quotes, backslashes, the literal text \u0000, digits.
nasty = st.text(alphabet=st.sampled_from(["\x00", '"', "\\", "u", "0", "1", ".", "-", "E", "+", "张", " ", "\n", "{"]),
                max_size=12) | st.sampled_from(["\x00123.40\x00", "\x00-0.50\x00", '"\x001\x00"', "\\u0000", "\\u00001\\u0000",
                                                "\x00", '",1:"'])
money = st.integers(min_value=-(10**30), max_value=10**30).map(yuan)
decimals = st.decimals(allow_nan=False, allow_infinity=False)
leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | nasty | money
json_values = st.recursive(leaves | decimals, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(nasty, inner, max_size=4), max_leaves=20)
plain_values = st.recursive(leaves.filter(lambda v: not isinstance(v, Decimal)),
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty, inner, max_size=4),
                            max_leaves=20)


# ----------------------------------------------------------------------------- yuan and exactness

@pytest.mark.parametrize("fen,text", [(12340, "123.40"), (-50, "-0.50"), (0, "0.00"), (1, "0.01"), (-1, "-0.01"),
                                      (100, "1.00"), (10**20 + 5, "1000000000000000000.05")])
def test_yuan_is_exact_with_two_decimals(fen, text):
    assert str(yuan(fen)) == text and yuan(fen) == Decimal(text)
    assert yuan(fen).as_tuple().exponent == -2
    assert dumps(yuan(fen)) == text and dumps({"a": yuan(fen)}) == f'{{"a":{text}}}'


@pytest.mark.parametrize("bad", [1.5, "12", Decimal("1"), True, None])
def test_yuan_takes_integer_fen_only(bad):
    with pytest.raises(TypeError):
        yuan(bad)


@given(st.integers())  # unbounded: large and negative values included
def test_any_fen_is_written_with_exactly_its_digits(fen):
    text = fen_text(fen)
    assert str(yuan(fen)) == text
    assert dumps([yuan(fen)]) == f"[{text}]"
    back = loads(dumps({"amt": yuan(fen)}))["amt"]
    assert same(back, yuan(fen)) and int(str(back).replace(".", "")) == fen


@pytest.mark.parametrize("d,text", [(Decimal("123.40"), "123.40"), (Decimal("-0.50"), "-0.50"), (Decimal("0.7893"), "0.7893"),
                                    (Decimal("-0.00"), "-0.00"), (Decimal("1E+3"), "1E+3"), (Decimal("1.2E-7"), "1.2E-7"),
                                    (Decimal("12"), "12"), (Decimal("0.1") + Decimal("0.2"), "0.3")])
def test_a_decimal_keeps_its_digits_and_exponent(d, text):
    assert dumps(d) == text and dumps([d, {"k": d}]) == f'[{text},{{"k":{text}}}]'


@given(decimals)
def test_any_finite_decimal_round_trips(d):
    assert dumps(d) == str(d)
    assert same(loads(dumps([d]))[0], d)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("-Infinity"), Decimal("Infinity"), Decimal("sNaN"),
                                 float("nan"), float("inf")])
def test_nan_and_infinity_are_refused(bad):
    with pytest.raises(ValueError):
        dumps({"amt": [bad]})
    with pytest.raises(ValueError):
        dumps({"amt": [bad], "s": "\x00"})  # the safe path too


# ----------------------------------------------------------------------------- strings stay strings

@pytest.mark.parametrize("s", ["\x00123.40\x00", "\x00-0.50\x00", '"\x001\x00"', "\\u0000", "\\u00001\\u0000", "\x00",
                               '"},"x":1,"y":{"', 'a "quoted" \\ string', "张三"])
def test_a_string_holding_the_sentinel_or_quotes_stays_that_string(s):
    obj = {"amt": yuan(12340), "s": s, s: [s, yuan(-50)], "n": [{"deep": s}]}
    text = dumps(obj)
    assert same(loads(text), obj)
    assert text.startswith('{"amt":123.40,') and '-0.50]' in text


@given(json_values)
def test_any_value_round_trips_exactly(value):
    assert same(loads(dumps(value)), value)


@given(plain_values)
def test_without_decimals_it_is_json_dumps(value):
    assert dumps(value) == json.dumps(value, **PLAIN)


@given(json_values)
def test_the_safe_path_writes_the_same_bytes(value):
    assert jsonnum._slow_dumps(value) == dumps(value)


def test_nested_lists_and_dicts_and_keys():
    obj = {"setlinfo": {"medfee_sumamt": yuan(12340), "psn_name": "张三"},
           "setldetail": [{"fund_payamt": yuan(100)}, {"fund_payamt": yuan(-5)}], 1: None, None: [], 2.5: True,
           "t": (yuan(1),)}
    text = dumps(obj)
    assert text == ('{"setlinfo":{"medfee_sumamt":123.40,"psn_name":"张三"},"setldetail":[{"fund_payamt":1.00},'
                    '{"fund_payamt":-0.05}],"1":null,"null":[],"2.5":true,"t":[0.01]}')
    assert jsonnum._slow_dumps(obj) == text


def test_what_json_refuses_it_refuses():
    with pytest.raises(TypeError):
        dumps({"x": object()})
    with pytest.raises(TypeError):
        dumps({Decimal("1"): 1})
    with pytest.raises(TypeError):
        jsonnum._slow_dumps({Decimal("1"): 1})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError):
        dumps([yuan(1), loop])
    with pytest.raises(ValueError):
        jsonnum._slow_dumps([loop])

