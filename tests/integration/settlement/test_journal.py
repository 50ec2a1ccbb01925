"""The exactly-once journal: a msgid names one request of one effect. A retry of the same
request gets the stored reply; the same msgid for another effect is a conflict, even when the
two requests serialize to the same bytes (CancelVisit and UndoDischarge share a message type)."""

from __future__ import annotations

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb

from .helpers import caller, open_visit, outcome
from .reference import H_A3

pytestmark = pytest.mark.integration


async def test_the_same_msgid_and_bytes_for_another_effect_is_a_conflict_not_a_replay(stub, upstream, uid):
    psn = upstream.person(f"PJ{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn)  # admitted and discharged
    assert v.status == "discharged"
    same = pb.CancelVisitRequest(caller=caller(H_A3, "2405"), mdtrt_id=v.mdtrt_id, psn_no=psn)

    undone = await stub.UndoDischarge(same)
    assert undone.status == "open" and undone.endtime == ""
    assert await stub.UndoDischarge(same) == undone  # a retry: the stored reply, nothing done twice

    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelVisit(same)  # same msgid, same bytes, another effect
    assert outcome(e.value) == ("MSGID_CONFLICT", "msgid")
    # Nothing was cancelled: the admission is still open and can be discharged again.
    again = await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                     endtime=v.endtime))
    assert again.status == "discharged"
