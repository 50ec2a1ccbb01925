"""Filing's domain types and vocabulary: filings, chronic filings, HIS messages, what a visit's
resolution says, and the ports the use cases call (reference data, the eligibility service).

Frozen dataclasses and constants, no I/O. The rules over them are rules.py; the use cases are
filings.py (2501/2502/change/online), chronic.py (2503/2504/5301), resolution.py (a visit's
filing, for settlement) and reversal.py (2601).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.common.outcomes import Kind, Refusal
from services.engine.model import Policy, Pool

# ----------------------------------------------------------------------------- vocabulary

LONG_TERM = "long_term"
REFERRAL = "referral"
TEMPORARY = "temporary"
EMERGENCY = "emergency"

LOCAL = "local"
INTRA_PROVINCE = "intra_province"
INTER_PROVINCE = "inter_province"

ACTIVE, REVOKED, SUPERSEDED = "active", "revoked", "superseded"
SOURCES = ("his", "online", "reference")

# Why a filing stopped being active (filings.revoke_reason).
REASON_REVOKED = "revoked"                        # 2502 / online revocation
REASON_REVERSED = "reversed"                      # 2601 undid the 2501
REASON_CHANGED = "changed"                        # ChangeFiling replaced it
REASON_SUPERSEDED_BY_REFERENCE = "superseded_by_reference"
REASON_REFERENCE_SUPERSEDED = "reference_superseded"  # a later long-term filing in the same document
REASON_REFERENCE_REMOVED = "reference_removed"    # no longer in the reference document
LOADER_REASONS = frozenset({REASON_REFERENCE_SUPERSEDED, REASON_REFERENCE_REMOVED})

# ----------------------------------------------------------------------------- refusals


class FilingRefused(Refusal):
    """A Refusal (services.common.outcomes) whose raiser names its kind: invalid (malformed
    input), refused (a rule says no), conflict, forbidden, not_found. The catalogue decides the
    kind the edges show; tests/unit/test_outcomes.py checks that the two agree."""

    __slots__ = ()

    def __init__(self, kind: str, outcome: str, message: str, field: str | None = None) -> None:
        super().__init__(outcome, message, field, fallback=Kind(kind))


# ----------------------------------------------------------------------------- filings


@dataclass(frozen=True, slots=True)
class Filing:
    filing_id: str
    psn_no: str
    insutype: str
    insured_pool: str
    type: str
    group: str
    destination: str
    begin: dt.date
    end: dt.date | None
    status: str
    source: str
    fixmedins_code: str = ""
    diag_code: str = ""
    diag_name: str = ""
    msgid: str = ""
    filed_on: dt.date | None = None
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FilingSpec:
    """A new filing as a caller asks for it (CreateFiling / 2501 / online)."""

    psn_no: str
    insutype: str
    type: str
    destination: str
    begin: str
    end: str = ""
    insured_pool: str = ""
    diag_code: str = ""
    diag_name: str = ""


@dataclass(frozen=True, slots=True)
class ReferenceFiling:
    """What the reference loader compares of a stored reference filing."""

    filing_id: str
    insured_pool: str
    group: str
    end: dt.date | None
    status: str
    revoke_reason: str | None


@dataclass(frozen=True, slots=True)
class ChronicFiling:
    filing_id: str
    psn_no: str
    insutype: str
    opsp_dise_code: str
    opsp_dise_name: str
    ide_fixmedins_no: str
    begndate: dt.date
    enddate: dt.date | None
    status: str  # active | cancelled
    fixmedins_code: str = ""
    msgid: str = ""
    qualification_id: str = ""


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the settlement engine needs to know about filings for one visit."""

    region_class: str  # local | intra_province | inter_province
    filed: bool  # False: the visit needs a filing and has none (the engine will refuse NOT_FILED)
    filing_group: str  # long_term | referral | temporary | emergency | "" (none needed)
    filing_id: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Reversal:
    """What a 2601 undid."""

    filing_id: str
    status: str  # revoked (a 2501 undone) | cancelled (a 2503 undone)
    psn_no: str = ""


# ----------------------------------------------------------------------------- HIS messages


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a HIS transaction; empty fixmedins_code for online self-service filing."""

    fixmedins_code: str = ""
    msgid: str = ""
    infno: str = ""
    opter: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """A HIS message by (fixmedins_code, msgid): what it did, its stored reply, its reversal."""

    fixmedins_code: str
    msgid: str
    infno: str
    kind: str  # create | revoke | change | chronic_file | chronic_cancel | reverse
    fingerprint: str
    psn_no: str
    filing_id: str | None
    reply: Any  # the reply as JSON, None until the transaction completes
    reversed_by: str | None


# ----------------------------------------------------------------------------- ports


class ReferenceData(Protocol):
    """What the filing rules need of the reference cache (services.refdata.cache.ReferenceCache)."""

    def pool(self, code: str) -> Pool | None: ...
    def pools(self) -> Mapping[str, Pool]: ...
    def policy(self, pool: str, insutype: str, year: int) -> Policy | None: ...


class Eligibility(Protocol):
    """The eligibility service as the filing service uses it (eligibility_client.EligibilityClient)."""

    async def insured_pool(self, psn_no: str, insutype: str, on_date: dt.date) -> str: ...
    async def psn_type(self, psn_no: str, insutype: str, on_date: dt.date) -> str: ...
    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None,
                            hospital: str) -> str: ...
    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> None: ...
    async def invalidate_person(self, psn_no: str) -> None: ...
