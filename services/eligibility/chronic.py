"""Chronic-disease (门诊慢特病) qualifications: GrantChronic, RevokeChronic (the filing service's
2503/2504 call these before committing theirs), ListChronic.

A revocation ends every qualification of the code still running on the end date; nothing is
ever deleted. Each write invalidates the person's cache entry after it commits, before replying.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg

from services.common.grpcutil import invalid, not_found
from services.eligibility import inputs
from services.eligibility.domain import ChronicQualification

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService


async def grant_chronic(svc: EligibilityService, *, psn_no: str, code: str, begin: str, end: str,
                        hospital: str) -> ChronicQualification:
    psn_no = inputs.psn_no(psn_no)
    inputs.disease_code(code)
    b = inputs.parse_date(begin, "begin", default=svc.today())
    e = inputs.parse_date(end, "end") if end else None
    if e is not None and e < b:
        raise invalid("INVALID_RANGE", "end 早于 begin (end is before begin)", "end")
    if hospital and svc.reference.hospital(hospital) is None:
        raise invalid("UNKNOWN_HOSPITAL", f"定点医疗机构编码不存在: {hospital} (hospital is not a known designated "
                                          f"hospital)", "hospital")
    try:
        row = await svc.repo.grant_chronic(psn_no, code, b, e, hospital or None)
    except asyncpg.ForeignKeyViolationError:
        raise inputs.person_not_found(psn_no, "psn_no") from None
    await svc.cache.invalidate([psn_no])
    return row


async def revoke_chronic(svc: EligibilityService, *, psn_no: str, code: str, end: str) -> ChronicQualification:
    psn_no = inputs.psn_no(psn_no)
    inputs.disease_code(code)
    last_day = inputs.parse_date(end, "end", default=svc.today() - dt.timedelta(days=1))
    rows = await svc.repo.revoke_chronic(psn_no, code, last_day)
    if not rows:
        raise not_found("QUALIFICATION_NOT_FOUND", f"未找到 {last_day} 之后仍有效的慢特病资格 {code} (no {code} "
                                                   f"qualification runs past {last_day})", "code")
    await svc.cache.invalidate([psn_no])
    return rows[-1]


async def list_chronic(svc: EligibilityService, *, psn_no: str) -> list[ChronicQualification]:
    p = await inputs.person(svc.cache, inputs.psn_no(psn_no))
    return list(p.chronic)
