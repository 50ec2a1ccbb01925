"""The rest of the settlement life cycle through the real servicer and PostgreSQL: 3203 clearing
applications, inpatient interim (mid_setl_flag) then final settlement, 2601 undo of a
discharge and of a fee cancellation, other hospitals refused, 5206 accumulators after settle
and after cancel. Eligibility and filing answers come from the stand-in (conftest.Upstream)."""

from __future__ import annotations

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from tests.dates import LAST_YEAR, THIS_YEAR, day, month, ym

from .helpers import accumulators, caller, fee, free_month, open_visit, outcome, settle_request
from .reference import H_A1, H_A3

pytestmark = pytest.mark.integration


# ----------------------------------------------------------------------------- 3203 clearing application

async def test_clearing_application_accepted_when_totals_match_and_mismatch_described_otherwise(
        stub, upstream, clock, db_pool, uid):
    """In a month this test owns, H_A3 settles two admissions (one then cancelled) and one
    outpatient visit. Platform figures for clr_type 21: 1 person-time (2 settlements − 1
    reversal), the remaining admission's medfee, fund and cash."""
    day = await free_month(db_pool)
    clock.set(day)
    ym = f"{day:%Y%m}"
    inpatient = []
    for i, bill in enumerate((500_000, 700_000)):
        psn = upstream.person(f"PQ{uid}{i}")
        v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", bill)])
        inpatient.append((await stub.Settle(settle_request(H_A3, v, bill))).setlinfo)
    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=inpatient[1].setl_id))
    psn = upstream.person(f"PQ{uid}o")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, kind="outpatient", med_type="11",
                         fees=[fee("1", "DRUG", "4", 2_500)])
    outpatient = (await stub.Settle(settle_request(H_A3, v, 10_000))).setlinfo
    kept = inpatient[0]
    # (500000 − 80000) × 0.70 = 294000 fund; the patient pays the rest in cash (resident, no account).
    assert (kept.fund_pay_sumamt_fen, kept.psn_cash_pay_fen) == (294_000, 206_000)

    mid = caller(H_A3, "3203")
    request = pb.ApplyClearingRequest(
        caller=mid, clr_type="21", clr_way="1", setlym=ym, psntime=1, medfee_sumamt_fen=500_000,
        fund_appy_sum_fen=294_000, cash_payamt_fen=206_000, acct_pay_fen=0,
        begndate=f"{day:%Y-%m}-01", enddate=f"{day:%Y-%m}-28")
    ok = await stub.ApplyClearing(request)
    assert ok.status == "accepted", ok.memo
    assert (ok.psntime, ok.medfee_sumamt_fen, ok.fund_appy_sum_fen) == (1, 500_000, 294_000)
    assert ok.clr_appy_evt_id and ym in ok.memo and "已受理" in ok.memo and "2940.00" in ok.memo

    # Idempotent per msgid: a retry gets the same application back; nothing is recorded twice.
    again = await stub.ApplyClearing(request)
    assert again.replayed and not ok.replayed
    again.replayed = False
    assert again == ok
    other = pb.ApplyClearingRequest()
    other.CopyFrom(request)
    other.psntime = 2
    with pytest.raises(grpc.RpcError) as e:
        await stub.ApplyClearing(other)
    assert outcome(e.value) == ("MSGID_CONFLICT", "msgid")
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT clr_appy_evt_id, status FROM settlement.clearing_applications "
                                "WHERE fixmedins_code = $1 AND msgid = $2", H_A3, mid.msgid)
    assert [(r["clr_appy_evt_id"], r["status"]) for r in rows] == [(ok.clr_appy_evt_id, "accepted")]

    # All clearing types together (clr_type empty) include the outpatient visit.
    total = await stub.ApplyClearing(pb.ApplyClearingRequest(
        caller=caller(H_A3, "3203"), setlym=ym, psntime=2, medfee_sumamt_fen=510_000,
        fund_appy_sum_fen=294_000 + outpatient.fund_pay_sumamt_fen,
        cash_payamt_fen=206_000 + outpatient.psn_cash_pay_fen, acct_pay_fen=0))
    assert total.status == "accepted", total.memo

    # A mismatch names each differing figure with both sides, and only those.
    bad = await stub.ApplyClearing(pb.ApplyClearingRequest(
        caller=caller(H_A3, "3203"), clr_type="21", setlym=ym, psntime=2, medfee_sumamt_fen=500_000,
        fund_appy_sum_fen=294_100, cash_payamt_fen=206_000, acct_pay_fen=0))
    assert bad.status == "mismatch"
    assert "人次 psntime: 平台 platform 1 / 医院 hospital 2" in bad.memo, bad.memo
    assert "基金申报金额 fund_appy_sum: 平台 platform 2940.00 / 医院 hospital 2941.00" in bad.memo, bad.memo
    assert "medfee_sumamt" not in bad.memo and "cash_payamt" not in bad.memo and "acct_pay" not in bad.memo
    assert "3201/3202" in bad.memo and bad.clr_appy_evt_id != ok.clr_appy_evt_id
    async with db_pool.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM settlement.clearing_applications WHERE clr_appy_evt_id = $1",
                                     bad.clr_appy_evt_id)
    assert status == "mismatch"


async def test_clearing_application_bad_month_and_unknown_hospital_are_refused(stub, db_pool):
    with pytest.raises(grpc.RpcError) as e:
        await stub.ApplyClearing(pb.ApplyClearingRequest(caller=caller(H_A3, "3203"), setlym=month(5)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert outcome(e.value) == ("BAD_MONTH", "setlym")
    with pytest.raises(grpc.RpcError) as e:
        await stub.ApplyClearing(pb.ApplyClearingRequest(caller=caller("H00000000000", "3203"), setlym=ym(5)))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM settlement.clearing_applications "
                                   "WHERE fixmedins_code = 'H00000000000' OR setlym = $1", month(5)) == 0


# ----------------------------------------------------------------------------- interim then final settlement

async def test_interim_settlement_then_final_settlement_keep_accumulators_exact(stub, upstream, db_pool, uid):
    """Resident, level 3, a long stay settled in two parts. Interim (2304 with mid_setl_flag, not
    discharged) on the fees so far: 5000.00 → deductible 800.00, (5000 − 800) × 0.70 = 2940.00;
    the admission stays open. Final, after more fees and the discharge, on the new fees only:
    3000.00. One deductible per admission, admissions counted, not settlements (DOMAIN.md §5
    precise points): the final one charges no deductible, 3000 × 0.70 = 2100.00, and the year
    still has one admission. (Before: it counted a second admission and charged 400.00 again.)"""
    psn = upstream.person(f"PI{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)], discharge=False)
    interim_req = settle_request(H_A3, v, 500_000)
    interim_req.mid_setl_flag = True
    interim = (await stub.Settle(interim_req)).setlinfo
    assert (interim.act_pay_dedc_fen, interim.hifp_pay_fen, interim.psn_part_amt_fen) == (80_000, 294_000, 206_000)
    after_interim, _ = await accumulators(stub, psn)
    assert after_interim["admissions:inpatient"] == 1 and after_interim["fund:group:main"] == 294_000
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id) == "open"

    # Without the flag, an admission that is still open cannot be settled.
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 0))
    assert outcome(e.value)[0] == "NOT_DISCHARGED"
    await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A3, "2301"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("2", "DIAL", "1", 300_000)]))
    await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=day("06-20 10:00:00")))
    with pytest.raises(grpc.RpcError) as e:  # the interim settlement's fees are not billed again
        await stub.Settle(settle_request(H_A3, v, 800_000))
    assert outcome(e.value) == ("MEDFEE_MISMATCH", "input.data.medfee_sumamt")
    assert "3000.00" in e.value.details()
    final = (await stub.Settle(settle_request(H_A3, v, 300_000))).setlinfo
    assert (final.medfee_sumamt_fen, final.act_pay_dedc_fen, final.hifp_pay_fen) == (300_000, 0, 210_000)

    acc, resp = await accumulators(stub, psn)
    assert acc["admissions:inpatient"] == 1
    assert acc["fund:group:main"] == 294_000 + 210_000
    caps = {a.key: a.cap for a in resp.accumulators}
    assert caps["fund:group:main"] == 28_000_000
    async with db_pool.acquire() as conn:
        settled = await conn.fetch("SELECT setl_id, deltas FROM settlement.settlements WHERE psn_no = $1", psn)
        fees = await conn.fetch("SELECT feedetl_sn, setl_id FROM settlement.fee_details WHERE mdtrt_id = $1 "
                                "ORDER BY feedetl_sn", v.mdtrt_id)
        status = await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id)
    summed: dict[str, int] = {}
    for row in settled:
        for key, delta in row["deltas"].items():
            summed[key] = summed.get(key, 0) + delta
    assert acc == summed, "accumulators are exactly the sum of the two settlements' deltas"
    assert [(f["feedetl_sn"], f["setl_id"]) for f in fees] == [("1", interim.setl_id), ("2", final.setl_id)]
    assert status == "settled"

    # Cancelling the final settlement brings the accumulators back to the interim's, exactly.
    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=final.setl_id))
    assert (await accumulators(stub, psn))[0] == after_interim
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1",
                                   v.mdtrt_id) == "discharged"

    # Cancelling the interim one too gives its deductible back and takes the admission off the
    # count; settling the whole stay again is this year's first admission: 800.00 once.
    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=interim.setl_id))
    assert (await accumulators(stub, psn))[0]["admissions:inpatient"] == 0
    whole = (await stub.Settle(settle_request(H_A3, v, 800_000))).setlinfo
    assert (whole.act_pay_dedc_fen, whole.hifp_pay_fen) == (80_000, 504_000)  # (8000 − 800) × 0.70
    assert (await accumulators(stub, psn))[0]["admissions:inpatient"] == 1


async def test_interim_cancelled_while_the_final_stands_keeps_the_admission_counted(stub, upstream, db_pool, uid):
    """Interim 5000.00 (deductible 800.00), final 3000.00 (none). Cancelling the interim while the
    final stands gives back its 800.00 but the admission keeps its settlement: still counted once.
    Its fees settled again take the 800.00 the admission now lacks. A second admission of the
    year then gets the repeat factor: 800.00 × 0.5 = 400.00."""
    psn = upstream.person(f"PM{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)], discharge=False)
    req = settle_request(H_A3, v, 500_000)
    req.mid_setl_flag = True
    interim = (await stub.Settle(req)).setlinfo
    await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A3, "2301"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("2", "DIAL", "1", 300_000)]))
    await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=day("06-20 10:00:00")))
    final = (await stub.Settle(settle_request(H_A3, v, 300_000))).setlinfo
    assert (interim.act_pay_dedc_fen, final.act_pay_dedc_fen) == (80_000, 0)

    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=interim.setl_id))
    acc, _ = await accumulators(stub, psn)
    assert acc["admissions:inpatient"] == 1 and acc["fund:group:main"] == 210_000
    again = (await stub.Settle(settle_request(H_A3, v, 500_000))).setlinfo
    assert (again.act_pay_dedc_fen, again.hifp_pay_fen) == (80_000, 294_000)
    assert (await accumulators(stub, psn))[0]["admissions:inpatient"] == 1

    second = await open_visit(stub, hospital=H_A3, psn_no=psn, begntime=day("07-01 09:00:00"),
                              fees=[fee("1", "DIAL", "1", 300_000)])
    s2 = (await stub.Settle(settle_request(H_A3, second, 300_000))).setlinfo
    assert (s2.act_pay_dedc_fen, s2.hifp_pay_fen) == (40_000, 182_000)  # (3000 − 400) × 0.70
    acc, _ = await accumulators(stub, psn)
    assert acc["admissions:inpatient"] == 2
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT deltas FROM settlement.settlements WHERE psn_no = $1", psn)
    summed: dict[str, int] = {}
    for row in rows:
        for key, delta in row["deltas"].items():
            summed[key] = summed.get(key, 0) + delta
    assert {k: v for k, v in summed.items() if v} == {k: v for k, v in acc.items() if v}


async def test_an_admission_with_an_interim_settlement_cannot_be_cancelled(stub, upstream, db_pool, uid):
    """The interim settlement leaves the admission open; cancelling the admission (2404, or 2601
    of the 2401) would leave that settlement booked on a cancelled visit: refused until the
    interim settlement itself is cancelled (2305)."""
    psn = upstream.person(f"PJ{uid}")
    reg = caller(H_A3, "2401")
    v = await stub.Register(pb.RegisterRequest(caller=reg, psn_no=psn, insutype="390", kind="inpatient",
                                               med_type="21", begntime=day("05-10 09:00:00")))
    await stub.UploadFees(pb.UploadFeesRequest(caller=caller(H_A3, "2301"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("1", "DIAL", "1", 200_000)]))
    req = settle_request(H_A3, v, 200_000)
    req.mid_setl_flag = True
    interim = (await stub.Settle(req)).setlinfo
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelVisit(pb.CancelVisitRequest(caller=caller(H_A3, "2404"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert outcome(e.value) == ("VISIT_SETTLED", "mdtrt_id") and interim.setl_id in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=reg.msgid, oinfno="2401"))
    assert outcome(e.value) == ("VISIT_SETTLED", "omsgid")
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id) == "open"

    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=interim.setl_id))
    done = await stub.CancelVisit(pb.CancelVisitRequest(caller=caller(H_A3, "2404"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert done.status == "cancelled"


async def test_mid_setl_flag_on_a_discharged_admission_is_the_final_settlement(stub, upstream, db_pool, uid):
    """After 2402 the stay is over: a 2304 that still says mid_setl_flag settles it for good (the
    visit becomes settled; a 2405 cannot reopen a fully settled admission)."""
    psn = upstream.person(f"PK{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 200_000)])
    req = settle_request(H_A3, v, 200_000)
    req.mid_setl_flag = True
    assert (await stub.Settle(req)).setlinfo.status == "settled"
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id) == "settled"
    with pytest.raises(grpc.RpcError) as e:
        await stub.UndoDischarge(pb.CancelVisitRequest(caller=caller(H_A3, "2405"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert outcome(e.value)[0] == "NOT_DISCHARGED"


# ----------------------------------------------------------------------------- 2601 of a 2402 / 2405 / 2205

async def _visit(db_pool, mdtrt_id):
    async with db_pool.acquire() as conn:
        return await conn.fetchrow("SELECT status, endtime, dscg_way FROM settlement.visits WHERE mdtrt_id = $1",
                                   mdtrt_id)


async def test_2601_undoes_a_discharge_and_an_undo_of_discharge(stub, upstream, db_pool, uid):
    psn = upstream.person(f"PG{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 100_000)], discharge=False)
    d = caller(H_A3, "2402")
    await stub.Discharge(pb.DischargeRequest(caller=d, mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=day("05-12 10:00:00"), dscg_way="1"))
    rv = await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=d.msgid, oinfno="2402"))
    assert rv.oinfno == "2402" and "discharge undone" in rv.result and not rv.HasField("settlement")
    row = await _visit(db_pool, v.mdtrt_id)
    assert (row["status"], row["endtime"], row["dscg_way"]) == ("open", None, "")
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 100_000))
    assert outcome(e.value)[0] == "NOT_DISCHARGED"
    with pytest.raises(grpc.RpcError) as e:  # once is enough
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=d.msgid))
    assert outcome(e.value)[0] == "ALREADY_REVERSED"

    # Discharge again, undo it with 2405, then 2601 that 2405: the discharge comes back as it was.
    await stub.Discharge(pb.DischargeRequest(caller=caller(H_A3, "2402"), mdtrt_id=v.mdtrt_id, psn_no=psn,
                                             endtime=day("05-13 11:00:00"), dscg_way="2"))
    u = caller(H_A3, "2405")
    assert (await stub.UndoDischarge(pb.CancelVisitRequest(caller=u, mdtrt_id=v.mdtrt_id, psn_no=psn))).status == "open"
    await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=u.msgid, oinfno="2405"))
    row = await _visit(db_pool, v.mdtrt_id)
    assert (row["status"], f"{row['endtime']:%Y-%m-%d %H:%M:%S}", row["dscg_way"]) == \
        ("discharged", day("05-13 11:00:00"), "2")
    s = (await stub.Settle(settle_request(H_A3, v, 100_000))).setlinfo
    assert s.status == "settled"

    # A settled admission's discharge cannot be undone: cancel the settlement first.
    d2 = (await stub.GetSettlement(pb.GetSettlementRequest(fixmedins_code=H_A3, setl_id=s.setl_id))).setlinfo
    assert d2.setl_id == s.setl_id
    with pytest.raises(grpc.RpcError) as e:
        await stub.UndoDischarge(pb.CancelVisitRequest(caller=caller(H_A3, "2405"), mdtrt_id=v.mdtrt_id, psn_no=psn))
    assert outcome(e.value)[0] == "NOT_DISCHARGED"


async def test_2601_undoes_a_fee_cancellation(stub, upstream, db_pool, uid):
    """2205 of one fee, then 2302 "0000" of all unsettled fees; 2601 of each brings the fees
    back with their catalogue split, and the visit settles on all of them."""
    psn = upstream.person(f"PF{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, kind="outpatient", med_type="11", fees=[
        fee("1", "DRUG", "2", 1_250), fee("2", "BED", "1", 6_500), fee("3", "DIAL", "1", 10_000)])

    async def fees():
        async with db_pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch(
                "SELECT feedetl_sn, det_item_fee_sumamt_fen, overlmt_fen, preselfpay_fen, inscp_fen, setl_id "
                "FROM settlement.fee_details WHERE mdtrt_id = $1 ORDER BY feedetl_sn", v.mdtrt_id)]

    uploaded = await fees()
    one = caller(H_A3, "2205")
    cut = await stub.CancelFees(pb.CancelFeesRequest(caller=one, mdtrt_id=v.mdtrt_id, psn_no=psn, feedetl_sn="2"))
    assert [r.feedetl_sn for r in cut.result] == ["2"]
    assert [f["feedetl_sn"] for f in await fees()] == ["1", "3"]
    rv = await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=one.msgid, oinfno="2205"))
    assert "fee cancellation undone" in rv.result
    assert await fees() == uploaded

    every = caller(H_A3, "2302")
    cut = await stub.CancelFees(pb.CancelFeesRequest(caller=every, mdtrt_id=v.mdtrt_id, psn_no=psn, feedetl_sn="0000"))
    assert sorted(r.feedetl_sn for r in cut.result) == ["1", "2", "3"]
    assert await fees() == []
    with pytest.raises(grpc.RpcError) as e:
        await stub.Settle(settle_request(H_A3, v, 0))
    assert outcome(e.value)[0] == "EMPTY_BILL"
    await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=every.msgid, oinfno="2302"))
    assert await fees() == uploaded
    s = (await stub.Settle(settle_request(H_A3, v, 2_500 + 6_500 + 10_000))).setlinfo
    assert s.overlmt_selfpay_fen == 1_500 and s.medfee_sumamt_fen == 19_000
    with pytest.raises(grpc.RpcError) as e:  # fees now settled: a 2601 of the 2205 again is refused
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=one.msgid))
    assert outcome(e.value)[0] == "ALREADY_REVERSED"


# ----------------------------------------------------------------------------- other hospitals

async def test_another_hospital_cannot_cancel_reverse_or_change_a_visit_and_nothing_changes(stub, upstream, db_pool,
                                                                                             uid):
    psn = upstream.person(f"PO{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 400_000)], discharge=False)
    d = caller(H_A3, "2402")
    await stub.Discharge(pb.DischargeRequest(caller=d, mdtrt_id=v.mdtrt_id, psn_no=psn, endtime=day("05-12 10:00:00")))
    unknown = "M" + "0" * (len(v.mdtrt_id) - 1)

    async def both(call, **kw):
        """Another hospital's id and an id nobody has: the same status, outcome and text (issue #17)."""
        got = []
        for key, value in kw.items():
            for ident in (value, unknown if key == "mdtrt_id" else "S" + "0" * (len(value) - 1)):
                with pytest.raises(grpc.RpcError) as e:
                    await call(**{key: ident})
                got.append((e.value.code(), outcome(e.value), e.value.details().replace(ident, "<id>")))
        assert got[0] == got[1], got
        return got[0]

    code, named, _ = await both(lambda mdtrt_id: stub.UndoDischarge(pb.CancelVisitRequest(
        caller=caller(H_A1, "2405"), mdtrt_id=mdtrt_id, psn_no=psn)), mdtrt_id=v.mdtrt_id)
    assert code == grpc.StatusCode.NOT_FOUND and named == ("VISIT_NOT_FOUND", "mdtrt_id")
    code, named, _ = await both(lambda mdtrt_id: stub.CancelFees(pb.CancelFeesRequest(
        caller=caller(H_A1, "2302"), mdtrt_id=mdtrt_id, psn_no=psn, feedetl_sn="0000")), mdtrt_id=v.mdtrt_id)
    assert code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:  # another hospital's 2601 does not find our 2402
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A1, "2601"), psn_no=psn, omsgid=d.msgid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and outcome(e.value) == ("ORIGINAL_NOT_FOUND", "omsgid")

    r = await stub.Settle(settle_request(H_A3, v, 400_000))
    s = r.setlinfo
    before, _ = await accumulators(stub, psn)
    code, named, _ = await both(lambda setl_id: stub.CancelSettlement(pb.CancelSettlementRequest(
        caller=caller(H_A1, "2305"), setl_id=setl_id, mdtrt_id=v.mdtrt_id, psn_no=psn)), setl_id=s.setl_id)
    assert code == grpc.StatusCode.NOT_FOUND and named == ("SETTLEMENT_NOT_FOUND", "setl_id")
    code, named, _ = await both(lambda setl_id: stub.GetSettlement(pb.GetSettlementRequest(
        fixmedins_code=H_A1, setl_id=setl_id, psn_no=psn)), setl_id=s.setl_id)
    assert code == grpc.StatusCode.NOT_FOUND and named == ("SETTLEMENT_NOT_FOUND", "setl_id")
    code, named, _ = await both(lambda mdtrt_id: stub.GetSettlement(pb.GetSettlementRequest(
        fixmedins_code=H_A1, mdtrt_id=mdtrt_id, psn_no=psn)), mdtrt_id=v.mdtrt_id)
    assert code == grpc.StatusCode.NOT_FOUND and named == ("SETTLEMENT_NOT_FOUND", "mdtrt_id")
    with pytest.raises(grpc.RpcError) as e:
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A1, "2601"), psn_no=psn, omsgid=s.msgid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    assert (await accumulators(stub, psn))[0] == before
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT status FROM settlement.settlements WHERE psn_no = $1", psn)
        fees = await conn.fetchval("SELECT count(*) FROM settlement.fee_details WHERE mdtrt_id = $1 "
                                   "AND setl_id = $2", v.mdtrt_id, s.setl_id)
        journal = await conn.fetchval("SELECT count(*) FROM settlement.transactions WHERE fixmedins_code = $1 "
                                      "AND psn_no = $2", H_A1, psn)
    assert [r["status"] for r in rows] == ["settled"] and fees == 1
    assert journal == 0, "a refused call claims no msgid"
    # The owner still can.
    rev = await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=s.setl_id))
    assert rev.setlinfo.status == "reversal"


# ----------------------------------------------------------------------------- 5206

async def test_5206_accumulators_after_settle_and_after_cancel(stub, upstream, uid):
    """Employee, outpatient, level 1 (75%), account balance 1000.00, deductible 300.00, annual
    cap 5000.00. Bill 1000.00 with the account: (1000 − 300) × 0.75 = 525.00 fund; the patient's
    475.00 all from the account, leaving 525.00."""
    psn = upstream.person(f"PY{uid}", insutype="310", psn_type="employee", balance_fen=100_000)
    empty, resp = await accumulators(stub, psn, "310")
    assert empty == {} and resp.account_balance_fen == 100_000 and (resp.psn_no, resp.year) == (psn, THIS_YEAR)

    v = await open_visit(stub, hospital=H_A1, psn_no=psn, insutype="310", kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 100_000)])
    s = (await stub.Settle(settle_request(H_A1, v, 100_000, acct=True))).setlinfo
    assert (s.hifp_pay_fen, s.acct_pay_fen, s.psn_cash_pay_fen, s.balc_fen) == (52_500, 47_500, 0, 52_500)
    acc, resp = await accumulators(stub, psn, "310")
    assert acc == {"acct:used": 47_500, "dedc:outpatient": 30_000, "fund:line:outpatient": 52_500}
    caps = {a.key: a.cap for a in resp.accumulators}
    assert caps == {"acct:used": 100_000, "dedc:outpatient": 30_000, "fund:line:outpatient": 500_000}
    assert [a.key for a in resp.accumulators] == sorted(acc)
    assert resp.account_balance_fen == 52_500

    rev = (await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A1, "2208"),
                                                                  setl_id=s.setl_id))).setlinfo
    assert (rev.acct_pay_fen, rev.balc_fen) == (-47_500, 100_000)
    acc, resp = await accumulators(stub, psn, "310")
    assert acc == {"acct:used": 0, "dedc:outpatient": 0, "fund:line:outpatient": 0}
    assert resp.account_balance_fen == 100_000
    # Another year's accumulators are untouched; a 5206 without psn_no names the field.
    assert (await accumulators(stub, psn, "310", LAST_YEAR))[0] == {}
    with pytest.raises(grpc.RpcError) as e:
        await stub.GetAccumulators(pb.GetAccumulatorsRequest(insutype="310", year=THIS_YEAR))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and outcome(e.value) == ("FIELD_REQUIRED", "psn_no")
