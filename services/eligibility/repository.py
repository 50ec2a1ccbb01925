"""Storage of persons, enrollments, identities and chronic qualifications (schema `eligibility`).

`EligibilityRepository` is the one place the service's SQL lives (as named queries; the tables
are in infra/migrations/eligibility/), and it speaks domain types (domain.py). It works over a
connection pool (the service: each method one statement or one transaction of its own) or over
one connection (the reference loader's, inside that loader's transaction: reference_load.py).
The bulk import has its own repository over its own connections (import_repository.py).

Nothing here touches Redis: the use cases invalidate the cache after their write commits, and
the reference loader's writes announce the persons they changed with NOTIFY
eligibility_changed — a notification PostgreSQL delivers only when (and if) that transaction
commits; the eligibility service listens and invalidates those persons (cache.py,
`ChangeListener`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from services.eligibility.domain import ChronicQualification, Enrollment, Identity, NewPerson, Person

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
          FROM eligibility.chronic_qualifications c WHERE c.psn_no = p.psn_no) AS chronic,
       coalesce((SELECT sv.version FROM eligibility.status_versions sv WHERE sv.psn_no = p.psn_no), 0)
         AS status_version
  FROM eligibility.persons p
"""
Q_PERSON_BY_PSN_NO = Q_PERSONS + " WHERE p.psn_no = $1"
Q_PERSONS_BY_PSN_NOS = Q_PERSONS + " WHERE p.psn_no = any($1::text[])"
Q_NOTIFY = "SELECT pg_notify($1, $2)"
# The bulk import's totals over every file (the metrics; the import commits its progress per split).
Q_IMPORT_TOTALS = """
SELECT coalesce(sum(s.rows_ok), 0)::bigint AS ok, coalesce(sum(s.rows_rejected), 0)::bigint AS rejected,
       (SELECT count(*) FROM eligibility.import_progress WHERE finished_at IS NULL) AS running
  FROM eligibility.import_split_progress s
"""
Q_PSN_NO_BY_CERTNO = "SELECT psn_no FROM eligibility.persons WHERE certno = $1"
Q_BY_SOCIAL_CARD = "SELECT psn_no, card_sn FROM eligibility.persons WHERE social_card = $1"
Q_REAL_NAME = """
SELECT p.psn_no, p.name, ph.phone FROM eligibility.persons p
LEFT JOIN eligibility.person_phones ph ON ph.psn_no = p.psn_no WHERE p.certno = $1"""
# The console: bulk imports and how far each is (the view of 0004), newest first.
Q_IMPORTS = """
SELECT file_sha256, path, splits, coalesce(committed_through, 0)::bigint, rows_ok, rows_rejected, started_at,
       updated_at, finished_at FROM eligibility.import_status ORDER BY started_at DESC LIMIT $1"""
Q_PHONES = "SELECT psn_no, phone FROM eligibility.person_phones WHERE psn_no = ANY($1::text[])"
Q_STORE_PHONES = """
INSERT INTO eligibility.person_phones (psn_no, phone)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (psn_no) DO UPDATE SET phone = EXCLUDED.phone, updated_at = now()"""
Q_DROP_PHONES = "DELETE FROM eligibility.person_phones WHERE psn_no = ANY($1::text[])"

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


def _day(v: Any) -> dt.date:
    """_d of a NOT NULL date column (benefit_start/end, begin_date)."""
    d = _d(v)
    assert d is not None  # NOT NULL in the schema (migrations/eligibility/0001)
    return d


def person_from_row(r: asyncpg.Record) -> Person:
    return Person(
        psn_no=r["psn_no"], certno=r["certno"], name=r["name"], gender=r["gender"], birthdate=r["birthdate"],
        social_card=r["social_card"], card_sn=r["card_sn"], cvlserv=r["cvlserv"],
        account_balance_fen=r["account_balance_fen"],
        enrollments=tuple(Enrollment(e[0], e[1], int(e[2]), e[3], _day(e[4]), _day(e[5]), e[6], _d(e[7]))
                          for e in _json(r["enrollments"])),
        identities=tuple(Identity(i[0], _day(i[1]), _d(i[2]), i[3] or "", i[4]) for i in _json(r["identities"])),
        chronic=tuple(ChronicQualification(int(c[0]), c[1], _day(c[2]), _d(c[3]), c[4], c[5])
                      for c in _json(r["chronic"])),
        status_version=r["status_version"],
    )


def enrollment_from_row(r: asyncpg.Record) -> Enrollment:
    return Enrollment(r["pool"], r["insutype"], r["year"], r["psn_type"], r["benefit_start"], r["benefit_end"],
                      r["status"], r["status_from"])


def chronic_from_row(r: asyncpg.Record) -> ChronicQualification:
    return ChronicQualification(r["id"], r["code"], r["begin_date"], r["end_date"], r["hospital"], r["source"])


# ----------------------------------------------------------------------------- the repository


class EligibilityRepository:
    """Reads and writes of eligibility's tables, over a pool or one connection (module doc).

    Over a pool, each write is its own transaction and has committed when the method returns
    (the use case then invalidates the cache). Over a connection, the writes join the caller's
    transaction."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection):
        self._db = db

    async def imports(self, limit: int) -> list[tuple[Any, ...]]:
        """(file_sha256, path, splits, committed_through, rows_ok, rows_rejected, started_at,
        updated_at, finished_at) of the latest `limit` bulk imports, newest first."""
        return [tuple(r) for r in await self._db.fetch(Q_IMPORTS, limit)]

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction: of its own over a pool, a savepoint in the caller's over a connection."""
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as conn, conn.transaction():
                yield conn
        else:
            async with self._db.transaction():
                yield self._db

    # ------------------------------------------------------------------------- reads

    async def load_person(self, psn_no: str) -> Person | None:
        """Everything about one person, ONE round trip (the cache's fill query)."""
        r = await self._db.fetchrow(Q_PERSON_BY_PSN_NO, psn_no)
        return None if r is None else person_from_row(r)

    async def load_persons(self, psn_nos: Sequence[str]) -> dict[str, Person]:
        """The stored ones of these persons, by psn_no (one round trip)."""
        return {r["psn_no"]: person_from_row(r) for r in await self._db.fetch(Q_PERSONS_BY_PSN_NOS, list(psn_nos))}

    async def import_totals(self) -> dict[str, int]:
        """Rows the bulk import committed over every file (ok, rejected) and files not finished (running)."""
        r = await self._db.fetchrow(Q_IMPORT_TOTALS)
        return {"ok": int(r["ok"]), "rejected": int(r["rejected"]), "running": int(r["running"])}

    async def psn_no_by_certno(self, certno: str) -> str | None:
        psn_no: str | None = await self._db.fetchval(Q_PSN_NO_BY_CERTNO, certno)
        return psn_no

    async def real_name(self, certno: str) -> tuple[str, str, str | None] | None:
        """(psn_no, name, phone or None) of the person with this certno (the real-name check)."""
        r = await self._db.fetchrow(Q_REAL_NAME, certno)
        return None if r is None else (r["psn_no"], r["name"], r["phone"])

    async def phones(self, psn_nos: Sequence[str]) -> dict[str, str]:
        return {r["psn_no"]: r["phone"] for r in await self._db.fetch(Q_PHONES, list(psn_nos))}

    async def store_phones(self, phones: Sequence[tuple[str, str | None]]) -> None:
        """Set (or, with None, remove) the phone on file of these persons."""
        put = [(p, ph) for p, ph in phones if ph]
        drop = [p for p, ph in phones if not ph]
        if put:
            await self._db.execute(Q_STORE_PHONES, [p for p, _ in put], [ph for _, ph in put])
        if drop:
            await self._db.execute(Q_DROP_PHONES, drop)

    async def psn_no_by_social_card(self, card: str) -> str | None:
        found = await self.by_social_card(card)
        return None if found is None else found[0]

    async def by_social_card(self, card: str) -> tuple[str, str | None] | None:
        r = await self._db.fetchrow(Q_BY_SOCIAL_CARD, card)
        return None if r is None else (r["psn_no"], r["card_sn"])

    async def list_chronic(self, psn_no: str) -> list[ChronicQualification]:
        return [chronic_from_row(r) for r in await self._db.fetch(Q_LIST_CHRONIC, psn_no)]

    # ------------------------------------------------------------------------- the service's writes

    async def upsert_enrollment(self, psn_no: str, e: Enrollment, *, new_person: NewPerson | None = None) -> Enrollment:
        """Insert or replace one enrollment; with `new_person` create the person first, in the
        same transaction."""
        async with self._transaction() as conn:
            if new_person is not None:
                await conn.execute(Q_INSERT_PERSON_MINIMAL, psn_no, new_person.certno, new_person.name,
                                   new_person.gender, new_person.birthdate)
            r = await conn.fetchrow(Q_UPSERT_ENROLLMENT, psn_no, e.pool, e.insutype, e.year, e.psn_type,
                                    e.benefit_start, e.benefit_end, e.status, e.status_from)
        return enrollment_from_row(r)

    async def terminate_enrollment(self, psn_no: str, pool: str, insutype: str, year: int, status: str,
                                   status_from: dt.date) -> Enrollment | None:
        r = await self._db.fetchrow(Q_TERMINATE_ENROLLMENT, psn_no, pool, insutype, year, status, status_from)
        return None if r is None else enrollment_from_row(r)

    async def set_identity(self, psn_no: str, ident: Identity) -> None:
        await self._db.execute(Q_UPSERT_IDENTITY, psn_no, ident.type, ident.begin, ident.end, ident.level, "manual")

    async def remove_identity(self, psn_no: str, type_: str, begin: dt.date) -> bool:
        return await self._db.fetchval(Q_DELETE_IDENTITY, psn_no, type_, begin) is not None

    async def grant_chronic(self, psn_no: str, code: str, begin: dt.date, end: dt.date | None,
                            hospital: str | None) -> ChronicQualification:
        r = await self._db.fetchrow(Q_INSERT_CHRONIC, psn_no, code, begin, end, hospital, "grant")
        return chronic_from_row(r)

    async def revoke_chronic(self, psn_no: str, code: str, end: dt.date) -> list[ChronicQualification]:
        return [chronic_from_row(r) for r in await self._db.fetch(Q_REVOKE_CHRONIC, psn_no, code, end)]

    # ------------------------------------------------------------------------- the reference loader's writes
    # (over the loader's connection, inside its transaction: reference_load.py decides what to write)

    async def store_persons(self, persons: Sequence[Person]) -> None:
        """Insert or replace the person rows (their enrollments, identities, chronic: not here)."""
        await self._db.executemany(Q_UPSERT_PERSON, [
            (p.psn_no, p.certno, p.name, p.gender, p.birthdate, p.social_card, p.cvlserv, p.account_balance_fen)
            for p in persons])

    async def store_enrollments(self, enrollments: Sequence[tuple[str, Enrollment]]) -> None:
        """Insert or replace each (psn_no, enrollment)."""
        await self._db.executemany(Q_UPSERT_ENROLLMENT, [
            (psn_no, e.pool, e.insutype, e.year, e.psn_type, e.benefit_start, e.benefit_end, e.status, e.status_from)
            for psn_no, e in enrollments])

    async def replace_reference_sets(self, psn_nos: Sequence[str], identities: Sequence[tuple[str, Identity]],
                                     chronic: Sequence[tuple[str, ChronicQualification]]) -> None:
        """These persons' reference-sourced identities and chronic qualifications become exactly
        the ones given (manual and granted ones stay); a new qualification's id is the database's."""
        await self._db.execute(Q_DELETE_REFERENCE_IDENTITIES, list(psn_nos))
        await self._db.execute(Q_DELETE_REFERENCE_CHRONIC, list(psn_nos))
        if identities:
            await self._db.executemany(Q_UPSERT_IDENTITY, [(psn_no, i.type, i.begin, i.end, i.level, i.source)
                                                           for psn_no, i in identities])
        if chronic:
            await self._db.executemany(Q_INSERT_CHRONIC, [(psn_no, c.code, c.begin, c.end, c.hospital, c.source)
                                                          for psn_no, c in chronic])

    async def notify_changed(self, psn_nos: Sequence[str]) -> None:
        """NOTIFY eligibility_changed with the persons (or "*" when too many for one payload);
        delivered when the transaction commits."""
        payload = ",".join(psn_nos)
        if len(payload.encode()) > _NOTIFY_MAX_BYTES:
            payload = "*"
        await self._db.execute(Q_NOTIFY, NOTIFY_CHANNEL, payload)


# ----------------------------------------------------------------------------- earlier names


async def upsert_persons(conn: asyncpg.Connection, persons: Sequence[Any]) -> int:
    """services.eligibility.reference_load.upsert_persons, under the name callers used before."""
    from services.eligibility.reference_load import upsert_persons as store

    return await store(conn, persons)
