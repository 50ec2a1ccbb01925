"""Reconciliation (对账, DOMAIN.md §6): the hospital's figures against the platform's own.

3201 compares totals for a hospital and a date range (optionally one insurance type, clearing
type and insured pool); 3202 compares row by row. "The platform's figures" are settled minus
reversed: a reversal row carries negated amounts and counts −1.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.common.grpcutil import invalid
from services.settlement import checks
from services.settlement.domain import (
    DetailReport,
    DetailResult,
    DetailStatement,
    TotalsReport,
    TotalsStatement,
    yuan,
)
from services.settlement.ports import Reference
from services.settlement.repository import SettlementRepository, connection

AGREE, MISMATCH, MISSING_ON_PLATFORM, MISSING_AT_HOSPITAL = "0", "1", "2", "3"


def _dates(beg: str, end: str) -> tuple[dt.date, dt.date]:
    out = []
    for name, text in (("stmt_begndate", beg), ("stmt_enddate", end)):
        try:
            out.append(dt.date.fromisoformat((text or "")[:10]))
        except ValueError:
            raise invalid("BAD_DATE", f"{name} 应为 yyyy-MM-dd，收到 {text!r}。 / {name} must be yyyy-MM-dd.",
                          name) from None
    if out[1] < out[0]:
        raise invalid("BAD_DATE", "对账结束日期早于开始日期。 / stmt_enddate is before stmt_begndate.", "stmt_enddate")
    return out[0], out[1]


class Reconciliation:
    def __init__(self, pool: asyncpg.Pool, refs: Reference) -> None:
        self.pool = pool
        self.refs = refs

    async def reconcile_totals(self, code: str, st: TotalsStatement) -> TotalsReport:
        checks.hospital(self.refs, code)
        async with connection(self.pool) as repo:
            return await reconcile_totals(repo, code, st)

    async def reconcile_detail(self, code: str, st: DetailStatement) -> DetailReport:
        checks.hospital(self.refs, code)
        async with connection(self.pool) as repo:
            return await reconcile_detail(repo, code, st)


async def reconcile_totals(repo: SettlementRepository, code: str, st: TotalsStatement) -> TotalsReport:
    beg, end = _dates(st.stmt_begndate, st.stmt_enddate)
    row = await repo.platform_totals(code, beg, end, insutype=st.insutype, clr_type=st.clr_type,
                                     insured_pool=st.setl_optins)
    diffs = []
    for label, field, mine, theirs, money in (
            ("结算笔数", "fixmedins_setl_cnt", row.setl_cnt, st.fixmedins_setl_cnt, False),
            ("医疗费总额", "medfee_sumamt", row.medfee, st.medfee_sumamt_fen, True),
            ("基金支付总额", "fund_pay_sumamt", row.fund, st.fund_pay_sumamt_fen, True),
            ("个人账户支付总额", "acct_pay", row.acct, st.acct_pay_fen, True)):
        if mine != theirs:
            show = yuan if money else str
            diffs.append(f"{label} {field}: 平台 platform {show(mine)}，医院 hospital {show(theirs)}，"
                         f"差额 difference {show(theirs - mine)}")
    scope = f"{code} {beg}～{end}" + "".join(f" {k}={v}" for k, v in (
        ("insutype", st.insutype), ("clr_type", st.clr_type), ("setl_optins", st.setl_optins)) if v)
    if diffs:
        dscr = f"对账不一致 ({scope})：" + "；".join(diffs) + "。请用 3202 明细对账查找差异。 / Totals disagree; " \
               "run 3202 detail reconciliation to find the rows."
    else:
        dscr = (f"对账一致 ({scope})：{row.setl_cnt} 笔，医疗费 {yuan(row.medfee)} 元，基金 {yuan(row.fund)} 元，"
                f"个人账户 {yuan(row.acct)} 元。 / Totals agree.")
    return TotalsReport(setl_optins=st.setl_optins, stmt_rslt="1" if diffs else "0", stmt_rslt_dscr=dscr,
                        medfee_sumamt_fen=row.medfee, fund_pay_sumamt_fen=row.fund, acct_pay_fen=row.acct,
                        setl_cnt=row.setl_cnt)


async def reconcile_detail(repo: SettlementRepository, code: str, st: DetailStatement) -> DetailReport:
    beg, end = _dates(st.stmt_begndate, st.stmt_enddate)
    platform = {r.setl_id: r for r in await repo.platform_rows(code, beg, end, insutype=st.insutype,
                                                                clr_type=st.clr_type)}
    seen: set[str] = set()
    for i, row in enumerate(st.rows):
        if not row.setl_id:
            raise invalid("FIELD_REQUIRED", f"第 {i + 1} 行缺少 setl_id。 / setl_id is required.", f"rows[{i}].setl_id")
        if row.setl_id in seen:
            raise invalid("DUPLICATE_ROW", f"结算 {row.setl_id} 重复出现。 / Duplicate setl_id.", f"rows[{i}].setl_id")
        seen.add(row.setl_id)
    elsewhere = await repo.whereabouts(s for s in seen if s not in platform)
    results: list[DetailResult] = []
    for row in st.rows:
        mine = platform.get(row.setl_id)
        if mine is None:
            other = elsewhere.get(row.setl_id)
            if other is None or other.fixmedins_code != code:
                memo = f"平台无此结算 {row.setl_id}（本机构未在平台结算过该笔）。 / Missing on the platform: no settlement " \
                       f"{row.setl_id} of this hospital."
            elif other.reverses_setl_id is not None:
                memo = f"{row.setl_id} 在平台是冲销记录（冲销 {other.reverses_setl_id}），请按原结算号对账并置 " \
                       f"refd_setl_flag=1。 / On the platform {row.setl_id} is a reversal of {other.reverses_setl_id}."
            else:
                memo = f"平台结算 {row.setl_id} 的结算日期为 {other.setl_date}，不在对账区间 {beg}～{end} 或筛选条件内。" \
                       f" / On the platform {row.setl_id} is dated {other.setl_date}, outside this statement."
            results.append(DetailResult(row.setl_id, MISSING_ON_PLATFORM, memo))
            continue
        diffs = []
        for field, p_val, h_val in (("medfee_sumamt", mine.medfee_sumamt, row.medfee_sumamt_fen),
                                    ("fund_pay_sumamt", mine.fund_pay_sumamt, row.fund_pay_sumamt_fen),
                                    ("acct_pay", mine.acct_pay, row.acct_pay_fen)):
            if p_val != h_val:
                diffs.append(f"{field} 平台 platform {yuan(p_val)} / 医院 hospital {yuan(h_val)}")
        p_refd = "1" if mine.status == "cancelled" else "0"
        h_refd = row.refd_setl_flag or "0"
        if p_refd != h_refd:
            diffs.append(f"refd_setl_flag 平台 platform {p_refd}（{'已撤销 cancelled' if p_refd == '1' else '有效 in force'}）"
                         f" / 医院 hospital {h_refd}")
        if diffs:
            results.append(DetailResult(row.setl_id, MISMATCH, "金额或状态不符 mismatch：" + "；".join(diffs)))
        else:
            results.append(DetailResult(row.setl_id, AGREE, "一致 agree"))
    for setl_id, mine in platform.items():
        if setl_id not in seen:
            results.append(DetailResult(
                setl_id, MISSING_AT_HOSPITAL,
                f"医院未报送平台结算 {setl_id}（{mine.setl_date}，就诊 {mine.mdtrt_id}，医疗费 "
                f"{yuan(mine.medfee_sumamt)} 元，基金 {yuan(mine.fund_pay_sumamt)} 元）。 / "
                f"Missing at the hospital: platform settlement {setl_id}."))
    agreed = sum(1 for r in results if r.stmt_rslt == AGREE)
    return DetailReport(results=tuple(results), agreed=agreed, disagreed=len(results) - agreed)
