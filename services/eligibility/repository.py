"""Storage of persons, enrollments, identities and chronic qualifications (schema `eligibility`).

The SQL is here as named queries; the tables are in infra/migrations/eligibility/. Nothing in
this module touches Redis: callers invalidate the cache after their transaction commits
(services/eligibility/service.py), and `upsert_persons`, which runs inside the reference
loader's transaction, announces the persons it changed with NOTIFY eligibility_changed — a
notification PostgreSQL delivers only when (and if) that transaction commits; the eligibility
service listens and invalidates those persons (cache.py, `ChangeListener`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.eligibility.rules import ChronicRow, EnrollmentRow, IdentityRow, PersonData

NOTIFY_CHANNEL = "eligibility_changed"
# NOTIFY payloads are limited to 8000 bytes; past this, the payload is "*" (invalidate everyone).
_NOTIFY_MAX_BYTES = 7900

# ----------------------------------------------------------------------------- named queries

# Everything about some persons in ONE round trip: the person row with its enrollments,
# identities and chronic qualifications aggregated as JSON arrays.
Q_PERSONS = """
SELECT p.psn_no, p.certno, p.name, p.gender, p.birthdate, p.social_card, p.card_sn, p.cvlserv,
       p.account_balance_fen,
       (SELECT coalesce(json_agg(json_build_array(e.pool, e.insutype, e.year, e.psn_type, e.benefit_start,
                                                  e.benefit_end, e.status, e.status_from)
                                 ORDER BY e.year, e.insutype, e.benefit_start, e.pool), '[]'::json)
          FROM eligibility.enrollments e WHERE e.psn_no = p.psn_no) AS enrollments,
       (SELECT coalesce(json_agg(json_build_array(i.type, i.begin_date, i.end_date, i.psn_type_lv, i.source)
                                 ORDER BY i.begin_date, i.type), '[]'::json)
          FROM eligibility.identities i WHERE i.psn_no = p.psn_no) AS identities,
       (SELECT coalesce(json_agg(json_build_array(c.id, c.code, c.begin_date, c.end_date, c.hospital, c.source)
                                 ORDER BY c.begin_date, c.id), '[]'::json)
          FROM eligibility.chronic_qualifications c WHERE c.psn_no = p.psn_no) AS chronic
  FROM eligibility.persons p
"""
Q_PERSON_BY_PSN_NO = Q_PERSONS + " WHERE p.psn_no = $1"
Q_PERSONS_BY_PSN_NOS = Q_PERSONS + " WHERE p.psn_no = any($1::text[])"
Q_PSN_NO_BY_CERTNO = "SELECT psn_no FROM eligibility.persons WHERE certno = $1"
Q_BY_SOCIAL_CARD = "SELECT psn_no, card_sn FROM eligibility.persons WHERE social_card = $1"

Q_UPSERT_PERSON = """
INSERT INTO eligibility.persons AS p (psn_no, certno, name, gender, birthdate, social_card, cvlserv,
                                      account_balance_fen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (psn_no) DO UPDATE SET certno = excluded.certno, name = excluded.name, gender = excluded.gender,
       birthdate = excluded.birthdate, social_card = excluded.social_card, cvlserv = excluded.cvlserv,
       account_balance_fen = excluded.account_balance_fen, updated_at = now()
"""
Q_INSERT_PERSON_MINIMAL = """
INSERT INTO eligibility.persons (psn_no, certno, name, gender, birthdate) VALUES ($1, $2, $3, $4, $5)
"""
Q_UPSERT_ENROLLMENT = """
INSERT INTO eligibility.enrollments AS e (psn_no, pool, insutype, year, psn_type, benefit_start, benefit_end,
                                          status, status_from)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (psn_no, pool, insutype, year) DO UPDATE SET psn_type = excluded.psn_type,
       benefit_start = excluded.benefit_start, benefit_end = excluded.benefit_end, status = excluded.status,
       status_from = excluded.status_from, updated_at = now()
RETURNING pool, insutype, year, psn_type, benefit_start, benefit_end, status, status_from
"""
Q_TERMINATE_ENROLLMENT = """
UPDATE eligibility.enrollments SET status = $5, status_from = $6, updated_at = now()
 WHERE psn_no = $1 AND pool = $2 AND insutype = $3 AND year = $4
RETURNING pool, insutype, year, psn_type, benefit_start, benefit_end, status, status_from
"""
Q_DELETE_REFERENCE_IDENTITIES = "DELETE FROM eligibility.identities WHERE psn_no = any($1::text[]) AND source = 'reference'"
Q_UPSERT_IDENTITY = """
INSERT INTO eligibility.identities (psn_no, type, begin_date, end_date, psn_type_lv, source)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (psn_no, type, begin_date) DO UPDATE SET end_date = excluded.end_date,
       psn_type_lv = excluded.psn_type_lv, source = excluded.source, updated_at = now()
"""
Q_DELETE_IDENTITY = "DELETE FROM eligibility.identities WHERE psn_no = $1 AND type = $2 AND begin_date = $3 RETURNING type"
Q_DELETE_REFERENCE_CHRONIC = ("DELETE FROM eligibility.chronic_qualifications WHERE psn_no = any($1::text[]) "
                              "AND source = 'reference'")
Q_INSERT_CHRONIC = """
INSERT INTO eligibility.chronic_qualifications (psn_no, code, begin_date, end_date, hospital, source)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, code, begin_date, end_date, hospital, source
"""
# Revoking ends every qualification of that code still running on the end date; never deletes.
Q_REVOKE_CHRONIC = """
UPDATE eligibility.chronic_qualifications
   SET end_date = greatest($3::date, begin_date), updated_at = now()
 WHERE psn_no = $1 AND code = $2 AND (end_date IS NULL OR end_date > $3::date)
RETURNING id, code, begin_date, end_date, hospital, source
"""
Q_LIST_CHRONIC = """
SELECT id, code, begin_date, end_date, hospital, source FROM eligibility.chronic_qualifications
 WHERE psn_no = $1 ORDER BY begin_date, id
"""


# ----------------------------------------------------------------------------- row mapping


def _json(v: Any) -> Any:
    # Pools made by services.common.db decode json already; a bare connection returns text.
    return json.loads(v) if isinstance(v, str) else v


def _d(v: Any) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(v)


def person_from_row(r: asyncpg.Record) -> PersonData:
    return PersonData(
        psn_no=r["psn_no"], certno=r["certno"], name=r["name"], gender=r["gender"], birthdate=r["birthdate"],
        social_card=r["social_card"], card_sn=r["card_sn"], cvlserv=r["cvlserv"],
        account_balance_fen=r["account_balance_fen"],
        enrollments=tuple(EnrollmentRow(e[0], e[1], int(e[2]), e[3], _d(e[4]), _d(e[5]), e[6], _d(e[7]))
                          for e in _json(r["enrollments"])),
        identities=tuple(IdentityRow(i[0], _d(i[1]), _d(i[2]), i[3] or "", i[4]) for i in _json(r["identities"])),
        chronic=tuple(ChronicRow(int(c[0]), c[1], _d(c[2]), _d(c[3]), c[4], c[5]) for c in _json(r["chronic"])),
    )


def enrollment_from_row(r: asyncpg.Record) -> EnrollmentRow:
    return EnrollmentRow(r["pool"], r["insutype"], r["year"], r["psn_type"], r["benefit_start"], r["benefit_end"],
                         r["status"], r["status_from"])


def chronic_from_row(r: asyncpg.Record) -> ChronicRow:
    return ChronicRow(r["id"], r["code"], r["begin_date"], r["end_date"], r["hospital"], r["source"])


# ----------------------------------------------------------------------------- reference loader entry point


async def upsert_persons(conn: asyncpg.Connection, persons: Sequence[Any]) -> int:
    """Store the persons of a reference document; return how many were inserted or changed.

    Runs inside the caller's transaction (the reference loader's): no transaction of its own and
    no Redis. The document is authoritative for what it lists: the person row, each listed
    enrollment (unlisted enrollments, e.g. from a bulk import, stay), and the person's
    reference-sourced identities and chronic qualifications (replaced as a set; manual ones stay).
    Idempotent: a person whose stored state already equals the document is not written, so
    loading the same persons twice returns 0.

    Cache: the changed persons are announced with NOTIFY eligibility_changed, delivered when the
    caller's transaction commits; the eligibility service invalidates them on receipt. Callers
    that need the invalidation done before they reply can also call
    `services.eligibility.cache.invalidate_persons(redis, psn_nos)` after their commit.
    """
    if not persons:
        return 0
    stored = {r["psn_no"]: person_from_row(r)
              for r in await conn.fetch(Q_PERSONS_BY_PSN_NOS, [p.psn_no for p in persons])}
    changed: list[str] = []
    person_rows, enrollment_rows, identity_rows, chronic_rows = [], [], [], []
    replace_sets: list[str] = []
    for p in persons:
        old = stored.get(p.psn_no)
        row = (p.psn_no, p.certno, p.name, p.gender, p.birthdate, p.social_card, bool(p.cvlserv),
               int(p.account_balance_fen))
        person_changed = old is None or (old.certno, old.name, old.gender, old.birthdate, old.social_card,
                                         old.cvlserv, old.account_balance_fen) != row[1:]
        old_enr = {(e.pool, e.insutype, e.year): e for e in (old.enrollments if old else ())}
        enr_changed = []
        for e in p.enrollments:
            want = EnrollmentRow(e.pool, e.insutype, e.year, e.psn_type, e.benefit_start, e.benefit_end, e.status, None)
            if old_enr.get((e.pool, e.insutype, e.year)) != want:
                enr_changed.append((p.psn_no, e.pool, e.insutype, e.year, e.psn_type, e.benefit_start,
                                    e.benefit_end, e.status, None))
        want_ids = sorted((i.type, i.begin, i.end) for i in p.identities)
        have_ids = sorted((i.type, i.begin, i.end) for i in (old.identities if old else ()) if i.source == "reference")
        want_chr = sorted((c.code, c.begin, c.end or dt.date.max, c.hospital or "") for c in p.chronic)
        have_chr = sorted((c.code, c.begin, c.end or dt.date.max, c.hospital or "")
                          for c in (old.chronic if old else ()) if c.source == "reference")
        sets_changed = want_ids != have_ids or want_chr != have_chr
        if not (person_changed or enr_changed or sets_changed):
            continue
        changed.append(p.psn_no)
        if person_changed:
            person_rows.append(row)
        enrollment_rows.extend(enr_changed)
        if sets_changed:
            replace_sets.append(p.psn_no)
            identity_rows.extend((p.psn_no, i.type, i.begin, i.end, "", "reference") for i in p.identities)
            chronic_rows.extend((p.psn_no, c.code, c.begin, c.end, c.hospital, "reference") for c in p.chronic)
    if not changed:
        return 0
    if person_rows:
        await conn.executemany(Q_UPSERT_PERSON, person_rows)
    if enrollment_rows:
        await conn.executemany(Q_UPSERT_ENROLLMENT, enrollment_rows)
    if replace_sets:
        await conn.execute(Q_DELETE_REFERENCE_IDENTITIES, replace_sets)
        await conn.execute(Q_DELETE_REFERENCE_CHRONIC, replace_sets)
        if identity_rows:
            await conn.executemany(Q_UPSERT_IDENTITY, identity_rows)
        if chronic_rows:
            await conn.executemany(Q_INSERT_CHRONIC, chronic_rows)
    await notify_changed(conn, changed)
    return len(changed)


async def notify_changed(conn: asyncpg.Connection, psn_nos: Sequence[str]) -> None:
    """NOTIFY eligibility_changed with the persons (or "*" when too many for one payload)."""
    payload = ",".join(psn_nos)
    if len(payload.encode()) > _NOTIFY_MAX_BYTES:
        payload = "*"
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, payload)


# ----------------------------------------------------------------------------- the service's repository


class EligibilityRepository:
    """Reads and writes of the eligibility service. Each write is one transaction; the service
    invalidates the cache after it returns (i.e. after commit)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def load_person(self, psn_no: str) -> PersonData | None:
        """Everything about one person, ONE round trip (the cache's fill query)."""
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(Q_PERSON_BY_PSN_NO, psn_no)
        return None if r is None else person_from_row(r)

    async def psn_no_by_certno(self, certno: str) -> str | None:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(Q_PSN_NO_BY_CERTNO, certno)

    async def psn_no_by_social_card(self, card: str) -> str | None:
        found = await self.by_social_card(card)
        return None if found is None else found[0]

    async def by_social_card(self, card: str) -> tuple[str, str | None] | None:
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(Q_BY_SOCIAL_CARD, card)
        return None if r is None else (r["psn_no"], r["card_sn"])

    async def upsert_enrollment(self, psn_no: str, e: EnrollmentRow, *,
                                new_person: tuple[str, str, str, dt.date] | None = None) -> EnrollmentRow:
        """Insert or replace one enrollment; with `new_person` (certno, name, gender, birthdate)
        create the person first, in the same transaction."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                if new_person is not None:
                    await conn.execute(Q_INSERT_PERSON_MINIMAL, psn_no, *new_person)
                r = await conn.fetchrow(Q_UPSERT_ENROLLMENT, psn_no, e.pool, e.insutype, e.year, e.psn_type,
                                        e.benefit_start, e.benefit_end, e.status, e.status_from)
        return enrollment_from_row(r)

    async def terminate_enrollment(self, psn_no: str, pool: str, insutype: str, year: int, status: str,
                                   status_from: dt.date) -> EnrollmentRow | None:
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(Q_TERMINATE_ENROLLMENT, psn_no, pool, insutype, year, status, status_from)
        return None if r is None else enrollment_from_row(r)

    async def set_identity(self, psn_no: str, ident: IdentityRow) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(Q_UPSERT_IDENTITY, psn_no, ident.type, ident.begin, ident.end, ident.level, "manual")

    async def remove_identity(self, psn_no: str, type_: str, begin: dt.date) -> bool:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(Q_DELETE_IDENTITY, psn_no, type_, begin) is not None

    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None,
                            hospital: str | None) -> ChronicRow:
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(Q_INSERT_CHRONIC, psn_no, code, begin, end, hospital, "grant")
        return chronic_from_row(r)

    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> list[ChronicRow]:
        async with self._pool.acquire() as conn:
            return [chronic_from_row(r) for r in await conn.fetch(Q_REVOKE_CHRONIC, psn_no, code, end)]

    async def list_chronic(self, psn_no: str) -> list[ChronicRow]:
        async with self._pool.acquire() as conn:
            return [chronic_from_row(r) for r in await conn.fetch(Q_LIST_CHRONIC, psn_no)]
