"""Chronic-disease filings (门慢特病备案): FileChronic (2503), CancelChronic (2504), QueryChronic (5301).

A chronic filing creates / ends the eligibility service's qualification BEFORE the transaction
commits, so an eligibility refusal leaves nothing stored; the person's cached eligibility is
invalidated after the commit, before the reply goes back.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg

from services.filing import unit_of_work as uow
from services.filing.domain import ACTIVE, Caller, ChronicFiling, FilingRefused
from services.filing.repository import FilingRepository
from services.filing.rules import check_disease_code, check_insutype, check_owner, parse_date, required

if TYPE_CHECKING:
    from services.filing.service import FilingService


# ----------------------------------------------------------------------------- FileChronic (2503)


async def file_chronic(svc: FilingService, caller: Caller, psn_no: str, insutype: str, code: str, name: str = "",
                       ide_fixmedins_no: str = "", begndate: str = "", enddate: str = "") -> ChronicFiling:
    required(psn_no, "psn_no", "人员编号")
    check_insutype(insutype)
    check_disease_code(code)
    today = svc.today()
    begin = parse_date(begndate, "begndate") if begndate else today
    end = parse_date(enddate, "enddate") if enddate else None
    if end is not None and end < begin:
        raise FilingRefused("invalid", "END_BEFORE_BEGIN", f"结束日期 enddate {end} 早于开始日期 begndate {begin}。 / "
                            f"enddate {end} is before begndate {begin}.", "enddate")
    hospital = ide_fixmedins_no or caller.fixmedins_code
    fp = uow.fingerprint("chronic_file", psn_no=psn_no, insutype=insutype, code=code, name=name,
                         ide_fixmedins_no=ide_fixmedins_no, begndate=begndate, enddate=enddate)

    async def work(repo: FilingRepository) -> tuple[ChronicFiling, str]:
        existing = await repo.active_chronic(psn_no, insutype, code)
        if existing is not None:
            raise _chronic_exists(existing)
        # The row first (its unique index settles a race without granting twice), then the
        # qualification at eligibility before we commit: if eligibility refuses, the
        # transaction rolls back and nothing is stored.
        try:
            async with repo.savepoint():  # after a violation we still ask who won
                stored = await repo.insert_chronic(ChronicFiling(
                    filing_id=uow.new_chronic_id(today), psn_no=psn_no, insutype=insutype, opsp_dise_code=code,
                    opsp_dise_name=name, ide_fixmedins_no=hospital, begndate=begin, enddate=end,
                    status=ACTIVE, fixmedins_code=caller.fixmedins_code, msgid=caller.msgid))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "chronic_one_active":
                raise _chronic_exists(await repo.active_chronic(psn_no, insutype, code)) from None
            raise
        qualification_id = await svc.eligibility.grant_chronic(psn_no, code, begin, end, hospital)
        stored = await repo.set_qualification(stored.filing_id, qualification_id)
        return stored, stored.filing_id

    result = await uow.once(svc, caller, "chronic_file", psn_no, fp, work, uow.chronic_to_json,
                            uow.chronic_from_json)
    await uow.notify_eligibility(svc, psn_no)
    return result


def _chronic_exists(existing: ChronicFiling | None) -> FilingRefused:
    fid = existing.filing_id if existing else "?"
    return FilingRefused(
        "conflict", "CHRONIC_ALREADY_FILED",
        f"参保人已有该病种的有效门慢特病备案 {fid}，无需重复备案。 / The person already has an active chronic "
        f"filing {fid} for this disease.", "opsp_dise_code")


# ----------------------------------------------------------------------------- CancelChronic (2504)


async def cancel_chronic(svc: FilingService, caller: Caller, psn_no: str, filing_id: str = "",
                         code: str = "") -> ChronicFiling:
    if not filing_id and not code:
        raise FilingRefused("invalid", "FIELD_REQUIRED", "撤销门慢特病备案须填写备案号 filing_id 或病种编码 "
                            "opsp_dise_code。 / Give filing_id or opsp_dise_code.", "filing_id")
    if code:
        check_disease_code(code)
    today = svc.today()
    fp = uow.fingerprint("chronic_cancel", psn_no=psn_no, filing_id=filing_id, code=code)

    async def work(repo: FilingRepository) -> tuple[ChronicFiling, str]:
        if filing_id:
            chronic = await repo.chronic_for_update(filing_id)
            if chronic is None or (psn_no and chronic.psn_no != psn_no) or (code and chronic.opsp_dise_code != code):
                raise FilingRefused("not_found", "UNKNOWN_FILING", f"门慢特病备案 filing_id {filing_id} 不存在（或不属"
                                    f"于该参保人）。 / No chronic filing {filing_id} for this person.", "filing_id")
        else:
            required(psn_no, "psn_no", "人员编号")
            found = await repo.active_chronic_by_code_for_update(psn_no, code)
            if not found:
                raise FilingRefused("not_found", "UNKNOWN_FILING", f"参保人 {psn_no} 没有病种 {code} 的有效门慢特病"
                                    f"备案。 / No active chronic filing for {code}.", "opsp_dise_code")
            if len(found) > 1:
                raise FilingRefused("invalid", "AMBIGUOUS_FILING", f"病种 {code} 有 {len(found)} 条有效备案（不同险种），"
                                    "请填写备案号 filing_id。 / Several active filings for this disease: give "
                                    "filing_id.", "filing_id")
            chronic = found[0]
        check_owner(caller.fixmedins_code, chronic.fixmedins_code, chronic.filing_id)
        return await end_chronic(svc, repo, chronic, today, "cancelled"), chronic.filing_id

    result = await uow.once(svc, caller, "chronic_cancel", psn_no, fp, work, uow.chronic_to_json,
                            uow.chronic_from_json)
    await uow.notify_eligibility(svc, result.psn_no)
    return result


async def end_chronic(svc: FilingService, repo: FilingRepository, chronic: ChronicFiling, today: dt.date,
                      reason: str) -> ChronicFiling:
    """End an active chronic filing and its qualification (2504, or 2601 of its 2503)."""
    if chronic.status != ACTIVE:
        raise FilingRefused("refused", "FILING_NOT_ACTIVE", f"门慢特病备案 {chronic.filing_id} 已撤销。 / Chronic "
                            f"filing {chronic.filing_id} is already cancelled.", "filing_id")
    # The qualification ends yesterday: from today the disease no longer settles as 14.
    end = today - dt.timedelta(days=1)
    await svc.eligibility.revoke_chronic(chronic.psn_no, chronic.opsp_dise_code, end)
    stored_end = end if end >= chronic.begndate else chronic.begndate
    return await repo.cancel_chronic(chronic.filing_id, stored_end, reason)


# ----------------------------------------------------------------------------- QueryChronic (5301)


async def query_chronic(svc: FilingService, psn_no: str, insutype: str = "") -> list[ChronicFiling]:
    required(psn_no, "psn_no", "人员编号")
    if insutype:
        check_insutype(insutype)
    async with svc.pool.acquire() as conn:
        return await FilingRepository(conn).active_chronic_of(psn_no, insutype)
