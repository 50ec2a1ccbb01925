"""Cross-region filings (异地就医备案): CreateFiling (2501 from a hospital, or online), RevokeFiling
(2502), ChangeFiling, ListFilings.

Each change is one unit of work (unit_of_work.once: idempotent per msgid) and invalidates the
person's cached eligibility snapshot after it commits, before the reply goes back.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg

from services.engine.model import Policy, Pool
from services.filing import unit_of_work as uow
from services.filing.domain import (
    ACTIVE,
    LONG_TERM,
    REASON_CHANGED,
    REASON_REVOKED,
    REVOKED,
    SUPERSEDED,
    Caller,
    Filing,
    FilingRefused,
    FilingSpec,
)
from services.filing.repository import FilingRepository
from services.filing.rules import (
    check_change_allowed,
    check_insutype,
    check_owner,
    check_validity,
    dest_prefix,
    destination_inside_pool,
    destination_known,
    group_of,
    parse_date,
    required,
)

if TYPE_CHECKING:
    from services.filing.service import FilingService


# ----------------------------------------------------------------------------- CreateFiling (2501, online)


RETIRED_ONLY = "retired_relocated"


async def create_filing(svc: FilingService, caller: Caller, spec: FilingSpec, today: str = "") -> Filing:
    filed_on = parse_date(today, "today") if today else svc.today()
    psn_no = required(spec.psn_no, "filing.psn_no", "人员编号 psn_no")
    check_insutype(spec.insutype, "filing.insutype")
    begin = parse_date(required(spec.begin, "filing.begin", "开始日期"), "filing.begin")
    end = parse_date(spec.end, "filing.end") if spec.end else None
    group_of(spec.type)  # an unknown type is named before anything is looked up
    dest_prefix(spec.destination)
    insured = await _resolve_insured_pool(svc, psn_no, spec.insutype, spec.insured_pool, max(begin, filed_on))
    policy = _policy_for(svc, insured.code, spec.insutype, begin.year, filed_on.year)
    group = check_validity(spec.type, begin, end, policy.min_temporary_filing_days)
    _check_destination(svc, spec.destination, insured)
    if spec.type == RETIRED_ONLY:
        # 异地安置退休 is for retirees (DOMAIN §3): the enrollment's person type decides.
        psn_type = await svc.eligibility.psn_type(psn_no, spec.insutype, max(begin, filed_on))
        if psn_type != "retired":
            raise FilingRefused("refused", "NOT_RETIRED",
                                f"异地安置退休备案仅限退休人员, 参保人 {psn_no} 的人员类别为 {psn_type or '未知'}。 / A "
                                f"retired_relocated filing is for retirees only; person {psn_no} is {psn_type or 'unknown'}"
                                ".", "filing.type")
    source = "his" if caller.fixmedins_code else "online"
    fp = uow.fingerprint("create", **{k: getattr(spec, k) for k in FilingSpec.__slots__}, today=today)

    async def work(repo: FilingRepository) -> tuple[Filing, str]:
        if group == LONG_TERM:
            existing = await repo.active_long_term(psn_no, spec.insutype)
            if existing is not None:
                raise _second_long_term(existing)
        filing = Filing(
            filing_id=uow.new_filing_id(filed_on), psn_no=psn_no, insutype=spec.insutype,
            insured_pool=insured.code, type=spec.type, group=group, destination=spec.destination,
            begin=begin, end=end, status=ACTIVE, source=source, fixmedins_code=caller.fixmedins_code,
            diag_code=spec.diag_code, diag_name=spec.diag_name, msgid=caller.msgid, filed_on=filed_on)
        try:
            async with repo.savepoint():  # after a violation we still ask who won
                stored = await repo.insert_filing(filing)
        except asyncpg.UniqueViolationError as exc:
            # Two creates raced past the check above; the partial unique index decided.
            if exc.constraint_name == "filings_one_active_long_term":
                existing = await repo.active_long_term(psn_no, spec.insutype)
                raise _second_long_term(existing) from None
            raise
        return stored, stored.filing_id

    result = await uow.once(svc, caller, "create", psn_no, fp, work, uow.filing_to_json, uow.filing_from_json)
    await uow.notify_eligibility(svc, psn_no)
    return result


def _second_long_term(existing: Filing | None) -> FilingRefused:
    fid = existing.filing_id if existing else "?"
    dest = existing.destination if existing else "?"
    return FilingRefused(
        "conflict", "LONG_TERM_EXISTS",
        f"参保人已有有效的长期异地备案 {fid}（就医地 {dest}），同一险种只能有一个长期备案；请变更（满 6 个月后）"
        f"或先撤销原备案。 / The person already has an active long-term filing {fid} (destination {dest}); "
        "only one is allowed per insurance type: change it (after 6 months) or revoke it first.",
        "filing.type")


# ----------------------------------------------------------------------------- RevokeFiling (2502)


async def revoke_filing(svc: FilingService, caller: Caller, filing_id: str, psn_no: str = "") -> Filing:
    required(filing_id, "filing_id", "备案流水号 trt_dcla_detl_sn")
    fp = uow.fingerprint("revoke", filing_id=filing_id, psn_no=psn_no)

    async def work(repo: FilingRepository) -> tuple[Filing, str]:
        filing = await repo.filing(filing_id, for_update=True)
        if filing is None or (psn_no and filing.psn_no != psn_no):
            raise _not_found(filing_id)
        check_owner(caller.fixmedins_code, filing.fixmedins_code, filing_id)
        if filing.status != ACTIVE:
            raise FilingRefused(
                "refused", "FILING_NOT_ACTIVE",
                f"备案 {filing_id} 已{'撤销' if filing.status == REVOKED else '变更失效'}，无需再撤销。 / Filing "
                f"{filing_id} is already {filing.status}.", "filing_id")
        revoked = await repo.set_status(filing_id, REVOKED, REASON_REVOKED)
        return revoked, filing_id

    result = await uow.once(svc, caller, "revoke", psn_no, fp, work, uow.filing_to_json, uow.filing_from_json)
    await uow.notify_eligibility(svc, result.psn_no)
    return result


# ----------------------------------------------------------------------------- ChangeFiling


async def change_filing(svc: FilingService, caller: Caller, filing_id: str, destination: str = "", begin: str = "",
                        end: str = "", today: str = "") -> Filing:
    required(filing_id, "filing_id", "备案流水号")
    now = parse_date(today, "today") if today else svc.today()
    new_begin = parse_date(begin, "begin") if begin else None
    new_end = parse_date(end, "end") if end else None
    if destination:
        dest_prefix(destination)
    fp = uow.fingerprint("change", filing_id=filing_id, destination=destination, begin=begin, end=end, today=today)

    async def work(repo: FilingRepository) -> tuple[Filing, str]:
        old = await repo.filing(filing_id, for_update=True)
        if old is None:
            raise _not_found(filing_id)
        check_owner(caller.fixmedins_code, old.fixmedins_code, filing_id)
        check_change_allowed(old, now)
        b = new_begin or old.begin
        e = new_end if new_end is not None else old.end
        dest = destination or old.destination
        insured = svc.reference.pool(old.insured_pool)
        if insured is None:
            raise FilingRefused("refused", "POOL_NOT_CONFIGURED", f"参保地统筹区 {old.insured_pool} 已不存在。 / The "
                                f"insured pool {old.insured_pool} no longer exists.", "filing_id")
        policy = _policy_for(svc, old.insured_pool, old.insutype, b.year, now.year)
        group = check_validity(old.type, b, e, policy.min_temporary_filing_days, field_prefix="")
        _check_destination(svc, dest, insured, "destination")
        await repo.set_status(filing_id, SUPERSEDED, REASON_CHANGED)
        new = await repo.insert_filing(Filing(
            filing_id=uow.new_filing_id(now), psn_no=old.psn_no, insutype=old.insutype,
            insured_pool=old.insured_pool, type=old.type, group=group, destination=dest, begin=b, end=e,
            status=ACTIVE, source="his" if caller.fixmedins_code else "online",
            fixmedins_code=caller.fixmedins_code or old.fixmedins_code, diag_code=old.diag_code,
            diag_name=old.diag_name, msgid=caller.msgid, filed_on=now), changed_from=filing_id)
        await repo.set_status(filing_id, SUPERSEDED, REASON_CHANGED, new.filing_id)
        return new, new.filing_id

    result = await uow.once(svc, caller, "change", "", fp, work, uow.filing_to_json, uow.filing_from_json)
    await uow.notify_eligibility(svc, result.psn_no)
    return result


# ----------------------------------------------------------------------------- ListFilings


async def list_filings(svc: FilingService, psn_no: str, include_inactive: bool = False) -> list[Filing]:
    required(psn_no, "psn_no", "人员编号")
    async with svc.pool.acquire() as conn:
        return await FilingRepository(conn).filings_of(psn_no, include_inactive=include_inactive)


# ----------------------------------------------------------------------------- helpers


def _not_found(filing_id: str, field: str = "filing_id") -> FilingRefused:
    return FilingRefused("not_found", "UNKNOWN_FILING",
                         f"备案 {field} {filing_id} 不存在（或不属于该参保人）。 / No filing {filing_id} for this "
                         "person.", field)


def _policy_for(svc: FilingService, insured_pool: str, insutype: str, *years: int) -> Policy:
    for year in years:
        policy = svc.reference.policy(insured_pool, insutype, year)
        if policy is not None:
            return policy
    raise FilingRefused(
        "refused", "POLICY_MISSING",
        f"参保地 {insured_pool} 险种 {insutype} 没有 {years[0]} 年的医保政策，无法判断备案有效期。 / The insured "
        f"pool {insured_pool} has no {years[0]} policy for insutype {insutype}.", "filing.insured_pool")


def _check_destination(svc: FilingService, destination: str, insured_pool: Pool,
                       field: str = "filing.destination") -> None:
    dest_prefix(destination)
    known = {a for p in svc.reference.pools().values() for a in p.admdvs}
    if not destination_known(destination, known):
        raise FilingRefused(
            "invalid", "BAD_DESTINATION",
            f"备案就医地 {field} {destination} 不在任何已知的省份。 / Destination {destination} is in no "
            "known province.", field)
    if destination_inside_pool(destination, insured_pool):
        raise FilingRefused(
            "invalid", "BAD_DESTINATION",
            f"备案就医地 {destination} 在参保人的统筹区 {insured_pool.code}（{insured_pool.name}）内，统筹区内就医无需"
            f"备案。 / Destination {destination} lies inside the insured pool {insured_pool.code}: no filing "
            "is needed there.", field)


async def _resolve_insured_pool(svc: FilingService, psn_no: str, insutype: str, given: str,
                                on_date: dt.date) -> Pool:
    code = given or await svc.eligibility.insured_pool(psn_no, insutype, on_date)
    pool = svc.reference.pool(code) if code else None
    if pool is None:
        if given:
            raise FilingRefused("invalid", "UNKNOWN_POOL",
                                f"参保地统筹区 insured_pool {given} 不存在。 / Unknown insured pool {given}.",
                                "filing.insured_pool")
        raise FilingRefused("refused", "NOT_ENROLLED",
                            f"参保人 {psn_no} 在 {on_date} 没有险种 {insutype} 的参保记录，不能办理异地备案。 / "
                            f"Person {psn_no} has no {insutype} enrollment on {on_date}.", "filing.psn_no")
    return pool
