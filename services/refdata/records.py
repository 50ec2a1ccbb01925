"""Parsed records of the reference document (docs/REFERENCE_DATA.md) that are not engine data.

Pools, hospitals, catalogues and policies parse straight into `services.engine.model` types.
Persons parse into these records; the eligibility service stores enrollments, identities,
chronic qualifications and account balances (`services.eligibility.repository.upsert_persons`),
the filing service stores filings (`services.filing.repository.upsert_filings`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.engine.model import ChronicQualification, Identity


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    pool: str
    insutype: str
    year: int
    psn_type: str  # employee | retired | resident
    benefit_start: dt.date
    benefit_end: dt.date
    status: str  # active | paused | lapsed | terminated


@dataclass(frozen=True, slots=True)
class FilingRecord:
    type: str  # retired_relocated | long_term_residence | stationed_work | referral | temporary
    destination: str  # "33", "330000", "330600", "330602"
    begin: dt.date
    end: dt.date | None  # None for long-term filings


@dataclass(frozen=True, slots=True)
class HospitalCredentials:
    code: str
    paasid: str
    secret: str


@dataclass(frozen=True, slots=True)
class PersonRecord:
    psn_no: str
    certno: str
    name: str
    gender: str  # "1" male, "2" female
    birthdate: dt.date
    enrollments: tuple[EnrollmentRecord, ...]
    identities: tuple[Identity, ...]
    chronic: tuple[ChronicQualification, ...]
    filings: tuple[FilingRecord, ...]
    account_balance_fen: int
    social_card: str | None
    cvlserv: bool
