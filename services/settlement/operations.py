"""The operators' read-only questions (the console, docs/CONSOLE.md), across hospitals: the
settlements by hospital, pool, state and date; one settlement's whole story (found by any msgid of
its visit, or its setl_id); per hospital and day what 3201 would count; the clearing runs.

Nothing here writes. Bad input is INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.grpcutil import invalid, not_found
from services.settlement.domain import CST, ClearingRun, FeeLine, Settlement, SettlementReply, Transaction, Visit
from services.settlement.repository import OperatorReads

LIMIT_DEFAULT, LIMIT_MAX = 50, 500
DAYS_MAX = 92
RUNS_DEFAULT, RUNS_MAX = 24, 120
STATUSES = ("settled", "cancelled", "reversal")


@dataclass(frozen=True, slots=True)
class SettlementFilter:
    fixmedins_code: str = ""
    insured_pool: str = ""
    status: str = ""
    date_from: str = ""
    date_to: str = ""
    msgid: str = ""
    limit: int = 0


@dataclass(frozen=True, slots=True)
class JournalLine:
    msgid: str
    infno: str
    effect: str
    setl_id: str
    created_at: dt.datetime
    reversed_by: str


@dataclass(frozen=True, slots=True)
class LedgerLine:
    setl_id: str
    entry_no: int
    transfer_no: int
    leg: str
    account: str
    fund_pay_type: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Story:
    settlement: SettlementReply
    reply: bytes                      # the journal's stored reply of the settling msgid ('' if none)
    visit: Visit | None
    fees: tuple[FeeLine, ...]
    ledger: tuple[LedgerLine, ...]
    journal: tuple[JournalLine, ...]
    reversal: SettlementReply | None
    found_by: str


@dataclass(frozen=True, slots=True)
class DailyTotal:
    fixmedins_code: str
    setl_date: dt.date
    insutype: str
    clr_type: str
    setl_cnt: int
    reversed_cnt: int
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    acct_pay_fen: int
    psn_cash_pay_fen: int


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    clr_appy_evt_id: str
    fixmedins_code: str
    setlym: str
    status: str
    memo: str
    psntime: int
    medfee_sumamt_fen: int
    fund_appy_sum_fen: int
    platform_psntime: int
    platform_medfee_fen: int
    platform_fund_fen: int
    created_at: dt.datetime


def _date(name: str, text: str, *, required: bool = False) -> dt.date | None:
    if not text:
        if required:
            raise invalid("FIELD_REQUIRED", f"缺少 {name} (yyyy-MM-dd)。 / {name} is required (yyyy-MM-dd).", name)
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise invalid("BAD_DATE", f"{name} 应为 yyyy-MM-dd，收到 {text[:20]!r}。 / {name} must be yyyy-MM-dd.",
                      name) from None


def _text(name: str, text: str, max_len: int) -> str:
    text = (text or "").strip()
    if len(text) > max_len:
        raise invalid("INVALID_INPUT", f"{name} 超过 {max_len} 位。 / {name} is longer than {max_len}.", name)
    return text


class Operations:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.reads = OperatorReads(pool)

    async def settlements(self, q: SettlementFilter) -> list[Settlement]:
        if q.status and q.status not in STATUSES:
            raise invalid("INVALID_INPUT", f"status 应为 {' | '.join(STATUSES)}。 / status must be one of "
                          f"{', '.join(STATUSES)}.", "status")
        if not 0 <= q.limit <= LIMIT_MAX:
            raise invalid("INVALID_LIMIT", f"limit 应为 0–{LIMIT_MAX}。 / limit must be 0..{LIMIT_MAX}.", "limit")
        begin, end = _date("date_from", q.date_from), _date("date_to", q.date_to)
        if begin and end and end < begin:
            raise invalid("BAD_DATE", "结束日期早于开始日期。 / date_to is before date_from.", "date_to")
        return await self.reads.settlements(_text("fixmedins_code", q.fixmedins_code, 30),
                                            _text("insured_pool", q.insured_pool, 12), q.status, begin, end,
                                            _text("msgid", q.msgid, 60), q.limit or LIMIT_DEFAULT)

    async def story(self, fixmedins_code: str, msgid: str, setl_id: str) -> Story:
        code, msgid, setl_id = (_text("fixmedins_code", fixmedins_code, 30), _text("msgid", msgid, 60),
                                _text("setl_id", setl_id, 60))
        found_by = ""
        if setl_id:
            s = await self.reads.repo.settlement(setl_id)
            if s is None:
                raise not_found("SETTLEMENT_NOT_FOUND", f"结算 {setl_id} 不存在。 / No settlement {setl_id}.",
                                "setl_id")
        elif msgid:
            if not code:
                raise invalid("FIELD_REQUIRED", "按报文 ID 查询需要机构编码。 / fixmedins_code is required with msgid.",
                              "fixmedins_code")
            entry = await self.reads.journal_entry(code, msgid)
            if entry is None:
                raise not_found("MSGID_NOT_FOUND", f"{code} 没有报文 {msgid} 的记录。 / No recorded transaction "
                                f"{msgid} of {code}.", "msgid")
            t = entry[0]
            s = await self._settlement_of(t)
            if s is None:
                raise not_found("SETTLEMENT_NOT_FOUND", f"报文 {msgid} ({t.infno}) 的就诊没有结算。 / The visit of "
                                f"{msgid} ({t.infno}) has no settlement.", "msgid")
            found_by = f"{msgid} ({t.infno})"
        else:
            raise invalid("FIELD_REQUIRED", "请提供报文 ID 或结算 ID。 / msgid or setl_id is required.", "msgid")
        original = s
        if s.reverses_setl_id:  # a reversal row: tell the original's story
            original = await self.reads.repo.settlement(s.reverses_setl_id) or s
        reversal = await self.reads.reversal_of(original.setl_id) if original.status == "cancelled" else None
        ids = [original.setl_id] + ([reversal.setl_id] if reversal else [])
        funds = await self.reads.repo.funds_of(ids)
        entry = await self.reads.journal_entry(original.fixmedins_code, original.msgid)
        journal = await self.reads.journal_of_visit(original.fixmedins_code, original.mdtrt_id)
        return Story(
            settlement=SettlementReply(original, funds.get(original.setl_id, ())),
            reply=entry[0].reply if entry else b"", visit=await self.reads.repo.visit(original.mdtrt_id),
            fees=tuple(await self.reads.fees(original.mdtrt_id)),
            ledger=tuple(LedgerLine(*r) for r in await self.reads.ledger(ids)),
            journal=tuple(JournalLine(t.msgid, t.infno, t.effect, t.setl_id, at, t.reversed_by or "")
                          for t, at in journal),
            reversal=SettlementReply(reversal, funds.get(reversal.setl_id, ())) if reversal else None,
            found_by=found_by or original.setl_id)

    async def _settlement_of(self, t: Transaction) -> Settlement | None:
        if t.setl_id:
            s = await self.reads.repo.settlement(t.setl_id)
            if s is not None:
                return s
        if t.mdtrt_id:
            return await self.reads.repo.settlement_of_visit(t.mdtrt_id)
        return None

    async def daily_totals(self, fixmedins_code: str, date_from: str, date_to: str
                           ) -> tuple[list[DailyTotal], list[ApplicationRow]]:
        begin, end = _date("date_from", date_from, required=True), _date("date_to", date_to, required=True)
        assert begin is not None and end is not None
        if end < begin:
            raise invalid("BAD_DATE", "结束日期早于开始日期。 / date_to is before date_from.", "date_to")
        if (end - begin).days > DAYS_MAX:
            raise invalid("INVALID_RANGE", f"最多 {DAYS_MAX} 天。 / at most {DAYS_MAX} days.", "date_to")
        code = _text("fixmedins_code", fixmedins_code, 30)
        days = [DailyTotal(*r) for r in await self.reads.daily(code, begin, end)]
        months = sorted({f"{begin.year + (begin.month - 1 + i) // 12}{(begin.month - 1 + i) % 12 + 1:02d}"
                         for i in range((end.year - begin.year) * 12 + end.month - begin.month + 1)})
        apps = [ApplicationRow(*r) for r in await self.reads.applications(code, months)]
        return days, apps

    async def clearing_runs(self, limit: int) -> list[ClearingRun]:
        if not 0 <= limit <= RUNS_MAX:
            raise invalid("INVALID_LIMIT", f"limit 应为 0–{RUNS_MAX}。 / limit must be 0..{RUNS_MAX}.", "limit")
        out = []
        for setlym in await self.reads.run_months(limit or RUNS_DEFAULT):
            run = await self.reads.repo.clearing_run(setlym)
            if run is not None:
                out.append(run)
        return out


def beijing(at: dt.datetime) -> str:
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def as_dict(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
