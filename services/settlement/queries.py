"""Read-only questions: 5203 a settlement (by setl_id, or the visit's latest), 5206 a person's
accumulators for a year with the personal account balance."""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.common.grpcutil import Refusal, forbidden, invalid
from services.settlement import checks
from services.settlement.domain import CST, Accumulator, AccumulatorReport, SettlementLookup, SettlementReply
from services.settlement.ports import EligibilityService, Now
from services.settlement.repository import SettlementRepository, connection

LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 50, 200  # ListPersonSettlements
TREATS_RECENT_DAYS = 30  # 5206: a visit begun this many days ago still lets the hospital ask


class Queries:
    def __init__(self, pool: asyncpg.Pool, eligibility: EligibilityService, clock: Now) -> None:
        self.pool = pool
        self.autocommit = SettlementRepository(pool)
        self.eligibility = eligibility
        self.clock = clock

    async def get_settlement(self, q: SettlementLookup) -> SettlementReply:
        async with connection(self.pool) as repo:
            if q.setl_id:
                s = await repo.settlement(q.setl_id)
            elif q.mdtrt_id:
                s = await repo.settlement_of_visit(q.mdtrt_id)
            else:
                raise invalid("FIELD_REQUIRED", "请提供 setl_id 或 mdtrt_id。 / setl_id or mdtrt_id is required.",
                              "setl_id")
            if s is None or (q.fixmedins_code and s.fixmedins_code != q.fixmedins_code):
                # another hospital's settlement is answered exactly as an unknown one
                raise checks.settlement_not_found(q.setl_id or q.mdtrt_id, "setl_id" if q.setl_id else "mdtrt_id")
            if q.psn_no and s.psn_no != q.psn_no:
                raise invalid("PSN_MISMATCH", "人员编号与结算不符。 / psn_no does not match the settlement.", "psn_no")
            return SettlementReply(s, await repo.settlement_funds(s.setl_id))

    async def person_settlements(self, psn_no: str, year: int = 0, limit: int = 0) -> list[SettlementReply]:
        """The person's own settlements (the patient's pages), newest first, each with its fund
        lines and explanation; reversed and cancelled ones too (their setlinfo.status says so:
        settled | cancelled | reversal, reverses_setl_id names what a reversal undoes)."""
        if not psn_no:
            raise invalid("FIELD_REQUIRED", "缺少人员编号 psn_no。 / psn_no is required.", "psn_no")
        if year and not 2000 <= year <= 2100:
            raise invalid("INVALID_YEAR", f"年度 {year} 无效。 / year must be 2000–2100 (or 0 for every year).", "year")
        if limit < 0:
            raise invalid("INVALID_LIMIT", "limit 不能为负。 / limit must not be negative.", "limit")
        limit = min(limit or LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)
        rows = await self.autocommit.person_settlements(psn_no, year, limit)
        funds = await self.autocommit.funds_of([s.setl_id for s in rows]) if rows else {}
        return [SettlementReply(s, funds.get(s.setl_id, ())) for s in rows]

    async def get_accumulators(self, psn_no: str, insutype: str = "", year: int = 0,
                               hospital: str = "") -> AccumulatorReport:
        """5206 to `hospital` only for a person it treats (DOMAIN.md §6a); empty hospital: the
        patient's own portal or an operator (the gateway decides who may ask so)."""
        if not psn_no:
            raise invalid("FIELD_REQUIRED", "缺少人员编号 psn_no。 / psn_no is required.", "psn_no")
        if hospital:
            await self._require_treats(psn_no, hospital)
        this_year = self.clock().astimezone(CST).year
        year = year or this_year
        insutype = insutype or "390"
        acc = await self.autocommit.read_accumulators(psn_no, insutype, year)
        balance = 0
        if "acct:used" in acc.caps:
            balance = acc.account_balance(None)
        elif insutype == "310":
            try:
                on = dt.date(year, 12, 31) if year != this_year else self.clock().astimezone(CST).date()
                snap = await self.eligibility.snapshot(psn_no, insutype, on)
                balance = snap.person.account_balance_fen - int(acc.data.get("acct:used", 0))
            except Refusal:
                pass  # no enrollment that day: the balance is unknown, reported as 0
        return AccumulatorReport(
            psn_no=psn_no, insutype=insutype, year=year, account_balance_fen=balance,
            accumulators=tuple(Accumulator(key, int(acc.data[key]), int(acc.caps[key]) if key in acc.caps else -1)
                               for key in sorted(acc.data)))

    async def _require_treats(self, psn_no: str, hospital: str) -> None:
        # visits.begntime is naive Beijing wall-clock time
        since = (self.clock().astimezone(CST) - dt.timedelta(days=TREATS_RECENT_DAYS)).replace(tzinfo=None)
        if await self.autocommit.treats(psn_no, hospital, since):
            return
        try:
            if await self.eligibility.presented(psn_no, hospital):
                return
        except Refusal:
            pass  # eligibility unreachable: refused like any person not treated here
        # The same answer whether or not the person exists.
        raise forbidden("NOT_TREATED_HERE", "本机构无该人员的在院或近期就诊, 也无其出示凭证 (1101) 的记录, 不能查询"
                        "累计信息。 / This hospital has no open or recent visit of, nor a certificate presented "
                        "(1101) by, this psn_no: accumulators are answered only for a person it treats.", "psn_no")
