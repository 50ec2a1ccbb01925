"""The filing service: its dependencies, and its use cases as the servicer calls them.

The use cases live in filings.py (2501/2502/change/online, list), chronic.py (2503/2504/5301),
resolution.py (a visit's filing, for settlement) and reversal.py (2601); each change runs in
the unit of work of unit_of_work.py (one transaction, at most once per msgid) and notifies the
eligibility service after it commits, before the reply goes back. Refusals are FilingRefused —
a services.common.outcomes.Refusal — with a named outcome from the catalogue, the field and a
clerk-readable message (Chinese, then English).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import asyncpg

from services.common.clock import BEIJING, Clock
from services.filing import chronic, filings, resolution, reversal
from services.filing.domain import (
    Caller,
    ChronicFiling,
    Eligibility,
    Filing,
    FilingSpec,
    ReferenceData,
    Resolution,
    Reversal,
)
from services.filing.eligibility_client import EligibilityClient

CHINA = BEIJING
# Importable from here as before: services/filing/main.py and tests build the client from this module.
__all__ = ["CHINA", "Caller", "EligibilityClient", "FilingService", "FilingSpec", "china_today"]


def china_today() -> dt.date:
    """The business date: settlements and filings are dated in China time, whatever the host's zone."""
    return Clock().today()


class FilingService:
    def __init__(self, pool: asyncpg.Pool, reference: ReferenceData, eligibility: Eligibility, *,
                 clock: Callable[[], dt.date] = china_today) -> None:
        self.pool = pool
        self.reference = reference
        self.eligibility = eligibility
        self.today = clock

    # ------------------------------------------------------------------ filings (filings.py)

    async def create_filing(self, caller: Caller, spec: FilingSpec, today: str = "") -> Filing:
        return await filings.create_filing(self, caller, spec, today)

    async def revoke_filing(self, caller: Caller, filing_id: str, psn_no: str = "") -> Filing:
        return await filings.revoke_filing(self, caller, filing_id, psn_no)

    async def change_filing(self, caller: Caller, filing_id: str, destination: str = "", begin: str = "",
                            end: str = "", today: str = "") -> Filing:
        return await filings.change_filing(self, caller, filing_id, destination, begin, end, today)

    async def list_filings(self, psn_no: str, include_inactive: bool = False) -> list[Filing]:
        return await filings.list_filings(self, psn_no, include_inactive)

    # ------------------------------------------------------------------ a visit's filing (resolution.py)

    async def resolve_filing(self, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                             visit_date: str, emergency: bool = False) -> Resolution:
        return await resolution.resolve_filing(self, psn_no, insutype, insured_pool, hospital_admdvs, visit_date,
                                               emergency)

    # ------------------------------------------------------------------ chronic filings (chronic.py)

    async def file_chronic(self, caller: Caller, psn_no: str, insutype: str, code: str, name: str = "",
                           ide_fixmedins_no: str = "", begndate: str = "", enddate: str = "") -> ChronicFiling:
        return await chronic.file_chronic(self, caller, psn_no, insutype, code, name, ide_fixmedins_no, begndate,
                                          enddate)

    async def cancel_chronic(self, caller: Caller, psn_no: str, filing_id: str = "", code: str = "") -> ChronicFiling:
        return await chronic.cancel_chronic(self, caller, psn_no, filing_id, code)

    async def query_chronic(self, psn_no: str, insutype: str = "") -> list[ChronicFiling]:
        return await chronic.query_chronic(self, psn_no, insutype)

    # ------------------------------------------------------------------ 2601 (reversal.py)

    async def reverse_by_msgid(self, caller: Caller, psn_no: str, omsgid: str, oinfno: str = "") -> Reversal:
        return await reversal.reverse_by_msgid(self, caller, psn_no, omsgid, oinfno)
