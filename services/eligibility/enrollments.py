"""Writing enrollments and identities: UpsertEnrollment (creating the person when new),
TerminateEnrollment, SetIdentity.

Each write commits in the repository and then invalidates the person's cache entry BEFORE
returning, so once a caller has the reply no read returns the old status.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg

from services.common.grpcutil import conflict, invalid, not_found, refused
from services.eligibility import inputs, rules
from services.eligibility.domain import Enrollment, Identity, NewPerson

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService


async def upsert_enrollment(svc: EligibilityService, *, psn_no: str, pool: str, insutype: str, year: int,
                            psn_type: str, benefit_start: str, benefit_end: str, status: str, paid_date: str,
                            enrollment_kind: str, certno: str, name: str, gender: str,
                            birthdate: str) -> Enrollment:
    psn_no = inputs.psn_no(psn_no, "enrollment.psn_no")
    insutype = inputs.insutype(insutype, "enrollment.insutype")
    ref_pool = svc.reference.pool(pool)
    if ref_pool is None:
        raise invalid("UNKNOWN_POOL", f"统筹区不存在: {pool!r} (enrollment.pool is not a known pool)", "enrollment.pool")
    if insutype not in ref_pool.insutypes:
        raise invalid("POOL_INSUTYPE", f"统筹区 {pool} 不经办险种 {insutype} (pool {pool} does not carry "
                                       f"insutype {insutype})", "enrollment.insutype")
    if not (2000 <= year <= 2100):
        raise invalid("INVALID_YEAR", f"参保年度无效: {year} (enrollment.year must be 2000-2100)", "enrollment.year")
    if psn_type not in rules.PSN_TYPES or (insutype == "390") != (psn_type == "resident"):
        raise invalid("INVALID_PSN_TYPE", f"人员类别 {psn_type!r} 与险种 {insutype} 不符 (enrollment.psn_type must be "
                                          f"resident for 390, employee or retired for 310)", "enrollment.psn_type")
    status = status or "active"
    if status not in rules.STATUSES:
        raise invalid("INVALID_STATUS", f"参保状态无效: {status!r} (enrollment.status must be one of "
                                        f"{', '.join(rules.STATUSES)})", "enrollment.status")
    end = inputs.parse_date(benefit_end, "enrollment.benefit_end", default=dt.date(year, 12, 31))
    if benefit_start:
        start = inputs.parse_date(benefit_start, "enrollment.benefit_start")
    else:
        paid = inputs.parse_date(paid_date, "paid_date")
        policy = svc.reference.policy(pool, insutype, year)
        if policy is None:
            raise refused("NO_POLICY", f"统筹区 {pool} 无 {year} 年 {insutype} 政策, 无法计算待遇起始日 (no policy for "
                                       f"pool {pool}, insutype {insutype}, year {year}: give benefit_start)",
                          "enrollment.pool")
        try:
            start = rules.benefit_start(kind=enrollment_kind or "other", year=year, paid_date=paid,
                                        waiting_days=policy.waiting_days)
        except rules.RuleError as exc:
            raise invalid("INVALID_ENROLLMENT", exc.message, exc.field) from None
    if start > end:
        raise invalid("INVALID_RANGE", f"待遇起始日 {start} 晚于终止日 {end} (enrollment.benefit_start is after "
                                       f"benefit_end)", "enrollment.benefit_start")
    new_person = None
    existing = await svc.repo.load_person(psn_no)
    if existing is None:
        if not certno:
            raise not_found("PERSON_NOT_FOUND", f"人员 {psn_no} 不存在; 新参保人需提供 certno, name, gender, birthdate "
                                                f"(unknown psn_no: give certno, name, gender and birthdate to create "
                                                f"the person)", "enrollment.psn_no")
        inputs.certno(certno)
        if not name:
            raise invalid("MISSING_FIELD", "name 必填 (name is required to create a person)", "name")
        if gender not in ("1", "2"):
            raise invalid("INVALID_GENDER", f"性别无效: {gender!r} (gender must be 1 male or 2 female)", "gender")
        new_person = NewPerson(certno, name, gender, inputs.parse_date(birthdate, "birthdate"))
    row = Enrollment(pool, insutype, year, psn_type, start, end, status, None)
    try:
        saved = await svc.repo.upsert_enrollment(psn_no, row, new_person=new_person)
    except asyncpg.UniqueViolationError:
        raise conflict("CERTNO_TAKEN", "该身份证号已属于另一参保人 (certno already belongs to another person)",
                       "certno") from None
    await svc.cache.invalidate([psn_no])
    return saved


async def terminate_enrollment(svc: EligibilityService, *, psn_no: str, pool: str, insutype: str, year: int,
                               end_date: str, status: str) -> Enrollment:
    psn_no = inputs.psn_no(psn_no)
    insutype = inputs.insutype(insutype)
    if status not in ("lapsed", "paused", "terminated"):
        raise invalid("INVALID_STATUS", f"终止状态无效: {status!r} (status must be lapsed, paused or terminated)",
                      "status")
    last_day = inputs.parse_date(end_date, "end_date", default=svc.today())
    saved = await svc.repo.terminate_enrollment(psn_no, pool, insutype, year, status, last_day + dt.timedelta(days=1))
    if saved is None:
        raise not_found("ENROLLMENT_NOT_FOUND", f"未找到参保记录 {psn_no}/{pool}/{insutype}/{year} (no such "
                                                f"enrollment)", "pool")
    await svc.cache.invalidate([psn_no])
    return saved


async def set_identity(svc: EligibilityService, *, psn_no: str, type_: str, begin: str, end: str,
                       remove: bool) -> Identity:
    psn_no = inputs.psn_no(psn_no)
    if not inputs.IDENTITY_RE.match(type_ or ""):
        raise invalid("INVALID_IDENTITY", f"人员身份类别无效: {type_!r} (type must be an identity group like tekun, "
                                          f"dibao, dibao_edge, fanpin)", "type")
    b = inputs.parse_date(begin, "begin")
    e = inputs.parse_date(end, "end") if end else None
    if e is not None and e < b:
        raise invalid("INVALID_RANGE", "end 早于 begin (end is before begin)", "end")
    if remove:
        if not await svc.repo.remove_identity(psn_no, type_, b):
            raise not_found("IDENTITY_NOT_FOUND", f"未找到身份记录 {type_} {b} (no such identity)", "type")
    else:
        try:
            await svc.repo.set_identity(psn_no, Identity(type_, b, e))
        except asyncpg.ForeignKeyViolationError:
            raise inputs.person_not_found(psn_no, "psn_no") from None
    await svc.cache.invalidate([psn_no])
    return Identity(type_, b, e)
