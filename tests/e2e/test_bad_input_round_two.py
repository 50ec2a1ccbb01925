"""Issue #17 (bad input, round two) against the whole suite over HTTP: a lone surrogate escape,
amount formats, psn_cert_type and identity types are refused naming the field, as HTTP 200
failure envelopes on the HIS path and 4xx JSON on REST; nothing is written and nothing is logged
as an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.hisclient import CALL_SERVICE_PATH
from tests.e2e.conftest import fresh_person, now_text, row_counts
from tests.e2e.demo import client_for

pytestmark = pytest.mark.e2e

BOTH = "H33060200002"  # lenient, sign-in optional, tif and api_hmac_sha1
DRUG = "XC10AAA089A001010104327"


def _errors_logged(log_dir: str, since: dict[str, int]) -> list[str]:
    """ERROR lines and tracebacks written by any process since the offsets in `since`."""
    out = []
    for name, offset in since.items():
        p = Path(log_dir) / f"{name}.log"
        text = p.read_text(errors="replace")[offset:] if p.exists() else ""
        out += [line for line in text.splitlines() if '"level": "error"' in line.replace('":"', '": "') or "Traceback" in line]
    return out


def _log_sizes(log_dir: str) -> dict[str, int]:
    return {n: (Path(log_dir) / f"{n}.log").stat().st_size if (Path(log_dir) / f"{n}.log").exists() else 0
            for n in ("gateway", "eligibility", "filing", "settlement")}


def _refused(reply: dict, field: str, outcome: str = "INVALID_INPUT") -> None:
    assert reply["infcode"] == -1, reply
    assert reply["output"] == {"outcome": outcome, "retriable": False, "field": field}, reply
    assert f"field: {field}" in reply["err_msg"] and "Traceback" not in reply["err_msg"]


async def _raw(his, infno: str, data_json: str) -> dict:
    """An envelope whose input.data is the given JSON text (escapes kept as sent)."""
    env = json.dumps(his.envelope(infno, {"data": {}}), ensure_ascii=True)
    body = env.replace('"data": {}', f'"data": {data_json}')
    assert body != env
    status, reply = await his.post(CALL_SERVICE_PATH, body.encode())
    assert status == 200, (status, reply)
    return reply


async def test_a_lone_surrogate_is_a_named_failure_on_the_his_path_and_on_rest(suite, admin, database_url):
    psn_no = await fresh_person(admin)
    before_logs = _log_sizes(suite.log_dir)
    async with client_for(suite.gateway_url, BOTH) as his:
        await his.sign_in()
        before = await row_counts(database_url, BOTH)
        reg = (f'{{"psn_no": "{psn_no}", "insutype": "390", "begntime": "{now_text(-1)}", '
               f'"ipt_otp_no": "MZ-1", "dr_name": "\\ud800", "mdtrt_cert_type": "01", "mdtrt_cert_no": "abc"}}')
        _refused(await _raw(his, "2201", reg), "input.data.dr_name")
        _refused(await _raw(his, "1101", '{"mdtrt_cert_type": "01", "mdtrt_cert_no": "a", "psn_name": "\\udc00"}'),
                 "input.data.psn_name")
        assert await row_counts(database_url, BOTH) == before
    body = json.dumps({"psn_no": psn_no, "pool": "330600", "insutype": "390", "year": 2000, "psn_type": "resident",
                       "name": "\ud800"}, ensure_ascii=True).encode()
    async with admin.post("/api/v1/admin/enrollments", data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400, await r.text()
        assert (await r.json())["error"]["field"] == "name"
    assert _errors_logged(suite.log_dir, before_logs) == []


async def test_amounts_psn_cert_type_and_identity_types_are_validated(suite, admin, database_url):
    psn_no = await fresh_person(admin)
    async with client_for(suite.gateway_url, BOTH) as his:
        await his.sign_in()
        before = await row_counts(database_url, BOTH)
        for amount in ("１２.００", "1E2"):
            fee = {"feedetl_sn": "S1", "mdtrt_id": "M-none", "psn_no": psn_no, "chrg_bchno": "B1",
                   "fee_ocur_time": now_text(-1), "med_list_codg": DRUG, "det_item_fee_sumamt": amount,
                   "cnt": "1", "pric": "12.00"}
            reply = await his.call("2204", {"feedetail": [fee]})
            _refused(reply, "input.feedetail[0].det_item_fee_sumamt")
        reply = await his.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": "abc",
                                                 "psn_cert_type": "77"}})
        _refused(reply, "input.data.psn_cert_type")
        assert await row_counts(database_url, BOTH) == before
    async with admin.post("/api/v1/admin/identities", json={"psn_no": psn_no, "type": "vip", "begin": "2020-01-01"}) as r:
        assert r.status == 400, await r.text()
        assert (await r.json())["error"]["field"] == "type"
    async with admin.post("/api/v1/admin/identities", json={"psn_no": psn_no, "type": "tekun",
                                                            "begin": "2020-01-01"}) as r:
        assert r.status in (200, 201), await r.text()


async def test_a_header_or_url_over_8_kb_is_a_failure_envelope_not_a_text_400(suite):
    import aiohttp

    big = "x" * 9000
    async with client_for(suite.gateway_url, BOTH) as his, aiohttp.ClientSession() as s:
        env = json.dumps(his.envelope("9001", {"signIn": {"opter_no": "op001"}})).encode()
        headers = {**his.headers(), "x-trace-note": big}
        async with s.post(suite.gateway_url + CALL_SERVICE_PATH, data=env, headers=headers) as r:
            assert r.status == 200 and r.content_type == "application/json", (r.status, await r.text())
            reply = await r.json()
        assert reply["infcode"] == -1 and reply["output"] == {"outcome": "HEADER_TOO_LARGE", "retriable": False,
                                                              "field": "x-trace-note"}, reply
        assert big not in json.dumps(reply)
        async with s.post(suite.gateway_url + CALL_SERVICE_PATH + "?q=" + big, data=env, headers=his.headers()) as r:
            assert r.status == 200 and r.content_type == "application/json", (r.status, await r.text())
            assert (await r.json())["output"]["outcome"] == "URL_TOO_LONG"
        async with s.get(suite.gateway_url + "/api/v1/openapi.json", headers={"x-note": big}) as r:
            assert r.status == 431 and (await r.json())["error"]["code"] == "HEADER_TOO_LARGE"
