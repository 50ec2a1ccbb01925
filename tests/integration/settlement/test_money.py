"""Caps under concurrency, settle/cancel sequences, reversals, clearing, reconciliation, audit."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from medsettle.settlement.v1 import settlement_pb2 as pb
from services.settlement.audit import audit, run_audit
from tests.dates import THIS_YEAR, day

from .helpers import caller, fee, free_month, open_visit, outcome, settle_request
from .reference import H_A1, H_A3, H_A_RECON, H_B3, H_C3, POOL_A, POOL_B, POOL_C

pytestmark = pytest.mark.integration


async def _accumulators(stub, psn, insutype="390"):
    resp = await stub.GetAccumulators(pb.GetAccumulatorsRequest(psn_no=psn, insutype=insutype, year=THIS_YEAR))
    return {a.key: a.amount for a in resp.accumulators}, resp


async def test_55_concurrent_settlements_of_one_person_never_exceed_the_cap(stub, upstream, db_pool, uid):
    """Employee outpatient line: deductible 300.00, 75% at level 1, annual cap 5000.00. Each visit
    has 400.00 in policy: 55 visits want far more than the cap; together they get exactly it."""
    psn = upstream.person(f"PC{uid}", insutype="310", psn_type="employee")
    visits = await asyncio.gather(*(open_visit(stub, hospital=H_A1, psn_no=psn, insutype="310", kind="outpatient",
                                               med_type="11", fees=[fee("1", "DIAL", "1", 40_000)]) for _ in range(55)))
    replies = await asyncio.gather(*(stub.Settle(settle_request(H_A1, v, 40_000)) for v in visits))
    hifp = [r.setlinfo.hifp_pay_fen for r in replies]
    dedc = [r.setlinfo.act_pay_dedc_fen for r in replies]
    assert sum(hifp) == 500_000, "together the visits get exactly the cap"
    assert sum(dedc) == 30_000 and dedc.count(30_000) == 1, "the deductible is taken once"
    assert all(r.setlinfo.medfee_sumamt_fen == r.setlinfo.fund_pay_sumamt_fen + r.setlinfo.psn_part_amt_fen
               for r in replies)
    acc, resp = await _accumulators(stub, psn, "310")
    caps = {a.key: a.cap for a in resp.accumulators}
    assert acc["fund:line:outpatient"] == 500_000 == caps["fund:line:outpatient"]
    assert acc["dedc:outpatient"] == 30_000
    async with db_pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM settlement.settlements WHERE psn_no = $1", psn)
        version = await conn.fetchval("SELECT version FROM settlement.accumulators WHERE psn_no = $1", psn)
    assert n == 55 and version == 55


async def test_settle_cancel_settle_leaves_accumulators_exact(stub, upstream, db_pool, uid):
    psn = upstream.person(f"PX{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 1_000_000)])
    first = await stub.Settle(settle_request(H_A3, v, 1_000_000))
    after_first, _ = await _accumulators(stub, psn)
    cancel = pb.CancelSettlementRequest(caller=caller(H_A3, "2305"), setl_id=first.setlinfo.setl_id,
                                        mdtrt_id=v.mdtrt_id, psn_no=psn)
    rev = await stub.CancelSettlement(cancel)
    assert rev.setlinfo.status == "reversal" and rev.setlinfo.reverses_setl_id == first.setlinfo.setl_id
    assert rev.setlinfo.fund_pay_sumamt_fen == -first.setlinfo.fund_pay_sumamt_fen
    assert rev.setlinfo.medfee_sumamt_fen == -1_000_000
    assert all(a == 0 for a in (await _accumulators(stub, psn))[0].values())
    assert (await stub.CancelSettlement(cancel)).replayed  # a retry of the same 2305 replays
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"),
                                                               setl_id=first.setlinfo.setl_id))
    assert outcome(e.value)[0] == "ALREADY_CANCELLED"
    second = await stub.Settle(settle_request(H_A3, v, 1_000_000))
    assert second.setlinfo.setl_id != first.setlinfo.setl_id
    assert second.setlinfo.act_pay_dedc_fen == first.setlinfo.act_pay_dedc_fen == 80_000, "first admission again"
    assert (await _accumulators(stub, psn))[0] == after_first
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT status FROM settlement.settlements WHERE psn_no = $1 ORDER BY setl_time", psn)
        ledger = await conn.fetchval("SELECT sum(amount_fen) FROM settlement.ledger_entries l JOIN "
                                     "settlement.settlements s USING (setl_id) WHERE s.psn_no = $1", psn)
    assert [r["status"] for r in rows] == ["cancelled", "reversal", "settled"]
    assert ledger == 0


async def test_reversal_of_a_reversal_and_cancel_by_another_hospital_are_refused(stub, upstream, uid):
    psn = upstream.person(f"PR{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 300_000)])
    s = await stub.Settle(settle_request(H_A3, v, 300_000))
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A1, "2305"), setl_id=s.setlinfo.setl_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # another hospital's: as an unknown id
    # 2601 by the settlement's msgid books the reversal.
    rv = await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=s.setlinfo.msgid,
                                              oinfno="2304"))
    assert rv.settlement.setlinfo.reverses_setl_id == s.setlinfo.setl_id and rv.oinfno == "2304"
    with pytest.raises(grpc.RpcError) as e:
        await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A3, "2305"),
                                                               setl_id=rv.settlement.setlinfo.setl_id))
    assert outcome(e.value) == ("REVERSAL_OF_REVERSAL", "setl_id")
    with pytest.raises(grpc.RpcError) as e:  # 2601 of the 2601
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=rv.settlement.setlinfo.msgid))
    assert outcome(e.value)[0] == "REVERSAL_OF_REVERSAL"
    with pytest.raises(grpc.RpcError) as e:  # the settlement was already reversed
        await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=s.setlinfo.msgid))
    assert outcome(e.value)[0] == "ALREADY_REVERSED"


async def test_2601_undoes_registration_and_fee_upload(stub, upstream, db_pool, uid):
    psn = upstream.person(f"PU{uid}")
    reg = caller(H_A3, "2201")
    v = await stub.Register(pb.RegisterRequest(caller=reg, psn_no=psn, insutype="390", kind="outpatient",
                                               med_type="11", begntime=day("05-10 09:00:00")))
    up = caller(H_A3, "2204")
    await stub.UploadFees(pb.UploadFeesRequest(caller=up, mdtrt_id=v.mdtrt_id, psn_no=psn,
                                               feedetail=[fee("1", "DRUG", "1", 1_000)]))
    await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=up.msgid, oinfno="2204"))
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM settlement.fee_details WHERE mdtrt_id = $1", v.mdtrt_id) == 0
    await stub.Reverse(pb.ReverseRequest(caller=caller(H_A3, "2601"), psn_no=psn, omsgid=reg.msgid, oinfno="2201"))
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM settlement.visits WHERE mdtrt_id = $1", v.mdtrt_id) == "cancelled"


async def test_clearing_nets_three_pools_and_books_later_cancels_into_the_next_month(
        stub, upstream, clock, db_pool, uid):
    """Residents treated out of province with long-term filings, level-3 hospitals, first
    admission: deductible out_of_province 1200.00, r = 0.70, no critical illness below 20000.00.
    A→B: DIAL 10000.00 → (10000 − 1200) × 0.70 = 6160.00; A→B again (other person): 3000.00 →
    1260.00; B→C: 20000.00 → 13160.00; C→A: 5000.00 → 2660.00; one more B→C settled and
    cancelled in the month (nets out); one local A settlement (not cleared). After the run a
    cancellation of the month is booked into the next month, carried over (DOMAIN.md §6; before:
    refused MONTH_CLEARED)."""
    month = await free_month(db_pool, months=2)
    clock.set(month)
    cases = [(POOL_A, H_B3, 1_000_000, 616_000), (POOL_A, H_B3, 300_000, 126_000), (POOL_B, H_C3, 2_000_000, 1_316_000),
             (POOL_C, H_A3, 500_000, 266_000), (POOL_B, H_C3, 700_000, 406_000), (POOL_A, H_A3, 700_000, 434_000)]
    settled = []
    for i, (pool, hospital, bill, expected_fund) in enumerate(cases):
        psn = upstream.person(f"PK{uid}{i}", pool=pool)
        upstream.file(psn, "long_term")
        v = await open_visit(stub, hospital=hospital, psn_no=psn, fees=[fee("1", "DIAL", "1", bill)])
        r = await stub.Settle(settle_request(hospital, v, bill))
        assert r.setlinfo.fund_pay_sumamt_fen == expected_fund, (i, r.setlinfo)
        settled.append(r)
    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_C3, "2305"), setl_id=settled[4].setlinfo.setl_id))
    ym = f"{month:%Y%m}"
    with pytest.raises(grpc.RpcError) as e:
        await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert outcome(e.value)[0] == "MONTH_NOT_ENDED"

    clock.set(month + dt.timedelta(days=40))
    run = await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert not run.replayed
    assert [(s.insured_pool, s.treatment_pool, s.settlement_count, s.fund_fen) for s in run.statements] == [
        (POOL_A, POOL_B, 2, 742_000), (POOL_B, POOL_C, 1, 1_316_000), (POOL_C, POOL_A, 1, 266_000)]
    assert [(p.pool, p.receivable_fen, p.payable_fen, p.net_fen) for p in run.positions] == [
        (POOL_A, 266_000, 742_000, -476_000), (POOL_B, 742_000, 1_316_000, -574_000),
        (POOL_C, 1_316_000, 266_000, 1_050_000)]
    assert sum(p.net_fen for p in run.positions) == 0
    again = await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert again.replayed and again.run_id == run.run_id and list(again.statements) == list(run.statements)
    async with db_pool.acquire() as conn:
        advanced = await conn.fetchval("SELECT -sum(amount_fen) FROM settlement.ledger_entries WHERE setlym = $1 "
                                       "AND leg = 'advance' AND account LIKE 'clearing:%'", ym)
    assert advanced == sum(s.fund_fen for s in run.statements)

    late = await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_B3, "2305"),
                                                                  setl_id=settled[0].setlinfo.setl_id))
    nxt = next_month(ym)
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT setlym, carried_from FROM settlement.settlements WHERE setl_id = $1",
                                  late.setlinfo.setl_id)
    assert (row["setlym"], row["carried_from"]) == (nxt, ym)
    frozen = await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert frozen.replayed and list(frozen.statements) == list(run.statements)


def next_month(ym: str) -> str:
    y, m = int(ym[:4]), int(ym[4:])
    return f"{y + m // 12:04d}{m % 12 + 1:02d}"


async def _audit(db_pool) -> list[str]:
    async with db_pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return [str(v) for v in await audit(conn)]


async def test_a_late_settlement_goes_into_the_next_open_month_and_the_audit_stays_clean(
        stub, upstream, clock, db_pool, database_url, uid):
    """DOMAIN.md §6: a run freezes its month. Month M: a pool-A employee (filed, account 1000.00)
    admitted at a pool-B level-3 hospital: (10000 − 1200) × 0.70 = 6160.00 from the fund, 1000.00
    from the account, both advanced by pool B and cleared (the account on its own line; before:
    never advanced, never cleared). M is cleared. Then, with the settlement service's clock still
    in M (skew, a late retry), a pool-A resident settles at the same hospital: 5000.00 →
    (5000 − 1200) × 0.70 = 2660.00, and the employee's settlement is cancelled. Both are booked
    into M+1, carried over; M's statement never changes and `medsettle audit` stays clean (before:
    the late settlement went into M and the auditor failed "statement 616000 but ledger 882000").
    M+1's run lists both as carried over: 2660.00 − 6160.00 fund, −1000.00 account."""
    month = await free_month(db_pool, months=2)
    ym, nxt = f"{month:%Y%m}", next_month(f"{month:%Y%m}")
    clock.set(month)
    worker = upstream.person(f"PF{uid}w", pool=POOL_A, insutype="310", psn_type="employee", balance_fen=100_000)
    upstream.file(worker, "long_term")
    v = await open_visit(stub, hospital=H_B3, psn_no=worker, insutype="310", fees=[fee("1", "DIAL", "1", 1_000_000)])
    first = (await stub.Settle(settle_request(H_B3, v, 1_000_000, acct=True))).setlinfo
    assert (first.fund_pay_sumamt_fen, first.acct_pay_fen) == (616_000, 100_000)
    async with db_pool.acquire() as conn:
        legs = await conn.fetch("SELECT account, amount_fen FROM settlement.ledger_entries WHERE setl_id = $1 "
                                "AND leg = 'advance' AND fund_pay_type = '310200' ORDER BY entry_no", first.setl_id)
    assert [tuple(x) for x in legs] == [(f"acct:{POOL_A}", 100_000), (f"clearing:{POOL_B}", -100_000)]

    clock.set(month + dt.timedelta(days=40))
    run = await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert [(s.insured_pool, s.treatment_pool, s.settlement_count, s.fund_fen, s.acct_fen, s.carried_over_count)
            for s in run.statements] == [(POOL_A, POOL_B, 1, 616_000, 100_000, 0)]
    assert [(p.pool, p.receivable_fen, p.payable_fen) for p in run.positions] == [
        (POOL_A, 0, 716_000), (POOL_B, 716_000, 0)]

    clock.set(month)  # the settlement service's clock is behind: it still says M
    resident = upstream.person(f"PF{uid}r", pool=POOL_A)
    upstream.file(resident, "long_term")
    v2 = await open_visit(stub, hospital=H_B3, psn_no=resident, fees=[fee("1", "DIAL", "1", 500_000)])
    late = (await stub.Settle(settle_request(H_B3, v2, 500_000))).setlinfo
    assert late.fund_pay_sumamt_fen == 266_000 and late.setl_time.startswith(f"{month:%Y-%m}")
    cancel = (await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_B3, "2305"),
                                                                    setl_id=first.setl_id))).setlinfo
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT setl_id, setlym, carried_from, setl_date FROM settlement.settlements "
                                "WHERE setl_id = any($1::text[]) ORDER BY setl_id", [late.setl_id, cancel.setl_id])
        ledger_months = await conn.fetch("SELECT DISTINCT setlym FROM settlement.ledger_entries "
                                         "WHERE setl_id = any($1::text[])", [late.setl_id, cancel.setl_id])
    assert [(r["setlym"], r["carried_from"]) for r in rows] == [(nxt, ym), (nxt, ym)]
    assert all(f"{r['setl_date']:%Y%m}" == ym for r in rows)  # the day it happened stays (3201 by day)
    assert [r["setlym"] for r in ledger_months] == [nxt]
    clock.set(month + dt.timedelta(days=40))
    frozen = await stub.RunClearing(pb.RunClearingRequest(setlym=ym))
    assert frozen.replayed and list(frozen.statements) == list(run.statements)
    assert await _audit(db_pool) == []
    assert await run_audit(database_url) == 0

    clock.set(month + dt.timedelta(days=75))
    after = await stub.RunClearing(pb.RunClearingRequest(setlym=nxt))
    assert [(s.insured_pool, s.treatment_pool, s.settlement_count, s.fund_fen, s.acct_fen, s.carried_over_count,
             s.carried_over_fen) for s in after.statements] == [
        (POOL_A, POOL_B, 0, 266_000 - 616_000, -100_000, 2, 266_000 - 716_000)]
    assert sum(p.net_fen for p in after.positions) == 0
    assert await _audit(db_pool) == []


async def test_reconciliation_totals_and_detail_diffs(stub, upstream, clock, db_pool, uid):
    day = await free_month(db_pool)
    clock.set(day)
    rows = []
    for i, bill in enumerate((200_000, 300_000, 400_000)):
        psn = upstream.person(f"PT{uid}{i}")
        v = await open_visit(stub, hospital=H_A_RECON, psn_no=psn, fees=[fee("1", "DIAL", "1", bill)])
        rows.append((await stub.Settle(settle_request(H_A_RECON, v, bill))).setlinfo)
    await stub.CancelSettlement(pb.CancelSettlementRequest(caller=caller(H_A_RECON, "2305"), setl_id=rows[2].setl_id))
    d = day.isoformat()
    medfee = 500_000
    fund = rows[0].fund_pay_sumamt_fen + rows[1].fund_pay_sumamt_fen
    ok = await stub.ReconcileTotals(pb.ReconcileTotalsRequest(
        caller=caller(H_A_RECON, "3201"), stmt_begndate=d, stmt_enddate=d, medfee_sumamt_fen=medfee,
        fund_pay_sumamt_fen=fund, acct_pay_fen=0, fixmedins_setl_cnt=2))
    assert ok.stmt_rslt == "0" and ok.setl_cnt == 2 and ok.medfee_sumamt_fen == medfee, ok.stmt_rslt_dscr
    bad = await stub.ReconcileTotals(pb.ReconcileTotalsRequest(
        caller=caller(H_A_RECON, "3201"), stmt_begndate=d, stmt_enddate=d, medfee_sumamt_fen=medfee + 1_000,
        fund_pay_sumamt_fen=fund, acct_pay_fen=0, fixmedins_setl_cnt=3))
    assert bad.stmt_rslt == "1"
    assert "结算笔数 fixmedins_setl_cnt: 平台 platform 2，医院 hospital 3" in bad.stmt_rslt_dscr
    assert "医疗费总额 medfee_sumamt: 平台 platform 5000.00，医院 hospital 5010.00，差额 difference 10.00" in bad.stmt_rslt_dscr

    detail = await stub.ReconcileDetail(pb.ReconcileDetailRequest(
        caller=caller(H_A_RECON, "3202"), stmt_begndate=d, stmt_enddate=d, rows=[
            pb.DetailRow(setl_id=rows[0].setl_id, medfee_sumamt_fen=200_000, fund_pay_sumamt_fen=rows[0].fund_pay_sumamt_fen),
            pb.DetailRow(setl_id=rows[2].setl_id, medfee_sumamt_fen=400_000, fund_pay_sumamt_fen=rows[2].fund_pay_sumamt_fen,
                         refd_setl_flag="0"),
            pb.DetailRow(setl_id="SNOSUCHSETTLEMENT", medfee_sumamt_fen=1)]))
    got = {r.setl_id: r for r in detail.results}
    assert got[rows[0].setl_id].stmt_rslt == "0"
    assert got[rows[2].setl_id].stmt_rslt == "1"
    assert "refd_setl_flag 平台 platform 1" in got[rows[2].setl_id].memo
    assert got["SNOSUCHSETTLEMENT"].stmt_rslt == "2" and "平台无此结算" in got["SNOSUCHSETTLEMENT"].memo
    assert got[rows[1].setl_id].stmt_rslt == "3" and "医院未报送" in got[rows[1].setl_id].memo
    assert (detail.agreed, detail.disagreed) == (1, 3)


async def test_auditor_passes_on_clean_data_and_names_corrupted_rows(stub, upstream, db_pool, database_url, uid, capsys):
    psn = upstream.person(f"PZ{uid}")
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, fees=[fee("1", "DIAL", "1", 500_000)])
    s = (await stub.Settle(settle_request(H_A3, v, 500_000))).setlinfo
    assert await run_audit(database_url) == 0
    assert "audit passed" in capsys.readouterr().out

    async with db_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("UPDATE settlement.accumulators SET data = jsonb_set(data, '{fund:group:main}', '1') "
                               "WHERE psn_no = $1", psn)
            await conn.execute("UPDATE settlement.ledger_entries SET amount_fen = amount_fen + 1 "
                               "WHERE setl_id = $1 AND entry_no = 0", s.setl_id)
            found = await audit(conn)
        finally:
            await tx.rollback()
        assert await audit(conn) == [] or all(psn not in x.row and s.setl_id not in x.row for x in await audit(conn))
    names = {(x.check, x.row) for x in found}
    assert ("accumulators equal the sum of their settlements' deltas", f"{psn}/390/{THIS_YEAR} fund:group:main") in names
    assert ("ledger sums to zero per settlement", s.setl_id) in names
    assert ("ledger sums to zero overall", "ledger") in names
