"""The settlement service's person-facing reads and the certificate it forwards, through the real
servicer and PostgreSQL (eligibility answered by the stand-in, which records each snapshot's
certificate): ListPersonSettlements (the patient's own settlements, every state, newest first),
5206 answered to a hospital only for a person it treats, and the certificate of 2201/2207 passed
on the snapshot call (not for a settlement naming the e-voucher its visit was registered with)."""

from __future__ import annotations

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from tests.dates import LAST_YEAR, THIS_YEAR, day

from .helpers import caller, fee, open_visit, outcome, settle_request
from .reference import H_A1, H_A3

pytestmark = pytest.mark.integration


async def test_list_person_settlements_newest_first_with_every_state(stub, upstream, uid):
    psn = upstream.person(f"PL{uid}")
    settled = []
    for _ in range(3):
        v = await open_visit(stub, hospital=H_A1, psn_no=psn, kind="outpatient", med_type="11",
                             fees=[fee("1", "DRUG", "4", 2_500)])
        settled.append((await stub.Settle(settle_request(H_A1, v, 10_000))).setlinfo)
    rev = (await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A1, "2208"),
                                                                  setl_id=settled[0].setl_id))).setlinfo
    got = (await stub.ListPersonSettlements(pb.ListPersonSettlementsRequest(psn_no=psn))).settlements
    ids = [s.setlinfo.setl_id for s in got]
    assert ids == [rev.setl_id, settled[2].setl_id, settled[1].setl_id, settled[0].setl_id]
    states = {s.setlinfo.setl_id: s.setlinfo.status for s in got}
    assert states == {rev.setl_id: "reversal", settled[2].setl_id: "settled", settled[1].setl_id: "settled",
                      settled[0].setl_id: "cancelled"}
    assert got[0].setlinfo.reverses_setl_id == settled[0].setl_id
    first = got[1]
    assert first.setldetail and sum(d.fund_payamt_fen for d in first.setldetail) == first.setlinfo.fund_pay_sumamt_fen
    assert first.explanation
    two = (await stub.ListPersonSettlements(pb.ListPersonSettlementsRequest(psn_no=psn, year=THIS_YEAR,
                                                                            limit=2))).settlements
    assert [s.setlinfo.setl_id for s in two] == ids[:2]
    assert not (await stub.ListPersonSettlements(pb.ListPersonSettlementsRequest(psn_no=psn,
                                                                                 year=LAST_YEAR))).settlements
    with pytest.raises(grpc.RpcError) as e:
        await stub.ListPersonSettlements(pb.ListPersonSettlementsRequest(psn_no=psn, limit=-1))
    assert outcome(e.value) == ("INVALID_LIMIT", "limit")
    with pytest.raises(grpc.RpcError) as e:
        await stub.ListPersonSettlements(pb.ListPersonSettlementsRequest())
    assert outcome(e.value) == ("FIELD_REQUIRED", "psn_no")


async def test_5206_to_a_hospital_only_for_a_person_it_treats(stub, upstream, uid):
    psn = upstream.person(f"PT{uid}")
    await open_visit(stub, hospital=H_A1, psn_no=psn, kind="outpatient", med_type="11")
    ok = await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn, insutype="390", hospital=H_A1))
    assert ok.psn_no == psn
    answers = []
    for who in (psn, f"NOBODY{uid}"):
        with pytest.raises(grpc.RpcError) as e:
            await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=who, insutype="390", hospital=H_A3))
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        answers.append((outcome(e.value), e.value.details()))
    assert answers[0] == answers[1] and answers[0][0] == ("NOT_TREATED_HERE", "psn_no")
    # no hospital: the patient's own portal / an operator
    assert (await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn, insutype="390"))).psn_no == psn


async def test_the_certificate_rides_the_snapshot_call_of_registration_and_settlement(stub, upstream, uid):
    psn = upstream.person(f"PC{uid}")
    reg = caller(H_A1, "2201")
    v = await stub.Register(pb.RegisterRequest(
        caller=reg, psn_no=psn, insutype="390", kind="outpatient", med_type="11", begntime=day("05-10 09:00:00"),
        mdtrt_cert_type="01", mdtrt_cert_no="EV1.token.mac"))
    c = upstream.certificates[-1]
    assert (c.mdtrt_cert_type, c.mdtrt_cert_no, c.hospital, c.visit_key) == (
        "01", "EV1.token.mac", H_A1, f"reg:{H_A1}:{reg.msgid}")
    await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A1, "2204"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("1", "DRUG", "4", 2_500)]))

    def order(infno: str, **cert) -> pb.SettleRequest:
        r = settle_request(H_A1, v, 10_000, infno=infno)
        for k, val in cert.items():
            setattr(r, k, val)
        return r

    # the token the visit was registered with: bound to it then, nothing more to ask
    await stub.PreSettle(order("2206", mdtrt_cert_type="01", mdtrt_cert_no="EV1.token.mac"))
    assert upstream.certificates[-1] is None
    await stub.PreSettle(order("2206", mdtrt_cert_type="01", mdtrt_cert_no="EV1.other.mac"))
    c = upstream.certificates[-1]
    assert (c.mdtrt_cert_no, c.hospital, c.visit_key) == ("EV1.other.mac", H_A1, v.mdtrt_id)
    await stub.Settle(order("2207", mdtrt_cert_type="03", mdtrt_cert_no="CARD1", card_sn="SN1"))
    c = upstream.certificates[-1]
    assert (c.mdtrt_cert_type, c.mdtrt_cert_no, c.card_sn, c.visit_key) == ("03", "CARD1", "SN1", v.mdtrt_id)
    # no certificate named: none forwarded (as before)
    v2 = await open_visit(stub, hospital=H_A1, psn_no=psn, kind="outpatient", med_type="11",
                          fees=[fee("1", "DRUG", "4", 2_500)])
    assert upstream.certificates[-1] is None
    await stub.PreSettle(settle_request(H_A1, v2, 10_000, infno="2206"))
    assert upstream.certificates[-1] is None
