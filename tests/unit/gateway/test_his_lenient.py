"""What the gateway tolerates from real HIS clients, and what it still refuses
(gateway/his/envelope.py EnvelopeRules, gateway/his/handlers/session.py, gateway/his/endpoint.py):
every tolerated shape is read to the same envelope a strict client's would give, and every
malformed value is still refused with a message naming its field."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from gateway.his import endpoint
from gateway.his import envelope as f
from gateway.his.dispatch import Call, table
from gateway.his.handlers import session
from gateway.his.security import Principal, SecurityRefusal
from services.common.clock import Clock
from services.refdata.records import HospitalInterface

HOSPITAL, ADMDVS = "H33060200002", "330602"
KNOWN = table()
LENIENT = f.EnvelopeRules.for_hospital(msgid="lenient", admdvs=ADMDVS)
STRICT_MSGID = f.EnvelopeRules.for_hospital(msgid="strict", admdvs=ADMDVS)
STRICT_MSGID_VALUE = HOSPITAL + "20260601101500" + "0001"


def body(**over) -> dict:
    env = {"infno": "2207", "msgid": STRICT_MSGID_VALUE, "mdtrtarea_admvs": ADMDVS, "insuplc_admdvs": "330600",
           "recer_sys_code": "MDS", "infver": "V1.0", "opter_type": "1", "opter": "op001", "opter_name": "收费员",
           "inf_time": "2026-06-01 10:15:00", "fixmedins_code": HOSPITAL, "fixmedins_name": "绍兴市中医院",
           "sign_no": "", "input": {"data": {"psn_no": "330600000000000001", "medfee_sumamt": "10.00"}}}
    env.update(over)
    return env


def parse(env: dict, rules: f.EnvelopeRules = LENIENT) -> f.Envelope:
    return f.parse_envelope(env, known_infnos=KNOWN, rules=rules)


def refused(env: dict, rules: f.EnvelopeRules = LENIENT) -> f.FieldError:
    with pytest.raises(f.FieldError) as e:
        parse(env, rules)
    return e.value


def without(env: dict, *keys: str) -> dict:
    return {k: v for k, v in env.items() if k not in keys}


# ----------------------------------------------------------------------------- tolerated

def test_a_strict_clients_envelope_reads_the_same_loosely():
    assert parse(body()) == f.parse_envelope(body(), known_infnos=KNOWN)


def test_opter_type_as_a_number():
    assert parse(body(opter_type=2)).opter_type == "2"


def test_input_as_a_json_string_holding_the_object():
    inner = {"data": {"psn_no": "330600000000000001", "medfee_sumamt": 10.50}}
    env = parse(body(input=json.dumps(inner)))
    assert env.input == {"data": {"psn_no": "330600000000000001", "medfee_sumamt": Decimal("10.5")}}
    assert isinstance(env.input["data"]["medfee_sumamt"], Decimal)  # numbers stay exact inside the string too


@pytest.mark.parametrize("mdtrtarea", [None, "", "null", "NULL"])
def test_missing_mdtrtarea_admvs_is_the_hospitals(mdtrtarea):
    env = body() if mdtrtarea is None else body(mdtrtarea_admvs=mdtrtarea)
    if mdtrtarea is None:
        env = without(env, "mdtrtarea_admvs")
    assert parse(env).mdtrtarea_admvs == ADMDVS


@pytest.mark.parametrize("insuplc", ["", "null", None])
def test_empty_insuplc_admdvs_on_a_person_transaction(insuplc):
    env = without(body(), "insuplc_admdvs") if insuplc is None else body(insuplc_admdvs=insuplc)
    assert parse(env).insuplc_admdvs == ""


@pytest.mark.parametrize("sign_no", ["", "null", "NULL", None])
def test_sign_no_empty_absent_or_null(sign_no):
    env = without(body(), "sign_no") if sign_no is None else body(sign_no=sign_no)
    assert parse(env).sign_no == ""


def test_null_placeholders_are_empty_optional_fields_everywhere():
    inp = {"data": {"psn_no": "330600000000000001", "card_sn": "null", "dise_name": "NULL",
                    "rows": [{"memo": "null"}, "NULL"]}}
    env = parse(body(opter_name="NULL", fixmedins_name="null", recer_sys_code="null", infver="NULL", input=inp))
    assert (env.opter_name, env.fixmedins_name, env.recer_sys_code, env.infver) == ("", "", "", "")
    d = env.input["data"]
    assert d["card_sn"] is None and d["dise_name"] is None and d["rows"] == [{"memo": None}, None]
    assert f.text(d, "card_sn", "input.data", required=False) == ""
    # "Null" and "none" are values, not placeholders
    assert parse(body(opter_name="Null")).opter_name == "Null"


@pytest.mark.parametrize("msgid", [uuid.uuid4().hex[:30], "01HZX3K9Q8M2V7T4N6P5R1S0AB", "42", "his-0001/2026",
                                   STRICT_MSGID_VALUE])
def test_lenient_msgids(msgid):
    assert parse(body(msgid=msgid)).msgid == msgid


def test_the_strict_profile_still_demands_the_30_character_msgid():
    assert parse(body(), STRICT_MSGID).msgid == STRICT_MSGID_VALUE
    e = refused(body(msgid=uuid.uuid4().hex[:30]), STRICT_MSGID)
    assert e.field == "msgid" and "fixmedins_code" in e.message


def test_deeply_nested_input_is_not_a_stack_overflow():
    deep: dict = {"v": "null"}
    for _ in range(5000):
        deep = {"x": [deep]}
    f.clear_placeholders(deep)  # iterative


# ----------------------------------------------------------------------------- still refused

@pytest.mark.parametrize("over,field,words", [
    ({"opter_type": 9}, "opter_type", "one of"),
    ({"opter_type": True}, "opter_type", "string"),
    ({"opter_type": Decimal("1.5")}, "opter_type", "string"),
    ({"opter_type": "null"}, "opter_type", "required"),
    ({"opter": "NULL"}, "opter", "required"),
    ({"infno": "null"}, "infno", "required"),
    ({"infno": 2207}, "infno", "string"),
    ({"input": "{not json"}, "input", "not valid JSON"),
    ({"input": "[1, 2]"}, "input", "JSON object"),
    ({"input": "\"text\""}, "input", "JSON object"),
    ({"input": "null"}, "input", "required"),
    ({"input": 7}, "input", "JSON object"),
    ({"mdtrtarea_admvs": "33060"}, "mdtrtarea_admvs", "length"),
    ({"mdtrtarea_admvs": 330602}, "mdtrtarea_admvs", "string"),
    ({"insuplc_admdvs": "3306"}, "insuplc_admdvs", "length"),
    ({"insuplc_admdvs": "33060X"}, "insuplc_admdvs", "6 digits"),
    ({"msgid": "   "}, "msgid", "blank"),
    ({"msgid": "null"}, "msgid", "required"),
    ({"msgid": "x" * 31}, "msgid", "at most 30"),
    ({"msgid": str(uuid.uuid4())}, "msgid", "at most 30"),       # a 36-character UUID does not fit
    ({"msgid": "ab\u0007cd"}, "msgid", "control"),
    ({"msgid": 12345}, "msgid", "string"),
    ({"sign_no": "s" * 65}, "sign_no", "length"),
    ({"sign_no": 123}, "sign_no", "string"),
    ({"fixmedins_code": "null"}, "fixmedins_code", "required"),
    ({"inf_time": "2026-02-30 10:00:00"}, "inf_time", "yyyy-MM-dd"),
])
def test_malformed_values_are_still_refused_by_name(over, field, words):
    e = refused(body(**over))
    assert e.field == field and words in e.message, (e.field, e.message)
    assert e.outcome == "INVALID_INPUT"


def test_a_required_input_field_sent_as_null_is_missing_by_name():
    env = parse(body(input={"data": {"psn_no": "null", "medfee_sumamt": "NULL"}}))
    with pytest.raises(f.FieldError) as e:
        f.psn_no(env.input["data"], "input.data")
    assert e.value.field == "input.data.psn_no" and "required" in e.value.message
    with pytest.raises(f.FieldError) as e:
        f.money(env.input["data"], "medfee_sumamt", "input.data")
    assert e.value.field == "input.data.medfee_sumamt"


def test_the_strict_reading_is_unchanged():
    # The default rules (no hospital): what the envelope table has always said.
    for over, field in (({"opter_type": 1}, "opter_type"), ({"insuplc_admdvs": ""}, "insuplc_admdvs"),
                        ({"input": json.dumps({"data": {}})}, "input"), ({"msgid": "42"}, "msgid")):
        with pytest.raises(f.FieldError) as e:
            f.parse_envelope(body(**over), known_infnos=KNOWN)
        assert e.value.field == field
    with pytest.raises(f.FieldError) as e:
        f.parse_envelope(without(body(), "mdtrtarea_admvs"), known_infnos=KNOWN)
    assert e.value.field == "mdtrtarea_admvs"


def test_body_json_whatever_the_label():
    assert endpoint.parse_json(b"\xef\xbb\xbf" + json.dumps(body()).encode())["infno"] == "2207"
    for raw, words in ((b"", "empty"), (b"   ", "empty"), (b"<html>", "not valid JSON"), (b"\xff", "UTF-8")):
        with pytest.raises(f.FieldError) as e:
            endpoint.parse_json(raw)
        assert e.value.outcome == "BAD_JSON" and words in e.value.message and e.value.field == "(body)"


# ----------------------------------------------------------------------------- paths

def test_a_path_that_names_its_transaction():
    b = without(body(), "infno")
    endpoint._force_infno(b, "2207", "x")
    assert b["infno"] == "2207"
    b = body(infno="null")
    endpoint._force_infno(b, "2207", "x")
    assert b["infno"] == "2207"
    with pytest.raises(f.FieldError) as e:
        endpoint._force_infno(body(infno="2206"), "2207", "x")
    assert e.value.field == "infno" and "2207 only" in e.value.message


# ----------------------------------------------------------------------------- 9001 / 9002

class _Guard:
    def __init__(self):
        self.signed_in: list[str] = []
        self.signed_out: list[tuple[str, str]] = []

    async def sign_in(self, principal, opter_no):
        self.signed_in.append(opter_no)
        return "20260601101500" + "ab" * 8, "2026-06-01 10:15:00"

    async def sign_out(self, principal, sign_no, *, field="sign_no"):
        if sign_no != "20260601101500" + "ab" * 8:
            raise SecurityRefusal("NOT_SIGNED_IN", "not signed in", field=field)
        self.signed_out.append((sign_no, field))
        return "2026-06-01 18:00:00"


def call(infno: str, inp: dict, sign_no: str = "") -> Call:
    env = parse(body(infno=infno, input=inp, sign_no=sign_no, insuplc_admdvs=""))
    p = Principal("his-sx-002", HOSPITAL, ADMDVS, "", interface=HospitalInterface())
    return Call(env=env, principal=p, stubs=None, guard=_Guard(), timeout_s=1.0, clock=Clock())


@pytest.mark.parametrize("inp", [{"signIn": {"opter_no": "op7", "mac": "m", "ip": "127.0.0.1"}},
                                 {"data": {"opter_no": "op7"}}, {"opter_no": "op7", "mac": "null"}])
async def test_9001_input_under_signIn_data_or_flat_answered_under_signinoutb_and_result(inp):
    c = call("9001", inp)
    out = await session.sign_in(c)
    assert out["signinoutb"] == out["result"] == {"sign_no": "20260601101500" + "ab" * 8,
                                                   "sign_time": "2026-06-01 10:15:00"}
    assert c.guard.signed_in == ["op7"]


@pytest.mark.parametrize("inp,field", [({"signIn": {"mac": "m"}}, "input.signIn.opter_no"),
                                       ({"data": {"opter_no": "x" * 31}}, "input.data.opter_no"),
                                       ({"opter_no": 7}, "input.opter_no"),
                                       ({"signIn": "op7"}, "input.signIn")])
async def test_9001_still_checks_what_it_reads(inp, field):
    c = call("9001", inp)
    with pytest.raises(f.FieldError) as e:
        await session.sign_in(c)
    assert e.value.field == field and c.guard.signed_in == []   # no sign_no issued


async def test_9002_signs_out_the_sign_no_of_its_input_or_of_the_envelope():
    sign_no = "20260601101500" + "ab" * 8
    c = call("9002", {"signOut": {"sign_no": sign_no, "opter_no": "op7"}})
    assert await session.sign_out(c) == {"signoutoutb": {"sign_time": "2026-06-01 18:00:00"}}
    assert c.guard.signed_out == [(sign_no, "input.signOut.sign_no")]
    c = call("9002", {"data": {"opter_no": "op7", "sign_no": "null"}}, sign_no=sign_no)
    await session.sign_out(c)
    assert c.guard.signed_out == [(sign_no, "sign_no")]


@pytest.mark.parametrize("inp,sign_no,field", [
    ({"signOut": {"opter_no": "op7"}}, "", "input.signOut.sign_no"),
    ({"signOut": {"sign_no": "20260601101500" + "ab" * 8}}, "", "input.signOut.opter_no"),
    ({"signOut": {"sign_no": "x" * 65, "opter_no": "op7"}}, "", "input.signOut.sign_no"),
])
async def test_9002_refusals_change_nothing(inp, sign_no, field):
    c = call("9002", inp, sign_no=sign_no)
    with pytest.raises(f.FieldError) as e:
        await session.sign_out(c)
    assert e.value.field == field and c.guard.signed_out == []


async def test_9002_of_a_sign_no_that_is_not_live():
    c = call("9002", {"signOut": {"sign_no": "20260601000000" + "cd" * 8, "opter_no": "op7"}})
    with pytest.raises(SecurityRefusal) as e:
        await session.sign_out(c)
    assert (e.value.outcome, e.value.field) == ("NOT_SIGNED_IN", "input.signOut.sign_no")


def test_the_msgid_rule_reaches_the_handlers():
    assert call("9001", {"opter_no": "op7"}).msgid_strict is False
