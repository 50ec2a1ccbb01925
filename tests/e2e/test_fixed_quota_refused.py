"""psn_setlway 02 (按定额结算, fixed quota) is refused by name on every transaction that reads it
(2206, 2207, 2303, 2304, 6201), not retriable, nothing written (issue #17): no pool's policy
defines fixed quotas (DOMAIN.md §5: hosp_part_amt = 0 always), and settling such a request by
item behind the HIS's back would tell the HIS a split it did not ask for. Over HTTP against the
whole suite; the settlement service refuses it too for a gRPC caller."""

from __future__ import annotations

import grpc
import pytest

from medsettle.common.v1 import common_pb2
from medsettle.settlement.v1 import settlement_pb2 as spb
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common.grpcutil import outcome_of
from tests.e2e.conftest import row_counts
from tests.e2e.test_his_impersonation import (
    KW,
    H,
    admission,
    fee,
    id_cert,
    ok,
    outpatient,
    person,
    settle_data,
)
from tests.e2e.test_mobile_payment import SX3, _ec_token, _order_input

pytestmark = pytest.mark.e2e


def quota(body: dict) -> dict:
    return {"data": {**body["data"], "psn_setlway": "02"}}


def refused_setlway(reply: dict, field: str) -> None:
    assert reply["infcode"] == -1, reply
    assert reply["output"] == {"outcome": "SETLWAY_UNSUPPORTED", "retriable": False, "field": field}, reply
    assert "psn_setlway 02" in reply["err_msg"] and "[SETLWAY_UNSUPPORTED]" in reply["err_msg"], reply["err_msg"]


async def test_psn_setlway_02_is_refused_by_name_at_2206_2207_2303_2304_and_6201(suite, admin, his_factory):
    his = await his_factory(H)
    b = await person(suite, admin)
    psn, cert = b["psn_no"], id_cert(b)
    out_id = ok(await his.call("2201", outpatient(psn, cert, his.new_msgid()[-10:]), **KW))["data"]["mdtrt_id"]
    ok(await his.call("2204", {"feedetail": [fee("O1", out_id, psn)]}, **KW))
    adm_id = ok(await his.call("2401", admission(psn, cert, his.new_msgid()[-10:]), **KW))["result"]["mdtrt_id"]
    ok(await his.call("2301", {"feedetail": [fee("I1", adm_id, psn)]}, **KW))
    before = await row_counts(suite.database_url, H)
    for infno, mdtrt_id, inpatient in (("2206", out_id, False), ("2207", out_id, False),
                                       ("2303", adm_id, True), ("2304", adm_id, True)):
        reply = await his.call(infno, quota(settle_data(psn, mdtrt_id, cert, inpatient=inpatient)), **KW)
        refused_setlway(reply, "input.data.psn_setlway")
    assert await row_counts(suite.database_url, H) == before, "a refused settlement writes nothing"
    # 01 still settles, the same visit.
    s = ok(await his.call("2207", settle_data(psn, out_id, cert), **KW))["setlinfo"]
    assert s["mdtrt_id"] == out_id and s["hosp_part_amt"] == 0

    # 6201 (scan-to-pay): refused before it registers, uploads or pre-settles anything.
    pay = await his_factory(SX3)
    token = await _ec_token(suite, psn)
    body = _order_input(psn, b["certno"], "", token, "25.00", sn="Q1")
    body["data"]["psnSetlway"] = "02"
    before = await row_counts(suite.database_url, SX3)
    refused_setlway(await pay.call("6201", body, **KW), "input.data.psnSetlway")
    assert await row_counts(suite.database_url, SX3) == before

    # A gRPC caller of the settlement service gets the same refusal.
    ch = grpc.aio.insecure_channel(suite.settings.settlement_addr)
    try:
        stub = settlement_pb2_grpc.SettlementServiceStub(ch)
        req = spb.SettleRequest(caller=common_pb2.Caller(fixmedins_code=H, msgid=his.new_msgid(), infno="2207"),
                                mdtrt_id=out_id, psn_no=psn, insutype="390", medfee_sumamt_fen=2_500,
                                psn_setlway="02")
        with pytest.raises(grpc.RpcError) as e:
            await stub.PreSettle(req, timeout=5)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert outcome_of(e.value) == ("SETLWAY_UNSUPPORTED", "psn_setlway")
    finally:
        await ch.close()
