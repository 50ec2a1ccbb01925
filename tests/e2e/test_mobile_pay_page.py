"""Scan-to-pay on the patient's phone in real Chromium (390x844) against the whole suite as real
processes. The whole flow of issue #16 in one test: real-name sign-up with the code from the dev SMS
outbox, the e-voucher QR (the test reads its token, as the hospital's scanner would), the hospital's
1101 and 2201 with that token, its 6201 order, the patient paying on the page and the receipt with the
split, the hospital's 6301, the patient's own settlements page, and the hospital's 6203 refund. Then a
declined payment (settles nothing, may retry), a timed-out one resolved on reload, another person's
order ("not found"), no session (the login page) and a cross-site POST (refused, pays nothing).

Screenshots of the pay pages go to docs/screenshots/m-pay-*.png when MEDSETTLE_SCREENSHOTS=1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gateway.mobilepay import portal_api
from services.common.clock import Clock
from tests.e2e.test_mobile_payment import DRUG, KW, SX3, _query, _settlements, _sim_charge, ok
from tests.e2e.test_portal import patient, shot, signup

pytestmark = pytest.mark.e2e


def _now(minutes: int = 0) -> str:
    return (Clock().now() + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def _amount(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("¥"))


async def _qr_token(page) -> str:
    await page.goto("/m/evoucher")
    token = await page.get_attribute("#qr", "data-token")
    assert token
    return token


def _order_input(p: dict, mdtrt_id: str, token: str, total: str, sn: str) -> dict:
    return {"data": {
        "orgCodg": SX3, "psnNo": p["psn_no"], "insutype": "390", "medOrgOrd": "ORD" + sn, "begntime": _now(-60),
        "idNo": p["certno"], "userName": p["name"], "idType": "01", "ecToken": token, "iptOtpNo": "MZ" + sn,
        "deptCode": "A01", "deptName": "内科", "caty": "A01", "mdtrtId": mdtrt_id, "medType": "11", "feeType": "01",
        "medfeeSumamt": total, "acctUsedFlag": "0", "psnSetlway": "01", "chrgBchno": "B" + sn,
        "diseCodg": "J06.900", "extData": {},
        "diseinfoList": [{"diagType": "1", "diagSrtNo": 1, "diagCode": "J06.900", "diagName": "上感"}],
        "feedetailList": [{"feedetlSn": "F" + sn, "mdtrtId": mdtrt_id, "psnNo": p["psn_no"], "chrgBchno": "B" + sn,
                           "feeOcurTime": _now(-30), "medListCodg": DRUG, "medinsListCodg": "HOSP-1",
                           "detItemFeeSumamt": total, "cnt": "1", "pric": total}]}}


async def _scanned_visit(page, suite, db_pool, his, *, sign_up: bool = True) -> tuple[dict, str, str]:
    """A new patient signs up on the phone and shows the QR; the hospital scans it (1101) and
    registers the visit (2201) with the same token. Returns (person, mdtrt_id, token)."""
    p = await patient(db_pool)
    if sign_up:
        await signup(page, suite, p)
    token = await _qr_token(page)
    info = ok(await his.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token,
                                               "begntime": _now()}}))
    assert info["baseinfo"]["psn_no"] == p["psn_no"]
    reg = ok(await his.call("2201", {"data": {
        "psn_no": p["psn_no"], "insutype": "390", "begntime": _now(-60), "ipt_otp_no": "MZ" + his.last_msgid[-10:],
        "dept_code": "A01", "dept_name": "内科", "mdtrt_cert_type": "01", "mdtrt_cert_no": token}}, **KW))["data"]
    return p, reg["mdtrt_id"], token


async def _open_order(page, suite, created: dict):
    path = "/m/" + created["cashierUrl"].split("/m/", 1)[1]
    return await page.goto(path)


async def test_the_whole_phone_flow_signup_qr_scan_order_pay_receipt_query_records_refund(
        page, suite, db_pool, his_factory, tmp_path):
    his = await his_factory(SX3)
    p, mdtrt_id, token = await _scanned_visit(page, suite, db_pool, his)

    created = ok(await his.call("6201", _order_input(p, mdtrt_id, token, "350.00", "P1"), **KW))
    ext = created["extData"]
    assert ext["fundPay"] + ext["psnAcctPay"] + ext["ownPayAmt"] == Decimal("350.00")
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] == "1"

    await _open_order(page, suite, created)
    assert _amount(await page.inner_text("#medfee")) == Decimal("350.00")
    assert _amount(await page.inner_text("#fund")) == ext["fundPay"]
    assert _amount(await page.inner_text("#acct")) == ext["psnAcctPay"]
    assert _amount(await page.inner_text("#cash")) == ext["ownPayAmt"]
    assert await page.get_attribute("#state", "data-state") == "payable"
    assert await _settlements(suite, mdtrt_id) == []
    await shot(page, "pay-order", tmp_path)

    await page.click("#pay")
    await page.wait_for_selector("#receipt")
    assert await page.get_attribute("#state", "data-state") == "paid"
    setl_id = (await page.inner_text("#setl-id")).strip()
    assert _amount(await page.inner_text("#fund")) == ext["fundPay"]
    assert _amount(await page.inner_text("#cash")) == ext["ownPayAmt"]
    await shot(page, "pay-receipt", tmp_path)
    rows = await _settlements(suite, mdtrt_id)
    assert [r["setl_id"] for r in rows] == [setl_id]
    charges = await _sim_charge(suite, created["payOrdId"])
    assert len(charges) == 1 and charges[0]["amount_fen"] == int(ext["ownPayAmt"] * 100)

    # the hospital asks for the result: paid, the same split
    q = ok(await his.call("6301", _query(created), **KW))
    assert q["ordStas"] == "6" and q["extData"]["setlId"] == setl_id
    assert q["fundPay"] == ext["fundPay"] and q["ownPayAmt"] == ext["ownPayAmt"]

    # the patient's own records list it, with its split
    await page.goto("/m/settlements")
    assert await page.locator(f'a[data-setl="{setl_id}"]').count() == 1
    await page.goto(f"/m/settlements/{setl_id}")
    assert Decimal(await page.inner_text("#fund")) == ext["fundPay"]

    # the hospital refunds: a reversal row (the original kept), the cash refunded, the page says so
    refund_in = {"data": {"payOrdId": created["payOrdId"], "appRefdSn": "R1",
                          "appRefdTime": Clock().now().strftime("%Y%m%d%H%M%S"), "totlRefdAmt": "350.00",
                          "cashRefdAmt": str(ext["ownPayAmt"]), "ecToken": token, "refdType": "ALL"}}
    assert ok(await his.call("6203", refund_in, **KW))["refStatus"] == "SUCC"
    rows = await _settlements(suite, mdtrt_id)
    assert sorted(r["status"] for r in rows) == ["cancelled", "reversal"]
    charges = await _sim_charge(suite, created["payOrdId"])
    assert charges[0]["refunded_fen"] == charges[0]["amount_fen"]
    await _open_order(page, suite, created)
    assert await page.get_attribute("#state", "data-state") == "refunded"
    await shot(page, "pay-refunded", tmp_path)


async def test_declined_then_retry_and_timeout_resolved_by_the_page(page, suite, db_pool, his_factory, tmp_path):
    his = await his_factory(SX3)
    p, mdtrt_id, token = await _scanned_visit(page, suite, db_pool, his)
    created = ok(await his.call("6201", _order_input(p, mdtrt_id, token, "88.01", "D1"), **KW))
    await _open_order(page, suite, created)
    await page.click("#pay")
    await page.wait_for_selector("#state[data-state=failed]")
    assert "declined" in await page.inner_text("#state")
    assert "重新支付" in await page.inner_text("#pay")  # may retry
    await shot(page, "pay-declined", tmp_path)
    assert await _settlements(suite, mdtrt_id) == []
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] != "6"

    # the same patient, a second visit at the same hospital: the charge times out, then went through
    token = await _qr_token(page)
    ok(await his.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token, "begntime": _now()}}))
    reg = ok(await his.call("2201", {"data": {
        "psn_no": p["psn_no"], "insutype": "390", "begntime": _now(-20), "ipt_otp_no": "MZ" + his.last_msgid[-10:],
        "dept_code": "A01", "dept_name": "内科", "mdtrt_cert_type": "01", "mdtrt_cert_no": token}}, **KW))["data"]
    created = ok(await his.call("6201", _order_input(p, reg["mdtrt_id"], token, "66.02", "T1"), **KW))
    await _open_order(page, suite, created)
    # the confirm's charge times out (pay_pending); the page it redirects to asks the provider,
    # finds the charge went through and books the settlement: one charge, one settlement
    await page.click("#pay")
    await page.wait_for_selector("#receipt")
    await page.reload()
    assert await page.get_attribute("#state", "data-state") == "paid"
    assert len(await _settlements(suite, reg["mdtrt_id"])) == 1
    assert len(await _sim_charge(suite, created["payOrdId"])) == 1


async def test_anothers_order_no_session_and_a_forged_post_reveal_and_pay_nothing(
        page, suite, db_pool, his_factory):
    his = await his_factory(SX3)
    p, mdtrt_id, token = await _scanned_visit(page, suite, db_pool, his)
    created = ok(await his.call("6201", _order_input(p, mdtrt_id, token, "45.00", "X1"), **KW))
    order_path = f"/m/orders/{created['payOrdId']}"

    # a forged POST from the owner's own browser without the form's CSRF token: refused, nothing paid
    r = await page.request.post(suite.gateway_url + order_path + "/pay", form={portal_api.CSRF_FIELD: "forged"})
    assert r.status == 403
    assert await _settlements(suite, mdtrt_id) == []
    await page.goto(order_path)
    assert await page.get_attribute("#state", "data-state") == "payable"

    # another signed-in person: "not found", nothing of the bill shown
    await page.context.clear_cookies()
    await signup(page, suite, await patient(db_pool))
    r = await page.goto(order_path)
    assert r.status == 404 and await page.query_selector("#not-found")
    assert "45.00" not in await page.content()

    # no session at all: the login page, which comes back to the order
    await page.context.clear_cookies()
    await page.goto(order_path)
    assert "/m/login" in page.url and "next=" in page.url
    assert await _settlements(suite, mdtrt_id) == []
