"""The eligibility service: its dependencies, and its use cases as the servicer calls them.

Each method is one use case, validation at the edge first, then rules, storage and cache in
that order; the use cases live in lookups.py (1101, the settlement snapshot, 2001),
enrollments.py (enrollments, identities), chronic.py (chronic qualifications) and evouchers.py.
Reads go through the person cache (cache.py); every write commits in the repository and then
invalidates the person's cache entry BEFORE returning, so once a caller has the reply no read
returns the old status. Refusals are `services.common.grpcutil.Refusal`s with a named outcome
from the catalogue, the offending field and a clerk-readable message (Chinese, then English).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.clock import Clock
from services.eligibility import chronic, enrollments, evouchers, inputs, lookups
from services.eligibility.cache import PersonCache
from services.eligibility.domain import (
    Certificate,
    ChronicQualification,
    Enrollment,
    FilingResolver,
    Identity,
    Person,
    PersonView,
    ReferenceData,
    Snapshot,
    Treatment,
)
from services.eligibility.repository import EligibilityRepository
from services.eligibility.tokens import Evoucher, EvoucherSigner


def today_in_china() -> dt.date:
    """The business date for a service built without a clock (the composition root passes one)."""
    return Clock().today()


@dataclass
class EligibilityService:
    repo: EligibilityRepository
    cache: PersonCache
    reference: ReferenceData  # services.refdata.cache.ReferenceCache
    redis: object  # e-vouchers' single-use records (evouchers.py)
    signer: EvoucherSigner
    today: Callable[[], dt.date] = today_in_china
    clock: Callable[[], float] = time.time
    filing: FilingResolver | None = None  # 2001 asks it about a cross-region visit (filing_client.py)

    # ------------------------------------------------------------------------- reads (lookups.py)

    async def find_person(self, *, cert_type: str, cert_no: str, card_sn: str, psn_no: str,
                          on_date: str, hospital: str = "") -> PersonView:
        return self.person_view(*await self.find_person_data(cert_type=cert_type, cert_no=cert_no, card_sn=card_sn,
                                                             psn_no=psn_no, on_date=on_date, hospital=hospital))

    async def find_person_data(self, *, cert_type: str, cert_no: str, card_sn: str, psn_no: str,
                               on_date: str, hospital: str = "") -> tuple[Person, dt.date]:
        return await lookups.find_person_data(self, cert_type=cert_type, cert_no=cert_no, card_sn=card_sn,
                                              psn_no=psn_no, on_date=on_date, hospital=hospital)

    def person_view(self, p: Person, day: dt.date) -> PersonView:
        return lookups.person_view(self, p, day)

    async def snapshot(self, *, psn_no: str, insutype: str, on_date: str,
                       certificate: Certificate | None = None) -> Snapshot:
        return self.snapshot_view(*await self.snapshot_data(psn_no=psn_no, insutype=insutype, on_date=on_date,
                                                            certificate=certificate))

    async def snapshot_data(self, *, psn_no: str, insutype: str, on_date: str,
                            certificate: Certificate | None = None) -> tuple[Person, str, dt.date]:
        return await lookups.snapshot_data(self, psn_no=psn_no, insutype=insutype, on_date=on_date,
                                           certificate=certificate)

    def snapshot_view(self, p: Person, insutype: str, day: dt.date) -> Snapshot:
        return lookups.snapshot_view(self, p, insutype, day)

    def reference_version(self) -> int:
        return lookups.reference_version(self)

    async def check_benefit(self, *, psn_no: str, insutype: str, fixmedins_code: str, med_type: str,
                            begntime: str, dise_codg: str) -> list[Treatment]:
        return await lookups.check_benefit(self, psn_no=psn_no, insutype=insutype, fixmedins_code=fixmedins_code,
                                           med_type=med_type, begntime=begntime, dise_codg=dise_codg)

    # ------------------------------------------------------------------------- writes (enrollments.py)

    async def upsert_enrollment(self, *, psn_no: str, pool: str, insutype: str, year: int, psn_type: str,
                                benefit_start: str, benefit_end: str, status: str, paid_date: str,
                                enrollment_kind: str, certno: str, name: str, gender: str,
                                birthdate: str) -> Enrollment:
        return await enrollments.upsert_enrollment(
            self, psn_no=psn_no, pool=pool, insutype=insutype, year=year, psn_type=psn_type,
            benefit_start=benefit_start, benefit_end=benefit_end, status=status, paid_date=paid_date,
            enrollment_kind=enrollment_kind, certno=certno, name=name, gender=gender, birthdate=birthdate)

    async def terminate_enrollment(self, *, psn_no: str, pool: str, insutype: str, year: int, end_date: str,
                                   status: str) -> Enrollment:
        return await enrollments.terminate_enrollment(self, psn_no=psn_no, pool=pool, insutype=insutype, year=year,
                                                      end_date=end_date, status=status)

    async def set_identity(self, *, psn_no: str, type_: str, begin: str, end: str, remove: bool) -> Identity:
        return await enrollments.set_identity(self, psn_no=psn_no, type_=type_, begin=begin, end=end, remove=remove)

    # ------------------------------------------------------------------------- chronic qualifications (chronic.py)

    async def grant_chronic(self, *, psn_no: str, code: str, begin: str, end: str,
                            hospital: str) -> ChronicQualification:
        return await chronic.grant_chronic(self, psn_no=psn_no, code=code, begin=begin, end=end, hospital=hospital)

    async def revoke_chronic(self, *, psn_no: str, code: str, end: str) -> ChronicQualification:
        return await chronic.revoke_chronic(self, psn_no=psn_no, code=code, end=end)

    async def list_chronic(self, *, psn_no: str) -> list[ChronicQualification]:
        return await chronic.list_chronic(self, psn_no=psn_no)

    # ------------------------------------------------------------------------- cache and e-vouchers

    async def invalidate_person(self, *, psn_no: str) -> None:
        await self.cache.invalidate([inputs.psn_no(psn_no)])

    async def verify_real_name(self, *, certno: str, name: str) -> tuple[str, str] | None:
        return await evouchers.verify_real_name(self, certno=certno, name=name)

    async def issue_evoucher(self, *, psn_no: str, certno: str) -> Evoucher:
        return await evouchers.issue_evoucher(self, psn_no=psn_no, certno=certno)

    async def presented(self, *, psn_no: str, hospital: str) -> bool:
        """5206: did psn_no present a certificate to hospital at 1101 within the last day?"""
        return await evouchers.presented(self, hospital, inputs.psn_no(psn_no))
