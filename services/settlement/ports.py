"""What the settlement use cases need from outside the service, as the Protocols they type
against: eligibility and filing (implemented over gRPC by eligibility_client.py and
filing_client.py; tests and benchmarks may pass stand-ins), the reference data (the process's
ReferenceCache) and the business clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Protocol

from services.engine.model import Catalogue, Hospital, Policy, Pool
from services.settlement.domain import CertificateClaim, Eligibility

Now = Callable[[], dt.datetime]  # the business clock: an aware instant (the composition root passes Beijing time's)


class EligibilityService(Protocol):
    async def snapshot(self, psn_no: str, insutype: str, on_date: dt.date,
                       certificate: CertificateClaim | None = None) -> Eligibility:
        """The person's eligibility on the day; a refusal of the eligibility service is raised
        unchanged, an outage as DOWNSTREAM_UNAVAILABLE. A certificate given is checked against
        psn_no on the same call (refused when it is another person's, or an e-voucher of
        another hospital or visit)."""
        ...

    async def presented(self, psn_no: str, hospital: str) -> bool:
        """5206: did the person present a certificate to the hospital at 1101 within the last day?"""
        ...


class FilingService(Protocol):
    async def filing_group(self, *, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                           visit_date: dt.date, emergency: bool) -> str | None:
        """The filing group of an active cross-region filing (long_term | referral | temporary), else None."""
        ...


class Reference(Protocol):
    def hospital(self, code: str) -> Hospital | None: ...

    def pool(self, code: str) -> Pool | None: ...

    def pool_for_admdvs(self, admdvs: str, insutype: str) -> Pool | None: ...

    def catalogue(self, pool: str) -> Catalogue | None: ...

    def policy(self, pool: str, insutype: str, year: int) -> Policy | None: ...

    def province_of(self) -> Mapping[str, str]: ...
