"""The persons of a reference document, stored by eligibility's own code (services/refdata/store.py
hands them over inside its transaction).

The document is authoritative for what it lists: the person row, each listed enrollment
(unlisted enrollments, e.g. from a bulk import, stay), and the person's reference-sourced
identities and chronic qualifications (replaced as a set; manual and granted ones stay).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from services.eligibility.domain import ChronicQualification, Enrollment, Identity, Person
from services.eligibility.repository import EligibilityRepository
from services.refdata.records import RowCounts

REFERENCE = "reference"  # the source of identities and qualifications a document lists


async def upsert_persons(conn: asyncpg.Connection, persons: Sequence[Any]) -> int:
    """Store the persons of a reference document; return how many were inserted or changed
    (`upsert_persons_counted` tells the two apart)."""
    return (await upsert_persons_counted(conn, persons)).changed


async def upsert_persons_counted(conn: asyncpg.Connection, persons: Sequence[Any]) -> RowCounts:
    """Store the persons of a reference document (services.refdata.records.PersonRecord); return
    how many were created (no such psn_no stored), updated (stored, and anything the document sets
    differed) and unchanged.

    Runs inside the caller's transaction (the reference loader's) on its connection: no
    transaction of its own and no Redis. Idempotent: a person whose stored state already equals
    the document is not written, so loading the same persons twice returns 0.

    Cache: the changed persons are announced with NOTIFY eligibility_changed, delivered when the
    caller's transaction commits; the eligibility service invalidates them on receipt. Callers
    that need the invalidation done before they reply also call
    `services.eligibility.cache.invalidate_persons(redis, psn_nos)` after their commit.
    """
    if not persons:
        return RowCounts()
    repo = EligibilityRepository(conn)
    stored = await repo.load_persons([p.psn_no for p in persons])
    stored_phones = await repo.phones([p.psn_no for p in persons])
    phone_rows: list[tuple[str, str | None]] = []
    changed: list[str] = []
    person_rows: list[Person] = []
    enrollment_rows: list[tuple[str, Enrollment]] = []
    identity_rows: list[tuple[str, Identity]] = []
    chronic_rows: list[tuple[str, ChronicQualification]] = []
    replace_sets: list[str] = []
    inserted = 0
    for p in persons:
        old = stored.get(p.psn_no)
        row = Person(p.psn_no, p.certno, p.name, p.gender, p.birthdate, p.social_card, None, bool(p.cvlserv),
                     int(p.account_balance_fen))
        person_changed = old is None or _person_fields(old) != _person_fields(row)
        old_enr = {(e.pool, e.insutype, e.year): e for e in (old.enrollments if old else ())}
        enr_changed = []
        for e in p.enrollments:
            want = Enrollment(e.pool, e.insutype, e.year, e.psn_type, e.benefit_start, e.benefit_end, e.status, None)
            if old_enr.get((e.pool, e.insutype, e.year)) != want:
                enr_changed.append((p.psn_no, want))
        sets_changed = (_identity_set(p.identities) != _identity_set(i for i in (old.identities if old else ())
                                                                     if i.source == REFERENCE)
                        or _chronic_set(p.chronic) != _chronic_set(c for c in (old.chronic if old else ())
                                                                   if c.source == REFERENCE))
        phone = getattr(p, "phone", None)
        phone_changed = stored_phones.get(p.psn_no) != phone
        if not (person_changed or enr_changed or sets_changed or phone_changed):
            continue
        changed.append(p.psn_no)
        inserted += old is None
        if phone_changed:
            phone_rows.append((p.psn_no, phone))
        if person_changed:
            person_rows.append(row)
        enrollment_rows.extend(enr_changed)
        if sets_changed:
            replace_sets.append(p.psn_no)
            identity_rows.extend((p.psn_no, Identity(i.type, i.begin, i.end, "", REFERENCE)) for i in p.identities)
            chronic_rows.extend((p.psn_no, ChronicQualification(0, c.code, c.begin, c.end, c.hospital, REFERENCE))
                                for c in p.chronic)
    counts = RowCounts(inserted=inserted, updated=len(changed) - inserted, unchanged=len(persons) - len(changed))
    if not changed:
        return counts
    if person_rows:
        await repo.store_persons(person_rows)
    if enrollment_rows:
        await repo.store_enrollments(enrollment_rows)
    if phone_rows:
        await repo.store_phones(phone_rows)
    if replace_sets:
        await repo.replace_reference_sets(replace_sets, identity_rows, chronic_rows)
    await repo.notify_changed(changed)
    return counts


def _person_fields(p: Person) -> tuple:
    """What a document sets of the person row."""
    return (p.certno, p.name, p.gender, p.birthdate, p.social_card, p.cvlserv, p.account_balance_fen)


def _identity_set(identities: Iterable[Any]) -> list[tuple]:
    return sorted((i.type, i.begin, i.end) for i in identities)


def _chronic_set(chronic: Iterable[Any]) -> list[tuple]:
    return sorted((c.code, c.begin, c.end or dt.date.max, c.hospital or "") for c in chronic)
