"""Storage of filings, chronic filings and HIS messages (schema `filing`, infra/migrations/filing).

`FilingRepository` is the one place the service's SQL lives (named queries below), over ONE
connection: the caller owns the transaction (the use cases' unit of work, unit_of_work.py, for
RPCs; the reference loader's for reference_load.py). Row locks are taken here, by the `*_for_update`
reads and the message `claim`. It returns domain types (domain.py).

It is also the filing service's store of the exactly-once journal (services.common.journal,
JournalStore) over filing.messages: a message's `kind` is the journal's effect, its fingerprint
(hex text) the request digest, and its reply the JSON of the domain object (jsonb, as before).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from services.common.journal import JournalEffect, JournalRequest, MsgidTaken
from services.filing.domain import ChronicFiling, Filing, Message, ReferenceFiling
from services.filing.rules import dest_prefix

if TYPE_CHECKING:
    from services.refdata.records import PersonRecord

# ----------------------------------------------------------------------------- named queries

_FILING_COLUMNS = ('filing_id, psn_no, insutype, insured_pool, type, grp, destination, begin, "end", filed_on, '
                   'status, source, fixmedins_code, diag_code, diag_name, msgid, created_at, revoked_at')

# The settlement hot path: served by filings_active_by_person (psn_no, insutype, begin) WHERE active.
SQL_ACTIVE_COVERING = (f"SELECT {_FILING_COLUMNS} FROM filing.filings "
                       "WHERE psn_no = $1 AND insutype = $2 AND status = 'active' AND begin <= $3 "
                       'AND ("end" IS NULL OR "end" >= $3)')
SQL_GET = f"SELECT {_FILING_COLUMNS} FROM filing.filings WHERE filing_id = $1"
SQL_GET_FOR_UPDATE = SQL_GET + " FOR UPDATE"
SQL_ACTIVE_LONG_TERM = (f"SELECT {_FILING_COLUMNS} FROM filing.filings "
                        "WHERE psn_no = $1 AND insutype = $2 AND status = 'active' AND grp = 'long_term'")
SQL_LIST_ACTIVE = (f"SELECT {_FILING_COLUMNS} FROM filing.filings WHERE psn_no = $1 AND status = 'active' "
                   "ORDER BY begin, created_at, filing_id")
SQL_LIST_ALL = (f"SELECT {_FILING_COLUMNS} FROM filing.filings WHERE psn_no = $1 "
                "ORDER BY begin, created_at, filing_id")
SQL_INSERT = (
    "INSERT INTO filing.filings (filing_id, psn_no, insutype, insured_pool, type, grp, destination, dest_prefix, "
    'begin, "end", filed_on, status, source, fixmedins_code, diag_code, diag_name, msgid, changed_from) '
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
    f"RETURNING {_FILING_COLUMNS}")
SQL_SET_STATUS = (
    "UPDATE filing.filings SET status = $2, revoke_reason = $3, superseded_by = $4, "
    "revoked_at = CASE WHEN $2 = 'active' THEN NULL ELSE coalesce(revoked_at, now()) END "
    f"WHERE filing_id = $1 RETURNING {_FILING_COLUMNS}")
SQL_REFERENCE_FILINGS = (
    'SELECT filing_id, insured_pool, grp, "end", status, revoke_reason FROM filing.filings '
    "WHERE psn_no = any($1::text[]) AND source = 'reference'")
SQL_REFERENCE_UPDATE = ('UPDATE filing.filings SET insured_pool = $2, "end" = $3, status = $4, revoke_reason = $5, '
                        "revoked_at = CASE WHEN $4 = 'active' THEN NULL ELSE coalesce(revoked_at, now()) END "
                        "WHERE filing_id = $1")
SQL_SUPERSEDE_OTHER_LONG_TERM = (
    "UPDATE filing.filings SET status = 'superseded', revoke_reason = 'superseded_by_reference', superseded_by = $3, "
    "revoked_at = now() WHERE psn_no = $1 AND insutype = $2 AND status = 'active' AND grp = 'long_term' "
    "AND filing_id <> $3")

_CHRONIC_COLUMNS = ("filing_id, psn_no, insutype, opsp_dise_code, opsp_dise_name, ide_fixmedins_no, begndate, "
                    "enddate, status, fixmedins_code, msgid, qualification_id")
SQL_CHRONIC_INSERT = (
    "INSERT INTO filing.chronic_filings (filing_id, psn_no, insutype, opsp_dise_code, opsp_dise_name, "
    "ide_fixmedins_no, begndate, enddate, status, fixmedins_code, msgid, qualification_id) "
    f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, $11) RETURNING {_CHRONIC_COLUMNS}")
SQL_CHRONIC_GET_FOR_UPDATE = f"SELECT {_CHRONIC_COLUMNS} FROM filing.chronic_filings WHERE filing_id = $1 FOR UPDATE"
SQL_CHRONIC_ACTIVE_BY_CODE = (f"SELECT {_CHRONIC_COLUMNS} FROM filing.chronic_filings WHERE psn_no = $1 "
                              "AND opsp_dise_code = $2 AND status = 'active' ORDER BY begndate FOR UPDATE")
SQL_CHRONIC_ACTIVE_ONE = (f"SELECT {_CHRONIC_COLUMNS} FROM filing.chronic_filings WHERE psn_no = $1 "
                          "AND insutype = $2 AND opsp_dise_code = $3 AND status = 'active'")
SQL_CHRONIC_LIST = (f"SELECT {_CHRONIC_COLUMNS} FROM filing.chronic_filings WHERE psn_no = $1 "
                    "AND ($2 = '' OR insutype = $2) AND status = 'active' ORDER BY begndate, filing_id")
SQL_CHRONIC_SET_QUALIFICATION = ("UPDATE filing.chronic_filings SET qualification_id = $2 WHERE filing_id = $1 "
                                 f"RETURNING {_CHRONIC_COLUMNS}")
SQL_CHRONIC_CANCEL = (
    "UPDATE filing.chronic_filings SET status = 'cancelled', enddate = $2, cancel_reason = $3, "
    f"cancelled_at = now() WHERE filing_id = $1 RETURNING {_CHRONIC_COLUMNS}")

SQL_MESSAGE_CLAIM = (
    "INSERT INTO filing.messages (fixmedins_code, msgid, infno, kind, fingerprint) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fixmedins_code, msgid) DO NOTHING RETURNING msgid")
SQL_MESSAGE_GET = ("SELECT fixmedins_code, msgid, infno, kind, fingerprint, psn_no, filing_id, reply, reversed_by "
                   "FROM filing.messages WHERE fixmedins_code = $1 AND msgid = $2")
SQL_MESSAGE_GET_FOR_UPDATE = SQL_MESSAGE_GET + " FOR UPDATE"
# The journal's view of a message: the reply as the JSON text it was stored as.
SQL_MESSAGE_ENTRY = ("SELECT msgid, infno, kind, fingerprint, reply::text AS reply FROM filing.messages "
                     "WHERE fixmedins_code = $1 AND msgid = $2")
SQL_MESSAGE_COMPLETE = ("UPDATE filing.messages SET psn_no = $3, filing_id = $4, reply = $5::text::jsonb "
                        "WHERE fixmedins_code = $1 AND msgid = $2")
SQL_MESSAGE_MARK_REVERSED = ("UPDATE filing.messages SET reversed_by = $3 "
                             "WHERE fixmedins_code = $1 AND msgid = $2")


# ----------------------------------------------------------------------------- rows


def _filing(row: asyncpg.Record) -> Filing:
    return Filing(
        filing_id=row["filing_id"], psn_no=row["psn_no"], insutype=row["insutype"],
        insured_pool=row["insured_pool"], type=row["type"], group=row["grp"], destination=row["destination"],
        begin=row["begin"], end=row["end"], status=row["status"], source=row["source"],
        fixmedins_code=row["fixmedins_code"], diag_code=row["diag_code"], diag_name=row["diag_name"],
        msgid=row["msgid"], filed_on=row["filed_on"], created_at=row["created_at"], revoked_at=row["revoked_at"],
    )


def _chronic(row: asyncpg.Record) -> ChronicFiling:
    return ChronicFiling(
        filing_id=row["filing_id"], psn_no=row["psn_no"], insutype=row["insutype"],
        opsp_dise_code=row["opsp_dise_code"], opsp_dise_name=row["opsp_dise_name"],
        ide_fixmedins_no=row["ide_fixmedins_no"], begndate=row["begndate"], enddate=row["enddate"],
        status=row["status"], fixmedins_code=row["fixmedins_code"], msgid=row["msgid"],
        qualification_id=row["qualification_id"],
    )


def _message(row: asyncpg.Record) -> Message:
    return Message(fixmedins_code=row["fixmedins_code"], msgid=row["msgid"], infno=row["infno"], kind=row["kind"],
                   fingerprint=row["fingerprint"], psn_no=row["psn_no"], filing_id=row["filing_id"],
                   reply=row["reply"], reversed_by=row["reversed_by"])


@dataclass(frozen=True, slots=True)
class MessageEntry:
    """A message as the journal reads it (services.common.journal.JournalEntry): its kind is the
    effect, its fingerprint the digest, its reply the stored JSON."""

    msgid: str
    infno: str
    effect: str
    digest: bytes
    reply: bytes


@dataclass(frozen=True, slots=True)
class MessageNote:
    """What a message keeps beside its reply: the person and the filing (or chronic filing) it
    touched, which 2601 reads to find what the message did."""

    filing_id: str
    psn_no: str = ""


def digest_of(fingerprint: str) -> bytes:
    """A message's fingerprint (hex text) as the journal's request digest."""
    return fingerprint.encode()


# ----------------------------------------------------------------------------- the repository


class FilingRepository:
    """Filings, chronic filings and HIS messages over one connection (the caller's transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A transaction on the connection (the unit of work's, with the message claim in it)."""
        tx: AbstractAsyncContextManager[Any] = self._conn.transaction()  # asyncpg is untyped
        return tx

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A savepoint in the caller's transaction: after a unique violation inside it the
        transaction goes on (to ask who won the race)."""
        tx: AbstractAsyncContextManager[Any] = self._conn.transaction()  # asyncpg is untyped
        return tx

    # ------------------------------------------------------------------------- filings

    async def active_covering(self, psn_no: str, insutype: str, day: dt.date) -> list[Filing]:
        """Active filings whose dates hold `day` (the settlement hot path: one indexed query)."""
        return [_filing(r) for r in await self._conn.fetch(SQL_ACTIVE_COVERING, psn_no, insutype, day)]

    async def filing(self, filing_id: str, *, for_update: bool = False) -> Filing | None:
        row = await self._conn.fetchrow(SQL_GET_FOR_UPDATE if for_update else SQL_GET, filing_id)
        return None if row is None else _filing(row)

    async def active_long_term(self, psn_no: str, insutype: str) -> Filing | None:
        row = await self._conn.fetchrow(SQL_ACTIVE_LONG_TERM, psn_no, insutype)
        return None if row is None else _filing(row)

    async def filings_of(self, psn_no: str, *, include_inactive: bool = False) -> list[Filing]:
        return [_filing(r) for r in await self._conn.fetch(SQL_LIST_ALL if include_inactive else SQL_LIST_ACTIVE,
                                                           psn_no)]

    async def insert_filing(self, f: Filing, *, changed_from: str | None = None) -> Filing:
        row = await self._conn.fetchrow(
            SQL_INSERT, f.filing_id, f.psn_no, f.insutype, f.insured_pool, f.type, f.group, f.destination,
            dest_prefix(f.destination), f.begin, f.end, f.filed_on or f.begin, f.status, f.source,
            f.fixmedins_code, f.diag_code, f.diag_name, f.msgid, changed_from)
        return _filing(row)

    async def set_status(self, filing_id: str, status: str, reason: str | None,
                         superseded_by: str | None = None) -> Filing:
        return _filing(await self._conn.fetchrow(SQL_SET_STATUS, filing_id, status, reason, superseded_by))

    # ------------------------------------------------------------------------- chronic filings

    async def insert_chronic(self, c: ChronicFiling) -> ChronicFiling:
        return _chronic(await self._conn.fetchrow(
            SQL_CHRONIC_INSERT, c.filing_id, c.psn_no, c.insutype, c.opsp_dise_code, c.opsp_dise_name,
            c.ide_fixmedins_no, c.begndate, c.enddate, c.fixmedins_code, c.msgid, c.qualification_id))

    async def set_qualification(self, filing_id: str, qualification_id: str) -> ChronicFiling:
        return _chronic(await self._conn.fetchrow(SQL_CHRONIC_SET_QUALIFICATION, filing_id, qualification_id))

    async def chronic_for_update(self, filing_id: str) -> ChronicFiling | None:
        row = await self._conn.fetchrow(SQL_CHRONIC_GET_FOR_UPDATE, filing_id)
        return None if row is None else _chronic(row)

    async def active_chronic_by_code_for_update(self, psn_no: str, code: str) -> list[ChronicFiling]:
        return [_chronic(r) for r in await self._conn.fetch(SQL_CHRONIC_ACTIVE_BY_CODE, psn_no, code)]

    async def active_chronic(self, psn_no: str, insutype: str, code: str) -> ChronicFiling | None:
        row = await self._conn.fetchrow(SQL_CHRONIC_ACTIVE_ONE, psn_no, insutype, code)
        return None if row is None else _chronic(row)

    async def active_chronic_of(self, psn_no: str, insutype: str = "") -> list[ChronicFiling]:
        return [_chronic(r) for r in await self._conn.fetch(SQL_CHRONIC_LIST, psn_no, insutype or "")]

    async def cancel_chronic(self, filing_id: str, enddate: dt.date | None, reason: str) -> ChronicFiling:
        return _chronic(await self._conn.fetchrow(SQL_CHRONIC_CANCEL, filing_id, enddate, reason))

    # ------------------------------------------------------------------------- HIS messages

    async def message(self, fixmedins_code: str, msgid: str, *, for_update: bool = False) -> Message | None:
        row = await self._conn.fetchrow(SQL_MESSAGE_GET_FOR_UPDATE if for_update else SQL_MESSAGE_GET,
                                        fixmedins_code, msgid)
        return None if row is None else _message(row)

    # ------------------------------------------------------------------------- journal (journal.JournalStore)

    async def journal_entry(self, hospital: str, msgid: str) -> MessageEntry | None:
        row = await self._conn.fetchrow(SQL_MESSAGE_ENTRY, hospital, msgid)
        if row is None:
            return None
        return MessageEntry(msgid=row["msgid"], infno=row["infno"], effect=row["kind"],
                            digest=digest_of(row["fingerprint"]), reply=(row["reply"] or "null").encode())

    async def claim(self, request: JournalRequest, effect: JournalEffect) -> None:
        """Insert the message row; MsgidTaken when it already exists. A concurrent claim of the
        same key waits for the first transaction, then finds its row (or claims it on rollback)."""
        got = await self._conn.fetchval(SQL_MESSAGE_CLAIM, request.hospital, request.msgid,
                                        request.infno_for(effect), effect.value, request.digest.decode())
        if got is None:
            raise MsgidTaken()

    async def complete(self, request: JournalRequest, reply: bytes, note: MessageNote) -> None:
        await self._conn.execute(SQL_MESSAGE_COMPLETE, request.hospital, request.msgid, note.psn_no,
                                 note.filing_id, reply.decode())

    async def mark_reversed(self, fixmedins_code: str, msgid: str, by_msgid: str) -> None:
        await self._conn.execute(SQL_MESSAGE_MARK_REVERSED, fixmedins_code, msgid, by_msgid)

    # ------------------------------------------------------------------------- the reference loader's
    # (reference_load.py decides what to write)

    async def reference_filings(self, psn_nos: Sequence[str]) -> dict[str, ReferenceFiling]:
        """The stored reference-sourced filings of these persons, by filing_id."""
        return {r["filing_id"]: ReferenceFiling(r["filing_id"], r["insured_pool"], r["grp"], r["end"], r["status"],
                                                r["revoke_reason"])
                for r in await self._conn.fetch(SQL_REFERENCE_FILINGS, list(psn_nos))}

    async def update_reference_filing(self, filing_id: str, insured_pool: str, end: dt.date | None, status: str,
                                      reason: str | None) -> None:
        await self._conn.execute(SQL_REFERENCE_UPDATE, filing_id, insured_pool, end, status, reason)

    async def supersede_other_long_term(self, psn_no: str, insutype: str, filing_id: str) -> int:
        """Every other active long-term filing of the person and type becomes superseded by this
        one; how many did."""
        res = await self._conn.execute(SQL_SUPERSEDE_OTHER_LONG_TERM, psn_no, insutype, filing_id)
        return int(res.split()[-1])


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[FilingRepository]:
    """A repository over one pooled connection, released on exit (the journal's `connect`)."""
    async with pool.acquire() as conn:
        yield FilingRepository(conn)


# ----------------------------------------------------------------------------- earlier names


async def upsert_filings(conn: asyncpg.Connection, persons: Sequence[PersonRecord]) -> int:
    """services.filing.reference_load.upsert_filings, under the name callers used before."""
    from services.filing.reference_load import upsert_filings as store

    return await store(conn, persons)
