"""The exactly-once journal: a msgid names one request of one effect. A retry of the same
request gets the stored reply, marked replayed (every mutating reply); the same msgid for
another effect is a conflict, even when the two requests serialize to the same bytes
(CancelVisit and UndoDischarge share a message type)."""

from __future__ import annotations

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from tests.dates import day as day_of

from .helpers import caller, fee, free_month, open_visit, outcome, settle_request
from .reference import H_A3

pytestmark = pytest.mark.integration


async def test_the_same_msgid_and_bytes_for_another_effect_is_a_conflict_not_a_replay(stub, upstream, uid):
    psn = upstream.person(f"PJ{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn)  # admitted and discharged
    assert v.status == "discharged"
    same = pb.CancelVisitRequest(caller=caller(H_A3, "2405"), mdtrt_id=v.mdtrt_id, psn_no=psn)

    undone = await stub.UndoDischarge(same)
    assert undone.status == "open" and undone.endtime == ""
    assert not undone.replayed
    again = await stub.UndoDischarge(same)  # a retry: the stored reply, nothing done twice
    assert again.replayed
    again.replayed = False
    assert again == undone

    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelVisit(same)  # same msgid, same bytes, another effect
    assert outcome(e.value) == ("MSGID_CONFLICT", "msgid")
    # Nothing was cancelled: the admission is still open and can be discharged again.
    again = await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                     endtime=v.endtime))
    assert again.status == "discharged"


async def test_every_mutating_reply_says_replayed_on_a_retry_and_only_then(stub, upstream, clock, db_pool, uid):
    """Each journaled call once, then again with the same msgid and body: the second answer is
    the first one marked replayed (nothing done twice), for every mutating RPC, not only 2207."""
    day = await free_month(db_pool)
    clock.set(day)
    psn = upstream.person(f"PW{uid}")

    async def twice(rpc, request):
        first = await rpc(request)
        again = await rpc(request)
        assert not first.replayed and again.replayed, rpc
        again.replayed = False
        if isinstance(again, pb.ReverseResponse) and again.HasField("settlement"):
            assert again.settlement.replayed and not first.settlement.replayed
            again.settlement.replayed = False
        assert again == first, rpc
        return first

    begin = day_of("05-10 09:00:00")  # this year's policy; the settlements are booked in the free month
    v = await twice(stub.Register, pb.RegisterRequest(caller=caller(H_A3, "2401"), psn_no=psn, insutype="390",
                                                       kind="inpatient", med_type="21", begntime=begin))
    await twice(stub.RecordDiagnosis, pb.RecordDiagnosisRequest(caller=caller(H_A3, "2203"), mdtrt_id=v.mdtrt_id,
                                                                psn_no=psn, med_type="21", dise_codg="I10"))
    up = await twice(stub.UploadFees, pb.UploadFeesRequest(caller=caller(H_A3, "2301"), mdtrt_id=v.mdtrt_id,
                                                           psn_no=psn, feedetail=[fee("1", "DIAL", "1", 100_000),
                                                                                  fee("2", "BED", "1", 6_000)]))
    assert [r.feedetl_sn for r in up.result] == ["1", "2"]
    cancel_fee = pb.CancelFeesRequest(caller=caller(H_A3, "2302"), mdtrt_id=v.mdtrt_id, psn_no=psn, feedetl_sn="2")
    cut = await twice(stub.CancelFees, cancel_fee)
    assert [r.feedetl_sn for r in cut.result] == ["2"]
    endtime = day_of("05-15 10:00:00")
    await twice(stub.Discharge, pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                    endtime=endtime))
    await twice(stub.UndoDischarge, pb.CancelVisitRequest(caller=caller(H_A3, "2405"), mdtrt_id=v.mdtrt_id,
                                                          psn_no=psn))
    await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=endtime))
    s = await twice(stub.Settle, settle_request(H_A3, v, 100_000))
    c = await twice(stub.CancelSettlement, pb.CancelSettlementRequest(caller=caller(H_A3, "2305"),
                                                                      setl_id=s.setlinfo.setl_id))
    assert c.setlinfo.reverses_setl_id == s.setlinfo.setl_id
    again = await stub.Settle(settle_request(H_A3, v, 100_000))
    rv = await twice(stub.Reverse, pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn,
                                                     omsgid=again.setlinfo.msgid, oinfno="2304"))
    assert rv.settlement.setlinfo.reverses_setl_id == again.setlinfo.setl_id
    undone = await twice(stub.Reverse, pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn,
                                                         omsgid=cancel_fee.caller.msgid, oinfno="2302"))
    assert not undone.HasField("settlement") and "fee cancellation undone" in undone.result
    await twice(stub.ApplyClearing, pb.ApplyClearingRequest(caller=caller(H_A3, "3203"), clr_type="21",
                                                            setlym=f"{day:%Y%m}", psntime=0))
    await twice(stub.CancelVisit, pb.CancelVisitRequest(caller=caller(H_A3, "2404"), mdtrt_id=v.mdtrt_id, psn_no=psn))
