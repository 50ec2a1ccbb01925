"""Settlement through the real gRPC servicer and PostgreSQL: worked example A, exactly-once,
validation, visit state rules, hospital ownership."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from tests.dates import THIS_YEAR, day

from .helpers import caller, fee, open_visit, outcome, settle_request
from .reference import H_A1, H_A3

pytestmark = pytest.mark.integration


async def test_worked_example_a_replayed_through_the_service(stub, upstream, db_pool, uid):
    """WORKED_EXAMPLES.md A: resident on 低保, inpatient, level 3: tilt then medical assistance."""
    psn = upstream.person(f"PA{uid}", identities=("dibao",))
    fees = [fee("1", "SURG", "1", 6_000_000), fee("2", "BED", "10", 6_500), fee("3", "STENT", "1", 900_000)]
    v = await stub.Register(pb.RegisterRequest(caller=caller(H_A3, "2401"), psn_no=psn, insutype="390",
                                               kind="inpatient", med_type="21", begntime=day("05-10 09:00:00")))
    up = await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A3, "2301"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                    feedetail=fees))
    split = {r.feedetl_sn: r for r in up.result}
    assert (split["1"].preselfpay_amt_fen, split["1"].inscp_scp_amt_fen) == (600_000, 5_400_000)
    assert (split["2"].overlmt_amt_fen, split["2"].inscp_scp_amt_fen, split["2"].pric_uplmt_amt_fen) == (15_000, 50_000, 5_000)
    assert split["3"].fulamt_ownpay_amt_fen == 900_000 and split["3"].chrgitm_lv == "03"
    await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=day("05-20 10:00:00")))

    pre = await stub.PreSettle(settle_request(H_A3, v, 6_965_000, infno="2303"))
    acc = await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn, insutype="390", year=THIS_YEAR))
    assert list(acc.accumulators) == [], "pre-settlement must not move accumulators"

    r = await stub.Settle(settle_request(H_A3, v, 6_965_000))
    s = r.setlinfo
    assert s.medfee_sumamt_fen == 6_965_000
    assert (s.fulamt_ownpay_amt_fen, s.overlmt_selfpay_fen, s.preselfpay_amt_fen, s.inscp_scp_amt_fen) == \
        (900_000, 15_000, 600_000, 5_450_000)
    assert s.act_pay_dedc_fen == 80_000
    assert s.hifp_pay_fen == 3_759_000
    assert s.hifmi_pay_fen == 449_150
    assert s.maf_pay_fen == 848_295
    assert s.fund_pay_sumamt_fen == 5_056_445
    assert s.psn_part_amt_fen == s.psn_cash_pay_fen == 1_908_555
    assert s.pool_prop_selfpay == "0.70" and s.clr_type == "21" and s.status == "settled"
    assert {d.fund_pay_type: d.fund_payamt_fen for d in r.setldetail} == \
        {"390100": 3_759_000, "390200": 449_150, "610100": 848_295}
    assert not r.replayed and s.setl_id
    # Pre-settlement computed the same figures.
    assert pre.setlinfo.fund_pay_sumamt_fen == s.fund_pay_sumamt_fen and pre.setlinfo.setl_id == ""

    acc = {a.key: (a.amount, a.cap) for a in
           (await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn, insutype="390", year=THIS_YEAR))).accumulators}
    assert acc["admissions:inpatient"] == (1, -1)
    assert acc["fund:group:main"] == (3_759_000, 28_000_000)
    assert acc["ci:paid"][0] == 449_150 and acc["maf:dibao:paid"] == (848_295, 3_000_000)

    async with db_pool.acquire() as conn:
        ledger = await conn.fetch("SELECT account, amount_fen FROM settlement.ledger_entries WHERE setl_id = $1", s.setl_id)
        visit = await conn.fetchrow("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id)
    assert sum(e["amount_fen"] for e in ledger) == 0
    assert sum(e["amount_fen"] for e in ledger if e["account"].startswith("fund:")) == 5_056_445
    assert sum(e["amount_fen"] for e in ledger if e["account"] == f"receivable:{H_A3}") == -5_056_445
    assert visit["status"] == "settled"

    got = await stub.GetSettlement(pb.GetSettlementRequest(fixmedins_code=H_A3, setl_id=s.setl_id))
    assert got.setlinfo == s and list(got.setldetail) == list(r.setldetail)
    with pytest.raises(grpc.RpcError) as e:
        await stub.GetSettlement(pb.GetSettlementRequest(fixmedins_code=H_A1, setl_id=s.setl_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # another hospital's: as an unknown id


async def test_twenty_concurrent_copies_of_one_msgid_settle_once(stub, upstream, db_pool, uid):
    psn = upstream.person(f"PM{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 1_000_000)])
    req = settle_request(H_A3, v, 1_000_000)
    replies = await asyncio.gather(*(stub.Settle(req) for _ in range(20)))
    assert len({r.setlinfo.setl_id for r in replies}) == 1
    assert sum(1 for r in replies if not r.replayed) == 1
    first = replies[0].setlinfo
    assert all(r.setlinfo == first and list(r.setldetail) == list(replies[0].setldetail) for r in replies)
    async with db_pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM settlement.settlements WHERE fixmedins_code = $1 AND msgid = $2",
                                H_A3, req.caller.msgid)
        acc = await conn.fetchrow("SELECT data, version FROM settlement.accumulators WHERE psn_no = $1", psn)
    assert n == 1
    assert acc["version"] == 1 and acc["data"]["admissions:inpatient"] == 1
    again = await stub.Settle(req)
    assert again.replayed and again.setlinfo == first


async def test_same_msgid_with_a_different_body_is_refused(stub, upstream, uid):
    psn = upstream.person(f"PD{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)])
    req = settle_request(H_A3, v, 500_000)
    await stub.Settle(req)
    other = pb.SettleRequest()
    other.CopyFrom(req)
    other.acct_used_flag = True
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(other)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert outcome(e.value) == ("MSGID_CONFLICT", "msgid")
    assert "同一 msgid" in e.value.details() and "same msgid, different body" in e.value.details().lower()


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(stub, upstream, db_pool, uid):
    psn = upstream.person(f"PV{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, kind="outpatient", med_type="11", discharge=False)
    with pytest.raises(grpc.RpcError) as e:
        await stub.UploadFees(pb.UploadFeesRequest(
            caller=caller(H_A3, "2204"), mdtrt_id=v.mdtrt_id, psn_no=psn,
            feedetail=[fee("1", "DRUG", "2", 1_250), fee("2", "DRUG", "3", 1_000, amount_fen=3_001)]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert outcome(e.value) == ("AMOUNT_MISMATCH", "feedetail[1].det_item_fee_sumamt")
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM settlement.fee_details WHERE mdtrt_id = $1", v.mdtrt_id) == 0
    await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A3, "2204"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("1", "DRUG", "2", 1_250)]))
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 2_600))
    assert outcome(e.value) == ("MEDFEE_MISMATCH", "input.data.medfee_sumamt")
    assert "25.00" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A1, v, 2_500))
    assert outcome(e.value) == ("VISIT_NOT_FOUND", "mdtrt_id")  # another hospital's: as an unknown id
    r = await stub.Settle(settle_request(H_A3, v, 2_500))
    assert r.setlinfo.medfee_sumamt_fen == 2_500


async def test_visit_state_rules(stub, upstream, uid):
    psn = upstream.person(f"PS{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 100_000)], discharge=False)
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 100_000))
    assert outcome(e.value)[0] == "NOT_DISCHARGED"
    d = pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn, endtime=day("05-12 10:00:00"))
    await stub.Discharge(d)
    d2 = pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn, endtime=day("05-12 10:00:00"))
    with pytest.raises(grpc.RpcError) as e:
        await stub.Discharge(d2)
    assert outcome(e.value)[0] == "ALREADY_DISCHARGED"
    assert (await stub.Discharge(d)).status == "discharged"  # a retry of the first one replays
    r = await stub.Settle(settle_request(H_A3, v, 100_000))
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelVisit(pb.CancelVisitRequest(caller=caller(H_A3, "2404"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert outcome(e.value)[0] == "VISIT_SETTLED"
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelFees(pb.CancelFeesRequest(caller=caller(H_A3, "2302"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                                   feedetl_sn="1"))
    assert outcome(e.value)[0] == "FEE_SETTLED"
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 0))
    assert outcome(e.value)[0] == "ALREADY_SETTLED"
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelVisit(pb.CancelVisitRequest(caller=caller(H_A1, "2404"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # another hospital's: as an unknown id
    assert r.setlinfo.status == "settled"
