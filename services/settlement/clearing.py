"""Monthly clearing (清算, DOMAIN.md §6) and the hospitals' clearing applications (3203).

Cross-region fund payments, and personal-account payments made outside the insured pool, are
advanced by the treatment pool; each month the insured pool owes the treatment pool what it
advanced. A run computes, from the ledger's "advance" legs of that clearing month, one statement
per (insured pool → treatment pool) — fund payments, account payments on their own line, and
what was carried over into the month — and each pool's multilateral net position (receivable −
payable over both; they sum to zero). A run is made once per month and never recomputed: a second
request returns the stored run (replayed=true).

A run freezes its month (DOMAIN.md §6): every booking of a settlement or reversal takes the
month's advisory lock shared and, once the month has a run, goes into the next open month instead,
marked carried over (the triggers of infra/migrations/settlement/0010_frozen_clearing_month.sql,
inside the booking's transaction, whatever path books it). So a stored run always equals what
the ledger says of its month, and nothing is refused for being late.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets

import asyncpg

from services.common.clock import Clock as BusinessClock
from services.common.grpcutil import Refusal, invalid, refused
from services.common.journal import Journal, JournalRequest, Replayed
from services.settlement import checks
from services.settlement.domain import (
    CST,
    ClearingApplication,
    ClearingApplicationOrder,
    ClearingRun,
    Effect,
    JournalNote,
    NetPosition,
    yuan,
)
from services.settlement.ports import Now, Reference
from services.settlement.repository import SettlementRepository, connection

_MONTH = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")


def check_month(setlym: str, field: str = "setlym") -> str:
    if not _MONTH.match(setlym or ""):
        raise invalid("BAD_MONTH", f"{field} 应为 yyyyMM（如 202605），收到 {setlym!r}。 / {field} must be yyyyMM.", field)
    return setlym


def net_positions(statements: list[tuple[str, str, int, int]]) -> list[tuple[str, int, int, int]]:
    """Multilateral netting of (insured, treatment, count, owed): per pool, receivable (as treatment
    pool) and payable (as insured pool)."""
    recv: dict[str, int] = {}
    pay: dict[str, int] = {}
    for insured, treatment, _, fund in statements:
        pay[insured] = pay.get(insured, 0) + fund
        recv[treatment] = recv.get(treatment, 0) + fund
    return [(p, recv.get(p, 0), pay.get(p, 0), recv.get(p, 0) - pay.get(p, 0)) for p in sorted(set(recv) | set(pay))]


class Clearing:
    def __init__(self, pool: asyncpg.Pool, journal: Journal[SettlementRepository], refs: Reference,
                 clock: Now) -> None:
        self.pool = pool
        self.journal = journal
        self.refs = refs
        self.clock = clock

    async def apply_clearing(self, request: JournalRequest, a: ClearingApplicationOrder) -> ClearingApplication | Replayed:
        """3203: record the hospital's application (journaled) and compare it with the platform's figures."""
        checks.hospital(self.refs, request.hospital)
        check_month(a.setlym)

        async def work(repo: SettlementRepository):
            return await apply_clearing(repo, request.hospital, request.msgid, a), JournalNote()

        return await self.journal.run(request, Effect.APPLY_CLEARING, work)

    async def run_clearing(self, setlym: str) -> ClearingRun:
        return await run_clearing(self.pool, setlym, self.clock())


async def run_clearing(pool: asyncpg.Pool, setlym: str, now: dt.datetime) -> ClearingRun:
    check_month(setlym)
    if setlym >= now.astimezone(CST).strftime("%Y%m"):
        raise refused("MONTH_NOT_ENDED", f"{setlym} 月尚未结束，月度清算须在次月进行。 / The month {setlym} has not "
                      "ended; clear it next month.", "setlym")
    async with connection(pool) as repo:
        run = await repo.clearing_run(setlym)
        if run is not None:
            return dataclasses.replace(run, replayed=True)
        async with repo.transaction():
            # Exclusive: waits for in-flight cancellations of this month, and for a concurrent run.
            await repo.lock_month(setlym)
            run = await repo.clearing_run(setlym)
            if run is not None:
                return dataclasses.replace(run, replayed=True)
            statements = await repo.statements_from_ledger(setlym)
            positions = [NetPosition(*p) for p in net_positions(
                [(s.insured_pool, s.treatment_pool, s.settlement_count, s.owed_fen) for s in statements])]
            await repo.insert_clearing_run(f"CLR{setlym}{secrets.token_hex(4)}", setlym, statements, positions, now)
            run = await repo.clearing_run(setlym)
            assert run is not None  # inserted just above, in this transaction
            return run


async def apply_clearing(repo: SettlementRepository, code: str, msgid: str,
                         a: ClearingApplicationOrder) -> ClearingApplication:
    setlym = check_month(a.setlym)
    mine = await repo.platform_month(code, setlym, a.clr_type)
    diffs = []
    for label, field, p_val, h_val, money in (
            ("人次", "psntime", mine.psntime, a.psntime, False),
            ("医疗费总额", "medfee_sumamt", mine.medfee, a.medfee_sumamt_fen, True),
            ("基金申报金额", "fund_appy_sum", mine.fund, a.fund_appy_sum_fen, True),
            ("现金支付", "cash_payamt", mine.cash, a.cash_payamt_fen, True),
            ("个人账户支付", "acct_pay", mine.acct, a.acct_pay_fen, True)):
        if p_val != h_val:
            show = yuan if money else str
            diffs.append(f"{label} {field}: 平台 platform {show(p_val)} / 医院 hospital {show(h_val)}")
    status = "mismatch" if diffs else "accepted"
    memo = (f"{setlym} 清算申请与平台结算数据不符：" + "；".join(diffs) + "。请先 3201/3202 对账。 / The application "
            "differs from the platform's settlements; reconcile first.") if diffs else \
        (f"{setlym} 清算申请已受理：{mine.psntime} 人次，基金 {yuan(mine.fund)} 元。 / Accepted; it matches the "
         "platform's settlements.")
    evt = f"CA{setlym}{secrets.token_hex(5)}"
    await repo.insert_clearing_application(evt, code, msgid, a, mine, status, memo)
    return ClearingApplication(clr_appy_evt_id=evt, status=status, memo=memo, medfee_sumamt_fen=mine.medfee,
                               fund_appy_sum_fen=mine.fund, psntime=mine.psntime)


def render(run: ClearingRun) -> str:
    lines = [f"clearing run {run.run_id} for {run.setlym}" + (" (already run: stored result)" if run.replayed else ""),
             f"{'insured pool (owes)':<22}{'treatment pool (owed)':<24}{'count':>8}{'fund (yuan)':>16}"
             f"{'account (yuan)':>16}{'carried over':>14}{'of which (yuan)':>17}"]
    for s in run.statements:
        lines.append(f"{s.insured_pool:<22}{s.treatment_pool:<24}{s.settlement_count:>8}{yuan(s.fund_fen):>16}"
                     f"{yuan(s.acct_fen):>16}{s.carried_over_count:>14}{yuan(s.carried_over_fen):>17}")
    if not run.statements:
        lines.append("(no cross-region fund or account payments this month)")
    lines.append("")
    lines.append(f"{'pool':<22}{'receivable':>16}{'payable':>16}{'net':>16}")
    for p in run.positions:
        lines.append(f"{p.pool:<22}{yuan(p.receivable_fen):>16}{yuan(p.payable_fen):>16}{yuan(p.net_fen):>16}")
    return "\n".join(lines)


async def run_clearing_cli(dsn: str, month: str) -> int:
    """`medsettle clearing --month YYYYMM`: run (or show) the month's clearing; print the table."""
    from services.common.db import create_pool

    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        run = await run_clearing(pool, month, BusinessClock().now())
    except Refusal as r:
        print(f"clearing refused: {r.message}")
        return 1
    finally:
        await pool.close()
    print(render(run))
    return 0
