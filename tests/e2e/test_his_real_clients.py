"""Real HIS clients, as they are (docs/HIS_INTERFACE.md §1-§4), against the whole suite over HTTP.

One outpatient flow, 9001 -> 1101 -> 2201 -> 2203 -> 2204 -> 2206 -> 2207 -> 5203 -> 2208 -> 9002,
sent the way an SDK sends it: bodies labelled text/plain, UUID-style msgids, `sign_no: "null"`,
loose typings; once signed with the api_hmac_sha1 profile and once with TIF, at a demo hospital
that allows both (H33060200002). Both give the same figures, every reply is HTTP 200. Then what
is still refused, always as an HTTP 200 failure envelope naming the field, and that a refused
request writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from gateway.hisclient import CALL_SERVICE_PATH, api_headers
from tests.e2e.conftest import fresh_person, now_text, row_counts
from tests.e2e.demo import client_for, hospital

pytestmark = pytest.mark.e2e

BOTH = "H33060200002"    # 绍兴市中医院, level 3, 330602: interface auth [tif, api_hmac_sha1], lenient, optional
STRICT = "H33060200001"  # 绍兴市人民医院: auth [tif], msgid strict, sign_in required
DRUG, STENT = "XC10AAA089A001010104327", "C03010101001001123456"
PRESETTLE_ALIAS = "/fsi/api/outpatientSettleService/preSettletmentA"
SDK = {"content_type": "text/plain", "msgid_style": "uuid", "empty_sign_no": "null", "send_sign_no": False}


def ok(his, reply: dict) -> dict:
    assert his.last_status == 200
    assert reply["infcode"] == 0, reply["err_msg"]
    assert len(his.last_msgid) == 30 and not his.last_msgid.startswith(his.fixmedins_code)  # a UUID-style id
    return reply["output"]


def refused(his, reply: dict, outcome: str, field: str | None = None) -> dict:
    assert his.last_status == 200, "every failure on the HIS paths is HTTP 200"
    assert reply["infcode"] == -1 and reply["output"]["outcome"] == outcome, reply
    assert reply["err_msg"].startswith(f"[{outcome}]") and "Traceback" not in reply["err_msg"]
    if field is not None:
        assert reply["output"].get("field") == field and f"field: {field}" in reply["err_msg"], reply
    return reply


async def raw_post(base_url: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, dict]:
    """One HTTP/1.1 request written by hand: aiohttp's client keeps only the last of two headers
    with one name, and a header sent twice is what this must show."""
    u = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\n{head}Content-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def twice(headers: dict[str, str], name: str, second: str) -> list[tuple[str, str]]:
    """The headers with `name` sent a second time (upper-case) with another value."""
    return [*headers.items(), (name.upper(), second)]


async def _certno(admin, psn_no: str) -> str:
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        return (await r.json())["baseinfo"]["certno"]


def _fee(sn: str, mdtrt_id: str, psn_no: str, code: str, pric: str, cnt: str) -> dict:
    amount = (Decimal(pric) * Decimal(cnt)).quantize(Decimal("0.01"))
    return {"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B1", "fee_ocur_time": now_text(-1),
            "med_list_codg": code, "medins_list_codg": "NULL", "det_item_fee_sumamt": str(amount), "cnt": cnt,
            "pric": pric}


FIGURES = ("medfee_sumamt", "fulamt_ownpay_amt", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay",
           "fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay")


async def _outpatient_flow(his, admin) -> dict[str, dict[str, str]]:
    """The flow as an SDK sends it; returns the figures of 2206, 2207, 5203 and 2208."""
    psn_no = await fresh_person(admin)  # resident 390 of pool 330600, nothing paid yet this year
    certno = await _certno(admin, psn_no)
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}

    out = ok(his, await his.call("9001", {"data": {"opter_no": his.opter, "mac": "null", "ip": "127.0.0.1"}}))
    assert out["signinoutb"] == out["result"] and len(out["signinoutb"]["sign_no"]) == 30
    sign_no = his.sign_no = out["signinoutb"]["sign_no"]  # held, but the SDK sends "null" (send_sign_no=False)

    info = ok(his, await his.call("1101", {"data": {**cert, "card_sn": "null", "begntime": now_text()}},
                                  input_as_string=True, opter_type=1))
    assert info["baseinfo"]["psn_no"] == psn_no
    reg = ok(his, await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                                   "ipt_otp_no": "MZ" + his.last_msgid[-10:], "dept_code": "A01",
                                                   "dept_name": "内科", "atddr_no": "NULL", **cert}},
                                 omit=("mdtrtarea_admvs",), dev_no="null"))["data"]
    mdtrt_id = reg["mdtrt_id"]
    ok(his, await his.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11",
                                                  "begntime": now_text(-1), "dise_codg": "J06.900", "dise_name": "上感"},
                                    "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900",
                                                  "diag_name": "急性上呼吸道感染"}]}, opter_type=1))
    fees = ok(his, await his.call("2204", {"feedetail": [_fee("F1", mdtrt_id, psn_no, DRUG, "12.50", "28"),
                                                         _fee("F2", mdtrt_id, psn_no, STENT, "40.00", "1")]},
                                  path=CALL_SERVICE_PATH + "/2204"))
    assert {r["feedetl_sn"]: r["inscp_scp_amt"] for r in fees["result"]} == {"F1": Decimal("332.50"), "F2": Decimal("0.00")}
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "11", "medfee_sumamt": "390.00",
            "psn_setlway": "01", "acct_used_flag": "0", "chrg_bchno": "B1", **cert}
    pre = ok(his, await his.call("2206", {"data": data}, path=PRESETTLE_ALIAS, omit=("infno",)))["setlinfo"]
    settle_input = {"data": {**data, "fulamt_ownpay_amt": "40.00", "overlmt_selfpay": "0.00",
                             "preselfpay_amt": "17.50", "inscp_scp_amt": "332.50", "invono": "null"}}
    setl = ok(his, await his.call("2207", settle_input, path=CALL_SERVICE_PATH + "/2207", omit=("infno",)))
    s, msgid_2207 = setl["setlinfo"], his.last_msgid
    # the UUID-style msgid is the idempotency key: a retry returns the stored settlement
    again = ok(his, await his.call("2207", settle_input, msgid=msgid_2207))
    assert again["replayed"] is True and again["setlinfo"]["setl_id"] == s["setl_id"]
    q = ok(his, await his.call("5203", {"data": {"psn_no": psn_no, "setl_id": s["setl_id"], "mdtrt_id": mdtrt_id}}))
    c = ok(his, await his.call("2208", {"data": {"setl_id": s["setl_id"], "mdtrt_id": mdtrt_id,
                                                 "psn_no": psn_no}}))["setlinfo"]

    bye = await his.sign_out()
    assert his.last_status == 200 and bye["infcode"] == 0, bye["err_msg"]
    assert len(bye["output"]["signoutoutb"]["sign_time"]) == 19
    # signed out: the sign_no is dead, and a second sign-out is refused (naming the input field)
    refused(his, await his.call("5203", {"data": {"psn_no": psn_no, "setl_id": s["setl_id"]}}, sign_no=sign_no),
            "NOT_SIGNED_IN", "sign_no")
    refused(his, await his.call("9002", {"signOut": {"sign_no": sign_no, "opter_no": his.opter}}),
            "NOT_SIGNED_IN", "input.signOut.sign_no")
    return {"2206": {k: pre[k] for k in FIGURES}, "2207": {k: s[k] for k in FIGURES},
            "5203": {k: q["setlinfo"][k] for k in FIGURES if k in q["setlinfo"]}, "2208": {k: c[k] for k in FIGURES}}


# Resident 390 at a level-3 hospital of 330600: outpatient deductible 100.00, ratio 0.40, cap 800.00.
# In-policy 332.50 (drug 350.00 less its 5% pre-selfpay 17.50; the stent's 40.00 is class 丙):
# act_pay_dedc = 100.00, hifp_pay = (332.50 - 100.00) x 0.40 = 93.00, the patient 297.00 in cash.
# The outputs' amounts are JSON numbers (390.00), read as Decimal (the client's parse_float=Decimal).
EXPECTED = {k: Decimal(v) for k, v in {
    "medfee_sumamt": "390.00", "fulamt_ownpay_amt": "40.00", "preselfpay_amt": "17.50",
    "inscp_scp_amt": "332.50", "act_pay_dedc": "100.00", "hifp_pay": "93.00", "fund_pay_sumamt": "93.00",
    "psn_part_amt": "297.00", "acct_pay": "0.00", "psn_cash_pay": "297.00"}.items()}


def _negated(figures: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: -v for k, v in figures.items()}


@pytest.mark.parametrize("auth", ["api_hmac_sha1", "tif"])
async def test_an_sdk_style_client_runs_the_outpatient_flow_unchanged(suite, admin, auth):
    async with client_for(suite.gateway_url, BOTH, auth=auth, **SDK) as his:
        figures = await _outpatient_flow(his, admin)
    assert figures["2206"] == figures["2207"] == EXPECTED
    assert figures["5203"] == {k: v for k, v in EXPECTED.items() if k in figures["5203"]}
    assert figures["5203"]["hifp_pay"] == Decimal("93.00")
    assert figures["2208"] == _negated(EXPECTED)


async def test_no_content_type_and_a_flat_9001(suite):
    async with client_for(suite.gateway_url, BOTH, auth="api_hmac_sha1", content_type=None, msgid_style="seq",
                          empty_sign_no=None) as his:
        sign_no = await his.sign_in(shape="flat")
        assert len(sign_no) == 30
        reply = await his.call("9002", {"opter_no": his.opter})  # flat, sign_no from the envelope
        assert his.last_status == 200 and reply["infcode"] == 0, reply["err_msg"]


# ----------------------------------------------------------------------------- still refused, HTTP 200

async def test_the_strict_hospital_keeps_its_rules(suite):
    async with client_for(suite.gateway_url, STRICT) as his:   # TIF, a strict msgid, sign-in required
        env = his.envelope("9001", {"signIn": {"opter_no": "op001"}})
        his.auth = "api_hmac_sha1"
        status, body = await his.post(CALL_SERVICE_PATH, env)
        assert status == 200 and body["output"]["outcome"] == "AUTH_PROFILE_NOT_ALLOWED", body
        assert "accepts: tif" in body["err_msg"]
        his.auth = "tif"
        refused(his, await his.call("9001", {"signIn": {"opter_no": "op001"}}, msgid="9" * 30), "INVALID_INPUT", "msgid")
        await his.sign_in()
        refused(his, await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}},
                                    sign_no="null"), "NOT_SIGNED_IN", "sign_no")


async def test_transport_and_authentication_failures_are_http_200_envelopes(suite):
    async with client_for(suite.gateway_url, BOTH, auth="api_hmac_sha1", content_type="text/plain") as his:
        good = his.envelope("9001", {"signIn": {"opter_no": "op001"}})

        async def post(path, body, headers=None):
            status, reply = await his.post(path, body, headers)
            assert status == 200 and isinstance(reply, dict) and reply["infcode"] == -1, (status, reply)
            assert len(reply["inf_refmsgid"]) == 30
            return reply["output"]

        body = json.dumps(good).encode()
        status, reply = await raw_post(his.base_url, CALL_SERVICE_PATH, twice(his.headers(), "_api_signature",
                                                                              "c2Vjb25kIHZhbHVl"), body)
        assert status == 200 and reply["output"] == {"outcome": "AUTH_HEADER_REPEATED", "retriable": False,
                                                     "field": "_api_signature"}, reply
        # the same request with the header once is accepted: it is the repetition that is refused
        status, reply = await raw_post(his.base_url, CALL_SERVICE_PATH, list(his.headers().items()), body)
        assert status == 200 and reply["infcode"] == 0, reply
        good = his.envelope("9001", {"signIn": {"opter_no": "op001"}})
        h = his.headers()
        h["_api_signature"] = api_headers(his.paasid, "not-the-secret-" * 3)["_api_signature"]
        assert (await post(CALL_SERVICE_PATH, good, h))["outcome"] == "BAD_SIGNATURE"
        h["_api_signature"] = "not base64!"
        assert (await post(CALL_SERVICE_PATH, good, h))["field"] == "_api_signature"
        assert (await post(CALL_SERVICE_PATH, good, his.headers(timestamp_ms=1)))["outcome"] == "STALE_TIMESTAMP"
        assert (await post(CALL_SERVICE_PATH, good, {"Content-Type": "text/plain"}))["outcome"] == "AUTH_MISSING"
        assert (await post(CALL_SERVICE_PATH, b"{not json"))["outcome"] == "BAD_JSON"
        assert (await post(CALL_SERVICE_PATH, b""))["outcome"] == "BAD_JSON"
        assert (await post("/fsi/api/nothingHere", good))["outcome"] == "NOT_FOUND_PATH"
        assert (await post(CALL_SERVICE_PATH + "/12ab", good)) == {"outcome": "UNKNOWN_INFNO", "retriable": False,
                                                                   "field": "infno"}
        assert (await post(CALL_SERVICE_PATH + "/2207", good))["field"] == "infno"      # the path says 2207
        assert (await post(CALL_SERVICE_PATH, b"{" + b" " * (5 * 1024 * 1024) + b"}"))["outcome"] == "BODY_TOO_LARGE"
        async with his._session.get(his.base_url + CALL_SERVICE_PATH) as r:
            assert r.status == 200 and (await r.json())["output"]["outcome"] == "METHOD_NOT_ALLOWED"
        other = dict(good, fixmedins_code=STRICT)
        assert (await post(CALL_SERVICE_PATH, other))["outcome"] == "HOSPITAL_MISMATCH"
    # REST keeps its status codes
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(suite.gateway_url + "/api/v1/nothing") as r:
        assert r.status == 404




async def test_tolerated_shapes_are_still_validated_and_a_refusal_writes_nothing(suite, admin, database_url):
    psn_no = await fresh_person(admin)
    certno = await _certno(admin, psn_no)
    reg = {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1), "ipt_otp_no": "MZ-R",
                    "mdtrt_cert_type": "02", "mdtrt_cert_no": certno}}
    async with client_for(suite.gateway_url, BOTH, auth="api_hmac_sha1", **SDK) as his:
        before = await row_counts(database_url, BOTH)
        cases = [
            (dict(opter_type=9), "INVALID_INPUT", "opter_type"),
            (dict(opter_type=True), "INVALID_INPUT", "opter_type"),
            (dict(msgid="m" * 31), "INVALID_INPUT", "msgid"),
            (dict(msgid="  "), "INVALID_INPUT", "msgid"),
            (dict(mdtrtarea_admvs="33060"), "INVALID_INPUT", "mdtrtarea_admvs"),
            (dict(insuplc_admdvs="3306"), "INVALID_INPUT", "insuplc_admdvs"),
            (dict(opter="null"), "INVALID_INPUT", "opter"),
            (dict(sign_no=f"{now_text()[:4]}0101000000deadbeefdeadbeef"), "NOT_SIGNED_IN", "sign_no"),
        ]
        for over, outcome, field in cases:
            refused(his, await his.call("2201", reg, **over), outcome, field)
        refused(his, await his.call("2201", {"data": {**reg["data"], "psn_no": "null"}}), "INVALID_INPUT",
                "input.data.psn_no")
        env = his.envelope("2201", reg)
        env["input"] = '{"data": '  # input as a JSON string, but a broken one
        refused(his, await his.send(env), "INVALID_INPUT", "input")
        refused(his, await his.call("2204", {"feedetail": [{**_fee("R1", "M-none", psn_no, DRUG, "1.00", "1"),
                                                            "det_item_fee_sumamt": "NULL"}]}),
                "INVALID_INPUT", "input.feedetail[0].det_item_fee_sumamt")
        status, body = await raw_post(his.base_url, CALL_SERVICE_PATH, twice(his.headers(), "_api_timestamp", "1"),
                                      json.dumps(his.envelope("2201", reg)).encode())
        assert status == 200 and body["output"]["outcome"] == "AUTH_HEADER_REPEATED"
        await asyncio.sleep(0.2)
        assert await row_counts(database_url, BOTH) == before
        # and the same request, well-formed, is accepted and writes
        assert (await his.call("2201", reg))["infcode"] == 0
        assert await row_counts(database_url, BOTH) != before


async def test_a_reference_load_changes_a_hospitals_interface(suite, admin):
    """The interface block is stored, cached and followed by the gateway on the next load."""
    code, admdvs = "H33060299001", "330602"
    secret = "e2e-interface-secret-0123456789abcdef"

    def doc(interface: dict) -> dict:
        return {"format": "medsettle.reference/v1", "hospitals": [{
            "code": code, "name": "接口配置测试医院", "admdvs": admdvs, "level": 2, "cross_province": False,
            "paasid": "e2e-interface-001", "secret": secret, "interface": interface}]}

    from gateway.hisclient import HisClient

    async def outcome_of(auth: str) -> str:
        async with HisClient(suite.gateway_url, fixmedins_code=code, paasid="e2e-interface-001", secret=secret,
                             admdvs=admdvs, auth=auth, msgid_style="uuid") as his:
            reply = await his.call("9001", {"signIn": {"opter_no": "op1"}})
            assert his.last_status == 200
            return "OK" if reply["infcode"] == 0 else reply["output"]["outcome"]

    async def load_and_wait(interface: dict, expected: dict[str, str]) -> None:
        """Load the block, then wait until the gateway answers each profile as expected (its cache
        reloads on the load's notification; the previous run's block may still be in force)."""
        async with admin.post("/api/v1/admin/reference", json=doc(interface)) as r:
            assert r.status == 200, await r.text()
        seen: dict[str, str] = {}
        for _ in range(100):
            seen = {auth: await outcome_of(auth) for auth in expected}
            if seen == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{interface}: {seen}, expected {expected}")

    await load_and_wait({"auth": ["tif"]}, {"api_hmac_sha1": "AUTH_PROFILE_NOT_ALLOWED", "tif": "OK"})
    await load_and_wait({"auth": ["api_hmac_sha1"], "msgid": "lenient"},
                        {"api_hmac_sha1": "OK", "tif": "AUTH_PROFILE_NOT_ALLOWED"})
    await load_and_wait({"auth": ["tif"], "msgid": "strict"}, {"tif": "INVALID_INPUT"})  # a UUID msgid, strict now
    assert hospital(BOTH)["interface"]["auth"] == ["tif", "api_hmac_sha1"]


async def test_2601_reverses_a_settlement_sent_with_a_uuid_style_msgid(suite, admin):
    """At a lenient hospital the msgid of a 2207 may be UUID-style; its 2601 names it as omsgid."""
    psn_no = await fresh_person(admin)
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": await _certno(admin, psn_no)}
    kw = {"insuplc_admdvs": "330600"}
    async with client_for(suite.gateway_url, BOTH, auth="api_hmac_sha1", **SDK) as his:
        await his.call("9001", {"signIn": {"opter_no": "op001", "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}})
        reg = ok(his, await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                                       "ipt_otp_no": "MZ-RC-2601", **cert}}, **kw))
        mdtrt_id = reg["data"]["mdtrt_id"]
        ok(his, await his.call("2204", {"feedetail": [_fee("1", mdtrt_id, psn_no, DRUG, "12.50", "4")]}, **kw))
        setl = ok(his, await his.call("2207", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390",
                                                        "med_type": "11", "medfee_sumamt": "50.00", "psn_setlway": "01",
                                                        "acct_used_flag": "0", **cert}}, **kw))["setlinfo"]
        omsgid = his.last_msgid
        rev = ok(his, await his.call("2601", {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": "2207"}}, **kw))
        assert rev["data"]["omsgid"] == omsgid
        assert Decimal(str(rev["setlinfo"]["medfee_sumamt"])) == -Decimal(str(setl["medfee_sumamt"])) == Decimal("-50.00")
