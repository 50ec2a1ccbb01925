"""Security at the gateway against the real suite, and a fuzz test: malformed envelopes and inputs
of every kind always get a well-formed failure envelope and change nothing in the database."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.hisclient import new_msgid, tif_headers
from tests.e2e.conftest import now_text, row_counts
from tests.e2e.demo import client_for, hospital, person

pytestmark = pytest.mark.e2e

SX3, SX2 = "H33060200001", "H33060200002"
FUZZ_HOSPITAL = "H15052500002"  # 奈曼旗大沁他拉镇中心卫生院: used by no other test
PATH = "/fsi/api/rsfComIfsService/callService"


READ_ONLY = {"1101", "3202"}  # transactions whose broken optional fields can still make a valid query

async def test_signature_timestamp_nonce_and_sign_in(his_factory):
    his = await his_factory(SX3, sign_in=False)
    env = his.envelope("9001", {"signIn": {"opter_no": "op001"}})
    h = his.headers()
    h["x-tif-signature"] = h["x-tif-signature"][::-1]
    status, body = await his.post(PATH, env, h)
    assert (status, body["infcode"], body["output"]["outcome"]) == (200, -1, "BAD_SIGNATURE")
    status, body = await his.post(PATH, env, his.headers(timestamp=int(time.time()) - 3600))
    assert (status, body["output"]["outcome"]) == (200, "STALE_TIMESTAMP")
    h = his.headers()
    status, body = await his.post(PATH, env, h)
    assert status == 200 and body["infcode"] == 0
    status, body = await his.post(PATH, his.envelope("9001", {"signIn": {"opter_no": "op001"}}), h)
    assert (status, body["output"]["outcome"]) == (200, "NONCE_REUSED")
    # not signed in: every transaction but 9001 is refused
    p = person("330600000000000001")
    reply = await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}}, sign_no="")
    assert reply["infcode"] == -1 and reply["output"]["outcome"] == "NOT_SIGNED_IN"


async def test_a_hospital_cannot_touch_another_hospitals_settlement(his_factory):
    a = await his_factory(SX3)
    b = await his_factory(SX2)
    p = person("330600000000000009")
    psn_no, cert = p["psn_no"], {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}
    kw = {"insuplc_admdvs": "330600"}
    reg = await a.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                         "ipt_otp_no": "MZ" + a.last_msgid[-8:], **cert}}, **kw)
    assert reg["infcode"] == 0, reg["err_msg"]
    mdtrt_id = reg["output"]["data"]["mdtrt_id"]
    # B may not add fees to, settle, or cancel A's visit
    fee = {"feedetl_sn": "S1", "mdtrt_id": mdtrt_id, "psn_no": psn_no, "fee_ocur_time": now_text(-1),
           "med_list_codg": "001102000010000", "det_item_fee_sumamt": "10.00", "cnt": "1", "pric": "10.00"}
    for infno, inp in (("2204", {"feedetail": [fee]}),
                       ("2202", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no}})):
        reply = await b.call(infno, inp, **kw)
        assert reply["infcode"] == -1 and reply["err_msg"], (infno, reply)
    # A cancels its own registration: it was untouched by B
    reply = await a.call("2202", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no}}, **kw)
    assert reply["infcode"] == 0, reply["err_msg"]
    # and B cannot read a settlement id it does not own
    reply = await b.call("5203", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id}}, **kw)
    assert reply["infcode"] == -1


async def test_healthz_and_traceparent_continue_into_the_services(suite, his_factory):
    his = await his_factory(SX3)
    async with his._session.get(suite.gateway_url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    h = his.headers()
    h["traceparent"] = f"00-{trace_id}-00f067aa0ba902b7-01"
    p = person("330600000000000001")
    status, body = await his.post(PATH, his.envelope("1101", {"data": {"mdtrt_cert_type": "02",
                                                                     "mdtrt_cert_no": p["certno"]}}), h)
    assert body["infcode"] == 0, body["err_msg"]
    for _ in range(50):
        spans = [json.loads(line) for line in suite.trace_file.read_text().splitlines() if trace_id in line]
        services = {s["service"] for s in spans}
        if {"gateway", "eligibility"} <= services:
            break
        await asyncio.sleep(0.1)
    assert {"gateway", "eligibility"} <= services, services
    assert p["certno"] not in suite.trace_file.read_text()  # certificate numbers are masked


# ----------------------------------------------------------------------------- fuzz

# Dates of the templates: today in Beijing, whatever the year (the values around them are broken).
NOW = now_text()
TODAY = NOW[:10]
MONTH_START, NEXT_YEAR = TODAY[:8] + "01", f"{int(TODAY[:4]) + 1}-01-01"

TEMPLATES = {
    "1101": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112"}},
    "2201": {"data": {"psn_no": "FUZZ0000000000001", "insutype": "390", "begntime": NOW,
                      "mdtrt_cert_type": "02", "mdtrt_cert_no": "330602196804120112", "ipt_otp_no": "MZ1"}},
    "2204": {"feedetail": [{"feedetl_sn": "1", "mdtrt_id": "NO-SUCH", "psn_no": "FUZZ0000000000001",
                            "fee_ocur_time": NOW, "med_list_codg": "001102000010000",
                            "det_item_fee_sumamt": "10.00", "cnt": "1", "pric": "10.00"}]},
    "2207": {"data": {"psn_no": "FUZZ0000000000001", "mdtrt_id": "NO-SUCH", "insutype": "390", "med_type": "11",
                      "medfee_sumamt": "10.00", "psn_setlway": "01", "mdtrt_cert_type": "02",
                      "mdtrt_cert_no": "330602196804120112"}},
    "2304": {"data": {"psn_no": "FUZZ0000000000001", "mdtrt_id": "NO-SUCH", "insutype": "390",
                      "medfee_sumamt": "10.00", "psn_setlway": "01", "mdtrt_cert_type": "02",
                      "mdtrt_cert_no": "330602196804120112"}},
    "2208": {"data": {"setl_id": "NO-SUCH", "mdtrt_id": "NO-SUCH", "psn_no": "FUZZ0000000000001"}},
    "2601": {"data": {"psn_no": "FUZZ0000000000001", "omsgid": FUZZ_HOSPITAL + TODAY.replace("-", "") + "0000009999",
                      "oinfno": "2207"}},
    "2501": {"refmedin": {"psn_no": "FUZZ0000000000001", "insutype": "390", "diag_code": "C34", "begndate":
                          MONTH_START, "enddate": NEXT_YEAR, "mdtrtarea_admdvs": "430100"}},
    "3202": {"data": {"stmt_begndate": MONTH_START, "stmt_enddate": TODAY},
             "detail": [{"setl_id": "X", "medfee_sumamt": "1.00", "fund_pay_sumamt": "1.00", "acct_pay": "0.00"}]},
}

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=40),
                 st.sampled_from(["12.345", "-1.00", "1e400", "NaN", "2026-02-30", "2026-13-01 00:00:00", "",
                                  "330602196804120113", "0" * 31, "M1", "\u0000", "💊" * 10]),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _set(obj, path, value, delete):
    for key in path[:-1]:
        obj = obj[key]
    if delete and isinstance(obj, dict):
        obj.pop(path[-1], None)
    else:
        obj[path[-1]] = value


@st.composite
def broken_requests(draw):
    """(body bytes, content type): a valid-looking envelope with one or more things broken."""
    h = hospital(FUZZ_HOSPITAL)
    kind = draw(st.sampled_from(["input", "input", "input", "envelope", "body"]))
    infno = draw(st.sampled_from(sorted(TEMPLATES)))
    env = {"infno": infno, "msgid": new_msgid(FUZZ_HOSPITAL), "mdtrtarea_admvs": h["admdvs"], "insuplc_admdvs": "150500",
           "recer_sys_code": "MDS", "infver": "V1.0", "opter_type": "1", "opter": "fuzz", "opter_name": "fuzz",
           "inf_time": NOW, "fixmedins_code": FUZZ_HOSPITAL, "fixmedins_name": h["name"],
           "sign_no": "__SIGN__", "input": json.loads(json.dumps(TEMPLATES[infno]))}
    if kind == "body":
        raw = draw(st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"null", b"[]", b"{", b'"x"', b"1e999",
                                                                      b'{"infno": NaN}', b"[" * 5000])))
        return raw, draw(st.sampled_from(["application/json", "text/plain"]))
    target = env if kind == "envelope" else env["input"]
    paths = list(_paths(target))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        _set(target, path, draw(junk), delete=draw(st.booleans()))
        paths = list(_paths(target)) or [("input",)]
    if kind == "input" and env["input"] == TEMPLATES[infno]:
        env["input"]["data"] = None
    return json.dumps(env, ensure_ascii=False).encode(), "application/json"




def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_fuzz_malformed_requests_always_get_a_failure_envelope_and_change_nothing(suite, database_url):
    h = hospital(FUZZ_HOSPITAL)

    async def sign_in():
        async with client_for(suite.gateway_url, FUZZ_HOSPITAL) as c:
            return await c.sign_in()

    sign_no = asyncio.run(sign_in())
    before = asyncio.run(row_counts(database_url, FUZZ_HOSPITAL))
    assert before, "no settlement/filing tables found"
    url = suite.gateway_url + PATH

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
    @given(broken_requests())
    def one(req):
        raw, ctype = req
        raw = raw.replace(b"__SIGN__", sign_no.encode())
        headers = tif_headers(h["paasid"], h["secret"])
        headers["Content-Type"] = ctype
        status, body = _post(url, raw, headers)
        assert status == 200, (status, body[:300])  # every failure on the HIS paths is an HTTP 200 envelope
        env = json.loads(body)
        assert env["infcode"] in (0, -1)
        if env["infcode"] == 0:
            # breaking an optional envelope field of a read-only query can leave a valid request
            assert json.loads(raw)["infno"] in READ_ONLY, (raw[:300], env)
        else:
            assert isinstance(env["err_msg"], str) and env["err_msg"].strip()
        assert len(env["inf_refmsgid"]) == 30 and "Traceback" not in env["err_msg"]

    one()
    after = asyncio.run(row_counts(database_url, FUZZ_HOSPITAL))
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    assert not changed, f"malformed requests changed the database: {changed}"
