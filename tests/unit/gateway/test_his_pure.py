"""Pure parts of the gateway: yuan <-> fen, envelope and field validation, TIF signature, error
mapping, msgid / inf_refmsgid formats, the dispatch table and the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import grpc
import pytest
from grpc import aio

from gateway.his import envelope as f
from gateway.his.convert import AmountError, decimal_text, fen_to_yuan, proto_to_his, yuan_to_fen
from gateway.his.dispatch import table
from gateway.his.endpoint import parse_json
from gateway.his.errors import RETRY_HINT, from_rpc_error
from gateway.his.response import envelope, refmsgid
from gateway.his.security import SecurityRefusal, authenticate, tif_headers, tif_signature
from gateway.hisclient import new_msgid
from medsettle.settlement.v1 import settlement_pb2 as spb

HOSPITAL = "H33060200001"


# ----------------------------------------------------------------------------- money

@pytest.mark.parametrize("value,fen", [("0", 0), ("0.01", 1), ("12.5", 1250), ("12.50", 1250), ("1234.56", 123456),
                                       (7, 700), (Decimal("3.10"), 310), ("  8.00 ", 800)])
def test_yuan_to_fen_is_exact(value, fen):
    assert yuan_to_fen(value) == fen


@pytest.mark.parametrize("value", ["12.345", "12.500", Decimal("0.001"), "1e-3", "abc", "", "NaN", "Infinity",
                                   "-1.00", True, None, 1.5, [], "1" * 30])
def test_bad_amounts_are_refused_never_rounded(value):
    with pytest.raises(AmountError):
        yuan_to_fen(value)


def test_negative_amount_only_where_allowed():
    assert yuan_to_fen("-12.30", allow_negative=True) == -1230


@pytest.mark.parametrize("fen,text", [(0, "0.00"), (5, "0.05"), (123450, "1234.50"), (-5, "-0.05"), (-100, "-1.00")])
def test_fen_to_yuan(fen, text):
    assert fen_to_yuan(fen) == text


def test_decimal_text_counts():
    assert decimal_text("2.50") == "2.5"
    assert decimal_text(3) == "3"
    with pytest.raises(AmountError):
        decimal_text("0")
    with pytest.raises(AmountError):
        decimal_text("1.00001")


def test_proto_to_his_converts_every_fen_field_and_keeps_zeros():
    reply = spb.SettleResponse(setlinfo=spb.SetlInfo(setl_id="S1", medfee_sumamt_fen=2000000, hifp_pay_fen=1169000),
                               setldetail=[spb.SetlDetail(fund_pay_type="390100", fund_payamt_fen=1169000)])
    out = proto_to_his(reply)
    assert out["setlinfo"]["medfee_sumamt"] == "20000.00"
    assert out["setlinfo"]["hifp_pay"] == "11690.00"
    assert out["setlinfo"]["acct_pay"] == "0.00"
    assert "medfee_sumamt_fen" not in out["setlinfo"]
    assert out["setldetail"] == [{"fund_pay_type": "390100", "fund_pay_type_name": "", "inscp_scp_amt": "0.00",
                                  "crt_payb_lmt_amt": "0.00", "fund_payamt": "11690.00", "setl_proc_info": ""}]


def test_json_numbers_are_decimal_never_float():
    body = parse_json(b'{"a": 12.345, "b": 1}')
    assert body["a"] == Decimal("12.345") and isinstance(body["a"], Decimal)
    with pytest.raises(f.FieldError):
        parse_json(b'{"a": NaN}')
    with pytest.raises(f.FieldError):
        parse_json(b"\xff\xfe")
    with pytest.raises(f.FieldError):
        parse_json(b"[" * 100000)


# ----------------------------------------------------------------------------- envelope

def good_envelope(**over) -> dict:
    env = {"infno": "2207", "msgid": HOSPITAL + "20260601101500" + "0001", "mdtrtarea_admvs": "330602",
           "insuplc_admdvs": "330600", "recer_sys_code": "MDS", "infver": "V1.0", "opter_type": "1",
           "opter": "op001", "opter_name": "收费员", "inf_time": "2026-06-01 10:15:00",
           "fixmedins_code": HOSPITAL, "fixmedins_name": "绍兴市人民医院", "sign_no": "abc",
           "input": {"data": {"psn_no": "330600000000000001"}}}
    env.update(over)
    return env


KNOWN = table()


def test_good_envelope_parses():
    env = f.parse_envelope(good_envelope(), known_infnos=KNOWN)
    assert env.infno == "2207" and env.fixmedins_code == HOSPITAL and env.input["data"]["psn_no"]


@pytest.mark.parametrize("over,field,words", [
    ({"infno": "9999"}, "infno", "unknown transaction"),
    ({"infno": 2207}, "infno", "string"),
    ({"msgid": HOSPITAL + "2026060110150000"}, "msgid", "30 characters"),
    ({"msgid": "H33060200002" + "20260601101500" + "0001"}, "msgid", "fixmedins_code"),
    ({"msgid": HOSPITAL + "20261301101500" + "0001"}, "msgid", "invalid time"),
    ({"msgid": HOSPITAL + "2026060110150A" + "0001"}, "msgid", "digits"),
    ({"mdtrtarea_admvs": "33060"}, "mdtrtarea_admvs", "length must be 6"),
    ({"mdtrtarea_admvs": "33060A"}, "mdtrtarea_admvs", "6 digits"),
    ({"insuplc_admdvs": ""}, "insuplc_admdvs", "required"),
    ({"opter_type": "9"}, "opter_type", "one of"),
    ({"inf_time": "2026/06/01 10:15:00"}, "inf_time", "yyyy-MM-dd HH:mm:ss"),
    ({"input": []}, "input", "JSON object"),
    ({"fixmedins_code": "h3306"}, "fixmedins_code", "length"),
])
def test_envelope_errors_name_the_field(over, field, words):
    with pytest.raises(f.FieldError) as e:
        f.parse_envelope(good_envelope(**over), known_infnos=KNOWN)
    assert e.value.field == field
    assert words in e.value.message


def test_insuplc_admdvs_optional_without_psn_no_and_sign_no_optional_for_9001():
    env = good_envelope(infno="9001", sign_no="", insuplc_admdvs="", input={"signIn": {"opter_no": "op001"}})
    assert f.parse_envelope(env, known_infnos=KNOWN).infno == "9001"


def test_non_object_body_is_refused():
    with pytest.raises(f.FieldError) as e:
        f.parse_envelope([1, 2], known_infnos=KNOWN)
    assert "JSON object" in e.value.message


def test_field_readers_name_nested_paths():
    d = {"medfee_sumamt": "12.345", "begntime": "2026-02-30 10:00:00", "mdtrt_cert_type": "02",
         "mdtrt_cert_no": "330602196804120113", "cnt": "-1", "psn_no": "a b"}
    cases = [(lambda: f.money(d, "medfee_sumamt", "input.data"), "input.data.medfee_sumamt", "two decimals"),
             (lambda: f.timestamp(d, "begntime", "input.data"), "input.data.begntime", "yyyy-MM-dd"),
             (lambda: f.certificate(d, "input.data"), "input.data.mdtrt_cert_no", "check digit"),
             (lambda: f.quantity(d, "cnt", "input.feedetail[3]"), "input.feedetail[3].cnt", "greater than 0"),
             (lambda: f.psn_no(d, "input.data"), "input.data.psn_no", "format"),
             (lambda: f.lst({"feedetail": [1]}, "feedetail", "input"), "input.feedetail[0]", "JSON object")]
    for fn, field, words in cases:
        with pytest.raises(f.FieldError) as e:
            fn()
        assert e.value.field == field and words in e.value.message, (field, e.value)


def test_social_card_needs_card_sn_and_valid_id_passes():
    with pytest.raises(f.FieldError) as e:
        f.certificate({"mdtrt_cert_type": "03", "mdtrt_cert_no": "X123"}, "input.data")
    assert e.value.field == "input.data.card_sn"
    assert f.certificate({"mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}, "p")[0] == "02"


# ----------------------------------------------------------------------------- TIF signature

class _Hospital:
    code, admdvs = HOSPITAL, "330602"


class _Creds:
    code, secret = HOSPITAL, "demo-" + "ab" * 20


class Cache:
    def hospital_by_paasid(self, paasid):
        return _Hospital() if paasid == "his-sx-001" else None

    def credentials(self, code):
        return _Creds() if code == HOSPITAL else None


def test_signature_is_sha256_of_ts_token_nonce_ts():
    expected = hashlib.sha256(b"1700000000" + b"secret" + b"n1" + b"1700000000").hexdigest()
    assert tif_signature("1700000000", "secret", "n1") == expected


def test_authenticate_accepts_a_good_signature_and_binds_the_hospital():
    h = tif_headers("his-sx-001", _Creds.secret, now=1_700_000_000)
    p = authenticate(h, Cache(), window_s=300, now=lambda: 1_700_000_100)
    assert p.code == HOSPITAL and p.admdvs == "330602" and p.nonce == h["x-tif-nonce"]


@pytest.mark.parametrize("mutate,outcome", [
    (lambda h: h.update({"x-tif-signature": "0" * 64}), "BAD_SIGNATURE"),
    (lambda h: h.update({"x-tif-paasid": "his-unknown"}), "BAD_SIGNATURE"),
    (lambda h: h.update({"x-tif-nonce": "other"}), "BAD_SIGNATURE"),
    (lambda h: h.pop("x-tif-nonce"), "AUTH_MISSING"),
    (lambda h: h.update({"x-tif-timestamp": "abc"}), "AUTH_MALFORMED"),
])
def test_authenticate_refusals(mutate, outcome):
    h = tif_headers("his-sx-001", _Creds.secret, now=1_700_000_000)
    mutate(h)
    with pytest.raises(SecurityRefusal) as e:
        authenticate(h, Cache(), window_s=300, now=lambda: 1_700_000_000)
    assert e.value.outcome == outcome


def test_stale_timestamp_either_side_of_the_window():
    for skew in (-301, 301):
        h = tif_headers("his-sx-001", _Creds.secret, now=1_700_000_000 + skew)
        with pytest.raises(SecurityRefusal) as e:
            authenticate(h, Cache(), window_s=300, now=lambda: 1_700_000_000)
        assert e.value.outcome == "STALE_TIMESTAMP" and "300" in e.value.message


# ----------------------------------------------------------------------------- error mapping

def rpc_error(code, details, outcome=None, field=None):
    md = []
    if outcome:
        md.append(("medsettle-outcome", outcome))
    if field:
        md.append(("medsettle-field", field))
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(*md), details=details)


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                                  grpc.StatusCode.PERMISSION_DENIED])
def test_refusals_carry_the_service_message_outcome_and_field(code):
    fail = from_rpc_error(rpc_error(code, "未备案 (not filed): file with 2501", "NOT_FILED", "psn_no"))
    assert not fail.retriable
    assert fail.err_msg() == "[NOT_FILED] 未备案 (not filed): file with 2501 (字段 field: psn_no)"
    assert fail.output() == {"outcome": "NOT_FILED", "retriable": False, "field": "psn_no"}


@pytest.mark.parametrize("code,outcome", [(grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE"),
                                          (grpc.StatusCode.DEADLINE_EXCEEDED, "TIMEOUT"),
                                          (grpc.StatusCode.INTERNAL, "INTERNAL"),
                                          (grpc.StatusCode.UNKNOWN, "INTERNAL")])
def test_outages_are_retriable_and_point_to_5203_and_2601(code, outcome):
    fail = from_rpc_error(rpc_error(code, "Traceback (most recent call last): ..."))
    assert fail.retriable and fail.outcome == outcome
    assert fail.message == RETRY_HINT and "5203" in fail.message and "2601" in fail.message
    assert "Traceback" not in fail.err_msg()


# ----------------------------------------------------------------------------- ids and envelopes

def test_client_msgids_are_30_chars_valid_and_distinct():
    ids = [new_msgid(HOSPITAL) for _ in range(50)]
    assert len(set(ids)) == 50
    for m in ids:
        f.check_msgid(m, HOSPITAL)


def test_response_envelope_shape():
    at = dt.datetime(2026, 6, 1, 10, 15, 0, 123000)
    env = envelope(ok=True, output={"x": 1}, admdvs="330602", received_at=at,
                   responded_at=at + dt.timedelta(milliseconds=7))
    assert env["infcode"] == 0 and env["err_msg"] == "" and env["output"] == {"x": 1}
    assert len(env["inf_refmsgid"]) == 30 and env["inf_refmsgid"].startswith("33060220260601101500")
    assert env["inf_refmsgid"].isdigit()
    assert env["refmsg_time"] == "20260601101500123" and env["respond_time"] == "20260601101500130"


def test_response_envelope_times_are_beijing_for_aware_instants():
    # 16:30 UTC on 31 December is already 00:30 on 1 January in Beijing.
    at = dt.datetime(2028, 12, 31, 16, 30, 0, 5000, tzinfo=dt.UTC)
    env = envelope(ok=True, output={}, admdvs="330602", received_at=at, responded_at=at)
    assert env["refmsg_time"] == "20290101003000005" == env["respond_time"]
    assert env["inf_refmsgid"].startswith("33060220290101003000")
    assert refmsgid("330602", at) != refmsgid("330602", at)
    assert refmsgid("bad", at).startswith("000000")
    json.dumps(env)


def test_dispatch_table_has_every_transaction_of_the_spec():
    spec = {"9001", "9002", "1101", "1312", "1901", "2001", "2201", "2202", "2203", "2204", "2205", "2206", "2207",
            "2208", "2301", "2302", "2303", "2304", "2305", "2401", "2402", "2404", "2405", "2501", "2502", "2503",
            "2504", "5301", "2601", "5203", "5206", "3201", "3202", "3203",
            "3101", "3102",  # fund supervision, docs/SUPERVISION.md
            "6201", "6202", "6203", "6301", "6401"}  # mobile payment, camelCase ([H] §5.6)
    assert set(table()) == spec


def test_openapi_documents_every_rest_route():
    from gateway.app import init_app
    from gateway.openapi import document
    from services.common.config import Settings

    app = init_app(Settings.from_env(), lambda: None)
    paths = document()["paths"]
    for route in app.router.routes():
        path = route.resource.canonical
        if path.startswith("/api/v1") and route.method != "HEAD":
            assert route.method.lower() in paths.get(path, {}), f"{route.method} {path} missing from openapi.py"


def test_feedetl_sn_may_be_a_json_integer_of_1_to_15_digits():
    assert f.fee_sn({"feedetl_sn": 7}, "input.feedetail[0]") == "7"
    assert f.fee_sn({"feedetl_sn": "0007"}, "input.feedetail[0]") == "0007"  # a string keeps its digits
    for bad in (0, -1, 10**15, True):
        with pytest.raises(f.FieldError) as e:
            f.fee_sn({"feedetl_sn": bad}, "input.feedetail[0]")
        assert e.value.field == "input.feedetail[0].feedetl_sn"
