"""Mobile payment (scan-to-pay, 6201..6401) end to end: signed HIS calls over HTTP against the whole
suite (real processes), the simulated provider chosen by the order total's fen digits
(docs/MOBILE_PAYMENT.md), the settlement checked through 5203 and in the settlement tables."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import grpc
import pytest

from medsettle.eligibility.v1 import eligibility_pb2 as epb
from medsettle.eligibility.v1 import eligibility_pb2_grpc
from tests.e2e.conftest import beijing_now, fresh_person, now_text, row_counts

pytestmark = pytest.mark.e2e

SX3 = "H33060200001"          # 绍兴市人民医院
XJ3 = "H65010200001"          # another hospital
DRUG = "XC10AAA089A001010104327"
KW = {"insuplc_admdvs": "330600"}


def ok(reply: dict) -> dict:
    assert reply["infcode"] == 0, reply["err_msg"]
    return reply["output"]


def refused(reply: dict, field_tail: str) -> dict:
    assert reply["infcode"] != 0, reply
    assert reply["output"]["field"].endswith(field_tail), reply
    assert field_tail.split(".")[-1] in reply["err_msg"]
    return reply


async def _certno(admin, psn_no: str) -> str:
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        return (await r.json())["baseinfo"]["certno"]


async def _ec_token(suite, psn_no: str) -> str:
    async with grpc.aio.insecure_channel(suite.settings.eligibility_addr) as ch:
        ev = await eligibility_pb2_grpc.EligibilityServiceStub(ch).IssueEvoucher(
            epb.IssueEvoucherRequest(psn_no=psn_no), timeout=5)
        return ev.token


async def _visit(his, admin, suite) -> tuple[str, str, str, str]:
    """(psn_no, certno, mdtrt_id, ec_token): a fresh resident registered by 2201 at SX3."""
    psn_no = await fresh_person(admin)
    certno = await _certno(admin, psn_no)
    reg = ok(await his.call("2201", {"data": {
        "psn_no": psn_no, "insutype": "390", "begntime": now_text(-1), "ipt_otp_no": "MZ" + his.last_msgid[-10:],
        "dept_code": "A01", "dept_name": "内科", "mdtrt_cert_type": "02", "mdtrt_cert_no": certno}}, **KW))["data"]
    return psn_no, certno, reg["mdtrt_id"], await _ec_token(suite, psn_no)


def _order_input(psn_no: str, certno: str, mdtrt_id: str, token: str, total: str, *, sn: str = "F1",
                 med_org_ord: str = "ORD1") -> dict:
    return {"data": {
        "orgCodg": SX3, "psnNo": psn_no, "insutype": "390", "medOrgOrd": med_org_ord, "begntime": now_text(-1),
        "idNo": certno, "userName": "测试", "idType": "01", "ecToken": token, "iptOtpNo": "MZ" + sn,
        "deptCode": "A01", "deptName": "内科", "caty": "A01", "mdtrtId": mdtrt_id, "medType": "11", "feeType": "01",
        "medfeeSumamt": total, "acctUsedFlag": "0", "psnSetlway": "01", "chrgBchno": "B" + sn,
        "diseCodg": "J06.900", "extData": {},
        "diseinfoList": [{"diagType": "1", "diagSrtNo": 1, "diagCode": "J06.900", "diagName": "上感"}],
        "feedetailList": [{"feedetlSn": sn, "mdtrtId": mdtrt_id, "psnNo": psn_no, "chrgBchno": "B" + sn,
                           "feeOcurTime": now_text(-1), "medListCodg": DRUG, "medinsListCodg": "HOSP-1",
                           "detItemFeeSumamt": total, "cnt": "1", "pric": total}]}}


async def _settlements(suite, mdtrt_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(suite.database_url)
    try:
        return await conn.fetch("SELECT setl_id, status, reverses_setl_id, medfee_sumamt, msgid FROM "
                                "settlement.settlements WHERE mdtrt_id = $1 ORDER BY setl_time, setl_id", mdtrt_id)
    finally:
        await conn.close()


async def _sim_charge(suite, pay_ord_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(suite.database_url)
    try:
        return await conn.fetch("SELECT idem_key, amount_fen, outcome, refunded_fen FROM portal.sim_charges "
                                "WHERE idem_key LIKE $1 || '.%'", pay_ord_id)
    finally:
        await conn.close()


def _query(order: dict) -> dict:
    return {"data": {"payOrdId": order["payOrdId"], "payToken": order["payToken"], "orgCodg": SX3}}


def _pay(order: dict, mdtrt_id: str) -> dict:
    return {"data": {"payOrdId": order["payOrdId"], "payToken": order["payToken"], "orgCodg": SX3,
                     "orgBizSer": "BIZ" + order["payOrdId"][-8:], "mdtrtId": mdtrt_id}}


async def test_pay_order_settles_once_then_refund_reverses_both(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "350.00"), **KW))
    assert created["payOrdId"] and len(created["payToken"]) >= 32
    assert created["cashierUrl"].endswith(f"/m/orders/{created['payOrdId']}")
    ext = created["extData"]
    assert ext["feeSumamt"] == Decimal("350.00")
    assert ext["fundPay"] + ext["psnAcctPay"] + ext["ownPayAmt"] == Decimal("350.00")
    # before paying: 1 预结算完成, nothing settled
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] == "1"
    assert await _settlements(suite, mdtrt_id) == []

    paid = ok(await his.call("6202", _pay(created, mdtrt_id), **KW))
    assert paid["ordStas"] == "6", paid
    setl_id = paid["extData"]["setlId"]
    assert setl_id
    for k in ("feeSumamt", "ownPayAmt", "psnAcctPay", "fundPay"):
        assert paid[k] == ext[k], k  # what the phone showed is what was settled
    q = ok(await his.call("6301", _query(created), **KW))
    assert q["ordStas"] == "6" and q["extData"]["setlId"] == setl_id and q["fundPay"] == ext["fundPay"]
    assert q["orgName"] and q["medOrgOrd"] == "ORD1"
    s = ok(await his.call("5203", {"data": {"psn_no": psn_no, "setl_id": setl_id, "mdtrt_id": mdtrt_id}}, **KW))
    assert s["setlinfo"]["fund_pay_sumamt"] == ext["fundPay"] and s["setlinfo"]["psn_cash_pay"] == ext["ownPayAmt"]
    assert s["setlinfo"]["medfee_sumamt"] == Decimal("350.00")

    # a second 6202 and two concurrent ones replay: still one settlement, one charge
    again = await asyncio.gather(*(his.call("6202", _pay(created, mdtrt_id), **KW) for _ in range(3)))
    assert {ok(r)["extData"]["setlId"] for r in again} == {setl_id}
    rows = await _settlements(suite, mdtrt_id)
    assert [r["setl_id"] for r in rows] == [setl_id]
    charges = await _sim_charge(suite, created["payOrdId"])
    assert len(charges) == 1 and charges[0]["amount_fen"] == int(ext["ownPayAmt"] * 100)

    # a retried 6201 (same msgid, same body) returns the same order
    # 6203: refund reverses the settlement (a reversal row, the original kept) and refunds the cash
    now = beijing_now().strftime("%Y%m%d%H%M%S")
    refund_in = {"data": {"payOrdId": created["payOrdId"], "appRefdSn": "R1", "appRefdTime": now,
                          "totlRefdAmt": "350.00", "cashRefdAmt": str(ext["ownPayAmt"]), "ecToken": token,
                          "refdType": "ALL"}}
    refunded = ok(await his.call("6203", refund_in, **KW))
    assert refunded["refStatus"] == "SUCC" and refunded["hiFefdSn"]
    rows = await _settlements(suite, mdtrt_id)
    assert {r["status"] for r in rows} == {"cancelled", "reversal"} and len(rows) == 2
    reversal = next(r for r in rows if r["status"] == "reversal")
    assert reversal["reverses_setl_id"] == setl_id and reversal["medfee_sumamt"] == -35000
    charges = await _sim_charge(suite, created["payOrdId"])
    assert charges[0]["refunded_fen"] == charges[0]["amount_fen"]
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] == "7"
    # a refund again replays; paying a refunded order settles nothing
    assert ok(await his.call("6203", refund_in, **KW))["refStatus"] == "SUCC"
    assert ok(await his.call("6202", _pay(created, mdtrt_id), **KW))["ordStas"] == "7"
    assert len(await _settlements(suite, mdtrt_id)) == 2


async def test_retried_6201_returns_the_same_order(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    body = _order_input(psn_no, certno, mdtrt_id, token, "120.00")
    first = ok(await his.call("6201", body, **KW))
    msgid = his.last_msgid
    second = ok(await his.call("6201", body, msgid=msgid, **KW))
    assert (second["payOrdId"], second["payToken"]) == (first["payOrdId"], first["payToken"])
    assert second["extData"]["replayed"] is True
    other = _order_input(psn_no, certno, mdtrt_id, token, "120.00", med_org_ord="ORD2")
    refused(await his.call("6201", other, msgid=msgid, **KW), "msgid")


async def test_declined_payment_settles_nothing_and_may_be_cancelled(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "88.01"), **KW))
    if created["extData"]["ownPayAmt"] == 0:
        pytest.skip("the funds paid everything: nothing for the provider to decline")
    declined = ok(await his.call("6202", _pay(created, mdtrt_id), **KW))
    assert declined["ordStas"] == "15" and "declined" in declined["extData"]["message"]
    assert await _settlements(suite, mdtrt_id) == []
    # an unpaid (failed) order may be cancelled with 6401; then it cannot be paid
    cancel = ok(await his.call("6401", _query(created), **KW))
    assert cancel["success"] is True and cancel["extData"]["ordStas"] == "12"
    assert ok(await his.call("6202", _pay(created, mdtrt_id), **KW))["ordStas"] == "12"
    assert await _settlements(suite, mdtrt_id) == []


async def test_timeout_is_pending_then_resolved_once(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "66.02"), **KW))
    if created["extData"]["ownPayAmt"] == 0:
        pytest.skip("the funds paid everything: nothing for the provider to time out on")
    pending = ok(await his.call("6202", _pay(created, mdtrt_id), **KW))
    assert pending["ordStas"] == "2" and pending["extData"]["state"] == "pay_pending"
    assert await _settlements(suite, mdtrt_id) == []
    # the query asks the provider (the charge went through after all) and books the settlement once
    results = await asyncio.gather(*(his.call("6301", _query(created), **KW) for _ in range(3)))
    assert all(ok(r)["ordStas"] in ("2", "3", "6") for r in results)
    final = ok(await his.call("6301", _query(created), **KW))
    assert final["ordStas"] == "6" and final["extData"]["setlId"]
    assert len(await _settlements(suite, mdtrt_id)) == 1
    assert len(await _sim_charge(suite, created["payOrdId"])) == 1


async def test_cancel_unpaid_order_with_6401(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "40.00"), **KW))
    assert ok(await his.call("6401", _query(created), **KW))["success"] is True
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] == "12"
    assert ok(await his.call("6401", _query(created), **KW))["success"] is True  # again: the same answer
    assert ok(await his.call("6202", _pay(created, mdtrt_id), **KW))["ordStas"] == "12"
    assert await _settlements(suite, mdtrt_id) == []


async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(his_factory, admin, suite):
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "50.00"), **KW))
    before = await row_counts(suite.database_url, SX3)
    orders_before = await _count_orders(suite)

    # unknown payOrdId; wrong payToken; the visit of another order
    refused(await his.call("6301", {"data": {**_query(created)["data"], "payOrdId": "MNOSUCHORDER"}}, **KW),
            "payOrdId")
    refused(await his.call("6202", {"data": {**_pay(created, mdtrt_id)["data"], "payToken": "0" * 40}}, **KW),
            "payToken")
    refused(await his.call("6202", {"data": {**_pay(created, mdtrt_id)["data"], "mdtrtId": "NOTTHEVISIT"}}, **KW),
            "mdtrtId")
    # a refund of an unpaid order; a partial refund type
    now = beijing_now().strftime("%Y%m%d%H%M%S")
    refund_in = {"data": {"payOrdId": created["payOrdId"], "appRefdSn": "R1", "appRefdTime": now,
                          "totlRefdAmt": "50.00", "cashRefdAmt": str(created["extData"]["ownPayAmt"]),
                          "ecToken": token, "refdType": "ALL"}}
    refused(await his.call("6203", refund_in, **KW), "payOrdId")
    refused(await his.call("6203", {"data": {**refund_in["data"], "refdType": "CASH"}}, **KW), "refdType")
    # an order for a psnNo that is not the visit's person
    other = await fresh_person(admin)
    bad = _order_input(other, certno, mdtrt_id, token, "50.00", sn="F9")
    for row in bad["data"]["feedetailList"]:
        row["psnNo"] = other
    assert refused(await his.call("6201", bad, **KW), "input.data.psnNo")["output"]["outcome"] == "PSN_MISMATCH"
    # a missing field, a bad amount in a fee row (named in camelCase)
    no_psn = _order_input(psn_no, certno, mdtrt_id, token, "50.00", sn="F8")
    del no_psn["data"]["psnNo"]
    refused(await his.call("6201", no_psn, **KW), "psnNo")
    bad_amount = _order_input(psn_no, certno, mdtrt_id, token, "50.00", sn="F7")
    bad_amount["data"]["feedetailList"][0]["detItemFeeSumamt"] = "abc"
    refused(await his.call("6201", bad_amount, **KW), "feedetailList[0].detItemFeeSumamt")
    assert await row_counts(suite.database_url, SX3) == before
    assert await _count_orders(suite) == orders_before

    # another hospital cannot see or pay this order: not found, nothing revealed
    xj = await his_factory(XJ3)
    r = await xj.call("6301", {"data": {**_query(created)["data"], "orgCodg": XJ3}}, insuplc_admdvs="650100")
    refused(r, "payOrdId")
    r = await xj.call("6202", {"data": {**_pay(created, mdtrt_id)["data"], "orgCodg": XJ3}}, insuplc_admdvs="650100")
    refused(r, "payOrdId")
    assert ok(await his.call("6301", _query(created), **KW))["ordStas"] == "1"
    assert await _settlements(suite, mdtrt_id) == []


async def _count_orders(suite) -> int:
    conn = await asyncpg.connect(suite.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM portal.pay_orders")
    finally:
        await conn.close()


async def test_settlement_refused_after_the_charge_refunds_it(his_factory, admin, suite):
    """The visit's bill changes between 6201 and payment (another 2204 item): Settle refuses the
    order's total, so the charge is refunded and the order fails with the reason; nothing settled."""
    his = await his_factory(SX3)
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, "150.00"), **KW))
    if created["extData"]["ownPayAmt"] == 0:
        pytest.skip("the funds paid everything: no charge to refund")
    ok(await his.call("2204", {"feedetail": [{
        "feedetl_sn": "EXTRA1", "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "BX", "fee_ocur_time": now_text(-1),
        "med_list_codg": DRUG, "medins_list_codg": "HOSP-1", "det_item_fee_sumamt": "10.00", "cnt": "1",
        "pric": "10.00"}]}, **KW))
    failed = ok(await his.call("6202", _pay(created, mdtrt_id), **KW))
    assert failed["ordStas"] == "15" and failed["extData"]["state"] == "failed"
    assert "refund" in failed["extData"]["message"]
    assert await _settlements(suite, mdtrt_id) == []
    charges = await _sim_charge(suite, created["payOrdId"])
    assert len(charges) == 1 and charges[0]["refunded_fen"] == charges[0]["amount_fen"] > 0
