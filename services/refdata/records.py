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


# A hospital's `interface` block (docs/REFERENCE_DATA.md §4): how its HIS talks to the gateway.
AUTH_PROFILES = ("tif", "api_hmac_sha1")
MSGID_RULES = ("lenient", "strict")
SIGN_IN_RULES = ("optional", "required")
WINDOW_MAX_S = 3600  # the longest timestamp window a hospital may be given, either profile


@dataclass(frozen=True, slots=True)
class HospitalInterface:
    """What the gateway accepts from one hospital's HIS.

    `auth`: the gateway authentication profiles it may use (`tif`, `api_hmac_sha1`; both sign with
    the hospital's paasid as the access key and its secret as the key). `msgid`: `lenient` (any
    non-blank id of at most 30 characters) or `strict` (fixmedins_code + yyyyMMddHHmmss + 4
    digits). `sign_in`: `optional` (sign_no may be empty, absent or "null") or `required`.
    `tif_window_s` / `api_window_s`: the accepted clock skew of each profile's timestamp, ± seconds;
    None means the gateway's (TIF_WINDOW_S for tif, 30 minutes for api_hmac_sha1).

    The defaults are what a hospital without the block gets: TIF only (today's authentication:
    the api_hmac_sha1 profile signs no body and carries no nonce, so it is switched on per hospital,
    never silently), a lenient msgid and optional sign-in (both only accept more: every request a
    strict, sign-in-required hospital sends is accepted the same way)."""
    auth: tuple[str, ...] = ("tif",)
    msgid: str = "lenient"
    sign_in: str = "optional"
    tif_window_s: int | None = None
    api_window_s: int | None = None


DEFAULT_INTERFACE = HospitalInterface()


@dataclass(frozen=True, slots=True)
class HospitalCredentials:
    code: str
    paasid: str
    secret: str
    interface: HospitalInterface = DEFAULT_INTERFACE


@dataclass(frozen=True, slots=True)
class RowCounts:
    """What the persons' and filings' writers did with the rows a document lists: created (not
    stored before), updated (stored, and now different), unchanged (stored and equal)."""
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


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
    phone: str | None = None  # the phone on file for real-name verification (patient sign-up code)
    death_date: dt.date | None = None  # a registered death: no settlement after it (supervision, after_death)
