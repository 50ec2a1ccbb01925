"""Eligibility's domain types: what is stored about a person and what the service answers.

Frozen dataclasses, no I/O. `Person` is everything stored about one person, enough to answer
any date and insurance type; it is what the Redis cache holds (cache.py encodes it) and what the
repository returns. The rules over these types are rules.py; the use cases are lookups.py,
enrollments.py, chronic.py and evouchers.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from services.engine.model import Catalogue, Hospital, Policy, Pool

# ----------------------------------------------------------------------------- what is stored


@dataclass(frozen=True, slots=True)
class Enrollment:
    pool: str
    insutype: str
    year: int
    psn_type: str
    benefit_start: dt.date
    benefit_end: dt.date
    status: str
    status_from: dt.date | None = None  # first day a non-active status applies; None: the whole range

    def active_on(self, day: dt.date) -> bool:
        if not (self.benefit_start <= day <= self.benefit_end):
            return False
        return self.status == "active" or (self.status_from is not None and day < self.status_from)


@dataclass(frozen=True, slots=True)
class Identity:
    type: str
    begin: dt.date
    end: dt.date | None
    level: str = ""
    source: str = "manual"


@dataclass(frozen=True, slots=True)
class ChronicQualification:
    id: int
    code: str
    begin: dt.date
    end: dt.date | None
    hospital: str | None
    source: str = "grant"

    def holds_on(self, day: dt.date) -> bool:
        return self.begin <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Person:
    psn_no: str
    certno: str
    name: str
    gender: str
    birthdate: dt.date
    social_card: str | None
    card_sn: str | None
    cvlserv: bool
    account_balance_fen: int
    enrollments: tuple[Enrollment, ...] = ()
    identities: tuple[Identity, ...] = ()
    chronic: tuple[ChronicQualification, ...] = ()
    # eligibility.status_versions at the moment these rows were read (same statement): bumped by
    # every committed change of the person (migration 0020); the settlement booking checks it.
    status_version: int = 0


@dataclass(frozen=True, slots=True)
class Certificate:
    """The certificate a hospital's transaction names (GetSnapshot; DOMAIN.md §6a)."""

    cert_type: str  # 01 | 02 | 03; empty: none named
    cert_no: str
    card_sn: str = ""
    hospital: str = ""
    visit_key: str = ""  # reg:<hospital>:<msgid> for a registration, the mdtrt_id for a settlement


@dataclass(frozen=True, slots=True)
class NewPerson:
    """The person row an enrollment creates when its psn_no is not stored yet."""

    certno: str
    name: str
    gender: str
    birthdate: dt.date


# ----------------------------------------------------------------------------- what is answered


@dataclass(frozen=True, slots=True)
class Choice:
    """The enrollment a settlement on `day` uses, or why there is none (rules.choose_enrollment)."""

    enrollment: Enrollment | None
    duplicate: bool  # 重复参保: more than one active enrollment for this insutype and year
    outcome: str | None = None  # None when eligible, else NOT_ENROLLED | WAITING_PERIOD | LAPSED | PAUSED | TERMINATED
    message: str = ""
    nearest: Enrollment | None = None  # the enrollment the outcome is about (for dates in the reply)

    @property
    def eligible(self) -> bool:
        return self.enrollment is not None


@dataclass(frozen=True, slots=True)
class InsuView:
    """One enrollment as 1101 shows it on a date."""

    enrollment: Enrollment
    insuplc_admdvs: str
    status_code: str  # psn_insu_stas
    duplicate: bool
    used: bool


@dataclass(frozen=True, slots=True)
class PersonView:
    """A person as 1101 shows them on a date."""

    person: Person
    on_date: dt.date
    age: int
    insu: tuple[InsuView, ...]
    identities: tuple[Identity, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a settlement on a date needs to know about a person and one insurance type."""

    person: Person
    insutype: str
    on_date: dt.date
    choice: Choice
    insuplc_admdvs: str
    identities: tuple[Identity, ...] = ()
    chronic: tuple[ChronicQualification, ...] = ()


@dataclass(frozen=True, slots=True)
class Treatment:
    """One line of a 2001 benefit check."""

    fund_pay_type: str
    may_enjoy: bool
    begin: dt.date | None
    end: dt.date | None
    result: str


# ----------------------------------------------------------------------------- what the use cases need


class ReferenceData(Protocol):
    """What eligibility needs of the reference cache (services.refdata.cache.ReferenceCache; its
    `reloads` count, when it has one, keys replies built from it)."""

    def pool(self, code: str) -> Pool | None: ...
    def policy(self, pool: str, insutype: str, year: int) -> Policy | None: ...
    def hospital(self, code: str) -> Hospital | None: ...
    def pool_for_admdvs(self, admdvs: str, insutype: str) -> Pool | None: ...
    def catalogue(self, pool: str) -> Catalogue | None: ...
    def province_of(self) -> Mapping[str, str]: ...


class FilingResolver(Protocol):
    """The filing service, as the 2001 benefit check needs it (filing_client.FilingClient): the
    group of the active filing that covers a cross-region visit, else None."""

    async def filing_group(self, *, psn_no: str, insutype: str, insured_pool: str, hospital_admdvs: str,
                           visit_date: dt.date, emergency: bool) -> str | None: ...
