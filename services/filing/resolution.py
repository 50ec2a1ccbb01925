"""ResolveFiling: which filing (if any) covers a visit, and what the settlement engine is told
(region class, filed, filing group). The settlement hot path: at most one indexed query."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.filing.domain import FilingRefused, Resolution
from services.filing.repository import FilingRepository
from services.filing.rules import parse_date, required, resolve

if TYPE_CHECKING:
    from services.filing.service import FilingService


async def resolve_filing(svc: FilingService, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                         visit_date: str, emergency: bool = False) -> Resolution:
    required(psn_no, "psn_no", "人员编号")
    required(insutype, "insutype", "险种类型")
    day = parse_date(visit_date, "visit_date")
    if len(hospital_admdvs) != 6 or not hospital_admdvs.isdigit():
        raise FilingRefused("invalid", "BAD_ADMDVS", f"就医地行政区划 hospital_admdvs {hospital_admdvs!r} 应为 6 位"
                            "数字。 / hospital_admdvs must be 6 digits.", "hospital_admdvs")
    pool = svc.reference.pool(insured_pool)
    if pool is None:
        raise FilingRefused("invalid", "UNKNOWN_POOL", f"参保地统筹区 insured_pool {insured_pool!r} 不存在。 / "
                            f"Unknown insured pool {insured_pool!r}.", "insured_pool")
    policy = svc.reference.policy(insured_pool, insutype, day.year)
    requires_intra = bool(policy and policy.intra_province_requires_filing)
    if pool.holds(hospital_admdvs):  # same pool: no filing, no query
        return resolve(pool, hospital_admdvs, day, (), emergency=emergency,
                       intra_province_requires_filing=requires_intra)
    # One indexed query (filings_active_by_person); a filing committed before this call is
    # seen, which is what makes retro-filing before settlement work.
    async with svc.pool.acquire() as conn:
        filings = await FilingRepository(conn).active_covering(psn_no, insutype, day)
    return resolve(pool, hospital_admdvs, day, filings, emergency=emergency,
                   intra_province_requires_filing=requires_intra)
