"""Monthly clearing (清算, DOMAIN.md §6) and the hospitals' clearing applications (3203).

Cross-region fund payments are advanced by the treatment pool; each month the insured pool owes
the treatment pool what it advanced. A run computes, from the ledger's "advance" legs of that
clearing month, one statement per (insured pool → treatment pool) and each pool's multilateral
net position (receivable − payable; they sum to zero). A run is made once per month and never
recomputed: a second request returns the stored run (replayed=true). Cancellations take the
month's advisory lock shared and are refused once the month has a run, so a stored run always
equals what the ledger says.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

import asyncpg

from medsettle.settlement.v1 import settlement_pb2 as pb
from services.common.clock import BEIJING, Clock
from services.common.grpcutil import Refusal, invalid, refused

CST = BEIJING
_MONTH = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")

Q_STATEMENTS_FROM_LEDGER = """
WITH adv AS (
    SELECT setl_id, insured_pool, treatment_pool, -sum(amount_fen) AS fund
    FROM settlement.ledger_entries
    WHERE setlym = $1 AND leg = 'advance' AND account LIKE 'clearing:%'
    GROUP BY setl_id, insured_pool, treatment_pool)
SELECT a.insured_pool, a.treatment_pool,
       sum(CASE WHEN s.reverses_setl_id IS NULL THEN 1 ELSE -1 END)::bigint AS settlement_count,
       sum(a.fund)::bigint AS fund_fen
FROM adv a JOIN settlement.settlements s USING (setl_id)
GROUP BY a.insured_pool, a.treatment_pool
ORDER BY a.insured_pool, a.treatment_pool
"""
Q_RUN = "SELECT run_id, setlym, created_at FROM settlement.clearing_runs WHERE setlym = $1"
Q_RUN_STATEMENTS = """
SELECT insured_pool, treatment_pool, settlement_count, fund_fen FROM settlement.clearing_statements
WHERE run_id = $1 ORDER BY insured_pool, treatment_pool
"""
Q_RUN_POSITIONS = """
SELECT pool, receivable_fen, payable_fen, net_fen FROM settlement.clearing_positions WHERE run_id = $1 ORDER BY pool
"""
Q_INSERT_RUN = """
INSERT INTO settlement.clearing_runs (run_id, setlym, settlement_count, fund_fen, created_at) VALUES ($1, $2, $3, $4, $5)
"""
Q_INSERT_STATEMENTS = """
INSERT INTO settlement.clearing_statements (run_id, setlym, insured_pool, treatment_pool, settlement_count, fund_fen)
SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[])
"""
Q_INSERT_POSITIONS = """
INSERT INTO settlement.clearing_positions (run_id, setlym, pool, receivable_fen, payable_fen, net_fen)
SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
"""
Q_HOSPITAL_MONTH = """
SELECT count(*) FILTER (WHERE reverses_setl_id IS NULL) - count(*) FILTER (WHERE reverses_setl_id IS NOT NULL) AS psntime,
       coalesce(sum(medfee_sumamt), 0)::bigint AS medfee, coalesce(sum(fund_pay_sumamt), 0)::bigint AS fund,
       coalesce(sum(psn_cash_pay), 0)::bigint AS cash, coalesce(sum(acct_pay), 0)::bigint AS acct
FROM settlement.settlements WHERE fixmedins_code = $1 AND setlym = $2 AND ($3 = '' OR clr_type = $3)
"""
Q_INSERT_APPLICATION = """
INSERT INTO settlement.clearing_applications (clr_appy_evt_id, fixmedins_code, msgid, setlym, clr_type, clr_way,
    psntime, medfee_sumamt_fen, fund_appy_sum_fen, cash_payamt_fen, acct_pay_fen, begndate, enddate,
    platform_psntime, platform_medfee_fen, platform_fund_fen, status, memo)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
"""


def clearing_lock_key(setlym: str) -> int:
    """One advisory lock per clearing month: cancellations take it shared, the run exclusive."""
    return 0x636C_0000_0000 + int(setlym)


def check_month(setlym: str, field: str = "setlym") -> str:
    if not _MONTH.match(setlym or ""):
        raise invalid("BAD_MONTH", f"{field} 应为 yyyyMM（如 202605），收到 {setlym!r}。 / {field} must be yyyyMM.", field)
    return setlym


def net_positions(statements: list[tuple[str, str, int, int]]) -> list[tuple[str, int, int, int]]:
    """Multilateral netting: per pool, receivable (as treatment pool) and payable (as insured pool)."""
    recv: dict[str, int] = {}
    pay: dict[str, int] = {}
    for insured, treatment, _, fund in statements:
        pay[insured] = pay.get(insured, 0) + fund
        recv[treatment] = recv.get(treatment, 0) + fund
    return [(p, recv.get(p, 0), pay.get(p, 0), recv.get(p, 0) - pay.get(p, 0)) for p in sorted(set(recv) | set(pay))]


async def _load_run(conn, run, replayed: bool) -> pb.ClearingRun:
    out = pb.ClearingRun(run_id=run["run_id"], setlym=run["setlym"], replayed=replayed,
                         created_at=run["created_at"].astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"))
    for r in await conn.fetch(Q_RUN_STATEMENTS, run["run_id"]):
        out.statements.add(insured_pool=r["insured_pool"], treatment_pool=r["treatment_pool"],
                           settlement_count=r["settlement_count"], fund_fen=r["fund_fen"])
    for r in await conn.fetch(Q_RUN_POSITIONS, run["run_id"]):
        out.positions.add(pool=r["pool"], receivable_fen=r["receivable_fen"], payable_fen=r["payable_fen"],
                          net_fen=r["net_fen"])
    return out


async def run_clearing(pool: asyncpg.Pool, setlym: str, now: dt.datetime) -> pb.ClearingRun:
    check_month(setlym)
    if setlym >= now.astimezone(CST).strftime("%Y%m"):
        raise refused("MONTH_NOT_ENDED", f"{setlym} 月尚未结束，月度清算须在次月进行。 / The month {setlym} has not "
                      "ended; clear it next month.", "setlym")
    async with pool.acquire() as conn:
        run = await conn.fetchrow(Q_RUN, setlym)
        if run is not None:
            return await _load_run(conn, run, True)
        async with conn.transaction():
            # Exclusive: waits for in-flight cancellations of this month, and for a concurrent run.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", clearing_lock_key(setlym))
            run = await conn.fetchrow(Q_RUN, setlym)
            if run is not None:
                return await _load_run(conn, run, True)
            rows = [(r["insured_pool"], r["treatment_pool"], r["settlement_count"], r["fund_fen"])
                    for r in await conn.fetch(Q_STATEMENTS_FROM_LEDGER, setlym)]
            positions = net_positions(rows)
            run_id = f"CLR{setlym}{secrets.token_hex(4)}"
            await conn.execute(Q_INSERT_RUN, run_id, setlym, sum(r[2] for r in rows), sum(r[3] for r in rows), now)
            if rows:
                await conn.execute(Q_INSERT_STATEMENTS, run_id, setlym, [r[0] for r in rows], [r[1] for r in rows],
                                   [r[2] for r in rows], [r[3] for r in rows])
                await conn.execute(Q_INSERT_POSITIONS, run_id, setlym, [p[0] for p in positions],
                                   [p[1] for p in positions], [p[2] for p in positions], [p[3] for p in positions])
            run = await conn.fetchrow(Q_RUN, setlym)
            return await _load_run(conn, run, False)


async def apply_clearing(conn, code: str, msgid: str, req: pb.ApplyClearingRequest) -> pb.ApplyClearingResponse:
    """3203: record the hospital's application and compare it with the platform's figures."""
    setlym = check_month(req.setlym)
    mine = await conn.fetchrow(Q_HOSPITAL_MONTH, code, setlym, req.clr_type)
    diffs = []
    for label, field, p_val, h_val, money in (
            ("人次", "psntime", mine["psntime"], req.psntime, False),
            ("医疗费总额", "medfee_sumamt", mine["medfee"], req.medfee_sumamt_fen, True),
            ("基金申报金额", "fund_appy_sum", mine["fund"], req.fund_appy_sum_fen, True),
            ("现金支付", "cash_payamt", mine["cash"], req.cash_payamt_fen, True),
            ("个人账户支付", "acct_pay", mine["acct"], req.acct_pay_fen, True)):
        if p_val != h_val:
            show = _yuan if money else str
            diffs.append(f"{label} {field}: 平台 platform {show(p_val)} / 医院 hospital {show(h_val)}")
    status = "mismatch" if diffs else "accepted"
    memo = (f"{setlym} 清算申请与平台结算数据不符：" + "；".join(diffs) + "。请先 3201/3202 对账。 / The application "
            "differs from the platform's settlements; reconcile first.") if diffs else \
        (f"{setlym} 清算申请已受理：{mine['psntime']} 人次，基金 {_yuan(mine['fund'])} 元。 / Accepted; it matches the "
         "platform's settlements.")
    evt = f"CA{setlym}{secrets.token_hex(5)}"
    await conn.execute(Q_INSERT_APPLICATION, evt, code, msgid, setlym, req.clr_type, req.clr_way, req.psntime,
                       req.medfee_sumamt_fen, req.fund_appy_sum_fen, req.cash_payamt_fen, req.acct_pay_fen,
                       req.begndate, req.enddate, mine["psntime"], mine["medfee"], mine["fund"], status, memo)
    return pb.ApplyClearingResponse(clr_appy_evt_id=evt, status=status, memo=memo, medfee_sumamt_fen=mine["medfee"],
                                    fund_appy_sum_fen=mine["fund"], psntime=mine["psntime"])


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def render(run: pb.ClearingRun) -> str:
    lines = [f"clearing run {run.run_id} for {run.setlym}" + (" (already run: stored result)" if run.replayed else ""),
             f"{'insured pool (owes)':<22}{'treatment pool (owed)':<24}{'count':>8}{'fund (yuan)':>16}"]
    for s in run.statements:
        lines.append(f"{s.insured_pool:<22}{s.treatment_pool:<24}{s.settlement_count:>8}{_yuan(s.fund_fen):>16}")
    if not run.statements:
        lines.append("(no cross-region fund payments this month)")
    lines.append("")
    lines.append(f"{'pool':<22}{'receivable':>16}{'payable':>16}{'net':>16}")
    for p in run.positions:
        lines.append(f"{p.pool:<22}{_yuan(p.receivable_fen):>16}{_yuan(p.payable_fen):>16}{_yuan(p.net_fen):>16}")
    return "\n".join(lines)


async def run_clearing_cli(dsn: str, month: str) -> int:
    """`medsettle clearing --month YYYYMM`: run (or show) the month's clearing; print the table."""
    from services.common.db import create_pool

    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        run = await run_clearing(pool, month, Clock().now())
    except Refusal as r:
        print(f"clearing refused: {r.message}")
        return 1
    finally:
        await pool.close()
    print(render(run))
    return 0
