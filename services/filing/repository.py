"""Storage of filings, chronic filings and HIS messages (schema `filing`, infra/migrations/filing).

Every function takes a connection: the caller owns the transaction (the service layer for RPCs,
the reference loader for `upsert_filings`). The queries are named constants below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.filing.rules import (
    ACTIVE,
    LONG_TERM,
    REVOKED,
    SUPERSEDED,
    ChronicFiling,
    Filing,
    dest_prefix,
    group_of,
)
from services.refdata.records import EnrollmentRecord, PersonRecord

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
    "INSERT INTO filing.messages (fixmedins_code, msgid, infno, kind, fingerprint, psn_no) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fixmedins_code, msgid) DO NOTHING RETURNING msgid")
SQL_MESSAGE_GET = ("SELECT fixmedins_code, msgid, infno, kind, fingerprint, psn_no, filing_id, reply, reversed_by "
                   "FROM filing.messages WHERE fixmedins_code = $1 AND msgid = $2")
SQL_MESSAGE_GET_FOR_UPDATE = SQL_MESSAGE_GET + " FOR UPDATE"
SQL_MESSAGE_COMPLETE = ("UPDATE filing.messages SET filing_id = $3, reply = $4::text::jsonb "
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


# ----------------------------------------------------------------------------- filings


class FilingRepository:
    """Cross-region filings. Stateless: methods take the connection of the caller's transaction."""

    async def active_covering(self, conn: asyncpg.Connection, psn_no: str, insutype: str,
                              day: dt.date) -> list[Filing]:
        return [_filing(r) for r in await conn.fetch(SQL_ACTIVE_COVERING, psn_no, insutype, day)]

    async def get(self, conn: asyncpg.Connection, filing_id: str, *, for_update: bool = False) -> Filing | None:
        row = await conn.fetchrow(SQL_GET_FOR_UPDATE if for_update else SQL_GET, filing_id)
        return None if row is None else _filing(row)

    async def active_long_term(self, conn: asyncpg.Connection, psn_no: str, insutype: str) -> Filing | None:
        row = await conn.fetchrow(SQL_ACTIVE_LONG_TERM, psn_no, insutype)
        return None if row is None else _filing(row)

    async def list_for_person(self, conn: asyncpg.Connection, psn_no: str, *,
                              include_inactive: bool = False) -> list[Filing]:
        return [_filing(r) for r in await conn.fetch(SQL_LIST_ALL if include_inactive else SQL_LIST_ACTIVE, psn_no)]

    async def insert(self, conn: asyncpg.Connection, f: Filing, *, changed_from: str | None = None) -> Filing:
        row = await conn.fetchrow(
            SQL_INSERT, f.filing_id, f.psn_no, f.insutype, f.insured_pool, f.type, f.group, f.destination,
            dest_prefix(f.destination), f.begin, f.end, f.filed_on or f.begin, f.status, f.source,
            f.fixmedins_code, f.diag_code, f.diag_name, f.msgid, changed_from)
        return _filing(row)

    async def set_status(self, conn: asyncpg.Connection, filing_id: str, status: str, reason: str | None,
                         superseded_by: str | None = None) -> Filing:
        return _filing(await conn.fetchrow(SQL_SET_STATUS, filing_id, status, reason, superseded_by))


class ChronicRepository:
    async def insert(self, conn: asyncpg.Connection, c: ChronicFiling) -> ChronicFiling:
        return _chronic(await conn.fetchrow(
            SQL_CHRONIC_INSERT, c.filing_id, c.psn_no, c.insutype, c.opsp_dise_code, c.opsp_dise_name,
            c.ide_fixmedins_no, c.begndate, c.enddate, c.fixmedins_code, c.msgid, c.qualification_id))

    async def set_qualification(self, conn: asyncpg.Connection, filing_id: str, qualification_id: str) -> ChronicFiling:
        return _chronic(await conn.fetchrow(SQL_CHRONIC_SET_QUALIFICATION, filing_id, qualification_id))

    async def get_for_update(self, conn: asyncpg.Connection, filing_id: str) -> ChronicFiling | None:
        row = await conn.fetchrow(SQL_CHRONIC_GET_FOR_UPDATE, filing_id)
        return None if row is None else _chronic(row)

    async def active_by_code(self, conn: asyncpg.Connection, psn_no: str, code: str) -> list[ChronicFiling]:
        return [_chronic(r) for r in await conn.fetch(SQL_CHRONIC_ACTIVE_BY_CODE, psn_no, code)]

    async def active_one(self, conn: asyncpg.Connection, psn_no: str, insutype: str, code: str) -> ChronicFiling | None:
        row = await conn.fetchrow(SQL_CHRONIC_ACTIVE_ONE, psn_no, insutype, code)
        return None if row is None else _chronic(row)

    async def list_active(self, conn: asyncpg.Connection, psn_no: str, insutype: str = "") -> list[ChronicFiling]:
        return [_chronic(r) for r in await conn.fetch(SQL_CHRONIC_LIST, psn_no, insutype or "")]

    async def cancel(self, conn: asyncpg.Connection, filing_id: str, enddate: dt.date | None,
                     reason: str) -> ChronicFiling:
        return _chronic(await conn.fetchrow(SQL_CHRONIC_CANCEL, filing_id, enddate, reason))


class MessageRepository:
    """HIS messages by (fixmedins_code, msgid): idempotency and what 2601 undoes."""

    async def claim(self, conn: asyncpg.Connection, fixmedins_code: str, msgid: str, infno: str, kind: str,
                    fingerprint: str, psn_no: str) -> bool:
        """Insert the message row; False when it already exists. A concurrent claim of the same
        key waits for the first transaction and then sees its row (or claims it on rollback)."""
        return await conn.fetchval(SQL_MESSAGE_CLAIM, fixmedins_code, msgid, infno, kind, fingerprint,
                                   psn_no) is not None

    async def get(self, conn: asyncpg.Connection, fixmedins_code: str, msgid: str, *,
                  for_update: bool = False) -> dict[str, Any] | None:
        row = await conn.fetchrow(SQL_MESSAGE_GET_FOR_UPDATE if for_update else SQL_MESSAGE_GET,
                                  fixmedins_code, msgid)
        return None if row is None else dict(row)

    async def complete(self, conn: asyncpg.Connection, fixmedins_code: str, msgid: str, filing_id: str,
                       reply_json: str) -> None:
        await conn.execute(SQL_MESSAGE_COMPLETE, fixmedins_code, msgid, filing_id, reply_json)

    async def mark_reversed(self, conn: asyncpg.Connection, fixmedins_code: str, msgid: str, by_msgid: str) -> None:
        await conn.execute(SQL_MESSAGE_MARK_REVERSED, fixmedins_code, msgid, by_msgid)


# ----------------------------------------------------------------------------- reference loader

# Why a filing stopped being active (filings.revoke_reason).
REASON_REVOKED = "revoked"                        # 2502 / online revocation
REASON_REVERSED = "reversed"                      # 2601 undid the 2501
REASON_CHANGED = "changed"                        # ChangeFiling replaced it
REASON_SUPERSEDED_BY_REFERENCE = "superseded_by_reference"
REASON_REFERENCE_SUPERSEDED = "reference_superseded"  # a later long-term filing in the same document
REASON_REFERENCE_REMOVED = "reference_removed"    # no longer in the reference document
LOADER_REASONS = frozenset({REASON_REFERENCE_SUPERSEDED, REASON_REFERENCE_REMOVED})


def reference_filing_id(psn_no: str, insutype: str, filing_type: str, destination: str, begin: dt.date) -> str:
    """Deterministic id of a filing from the reference document, so a reload finds its row."""
    key = f"{psn_no}|{insutype}|{filing_type}|{destination}|{begin.isoformat()}"
    return "R" + hashlib.sha256(key.encode()).hexdigest()[:23].upper()


def _insured_pools(enrollments: Sequence[EnrollmentRecord], begin: dt.date) -> dict[str, str]:
    """insutype -> the pool a filing beginning on `begin` belongs to: the enrollment whose benefit
    range holds `begin` (earliest benefit_start first, as with duplicates), else the latest year's."""
    out: dict[str, str] = {}
    by_type: dict[str, list[EnrollmentRecord]] = {}
    for e in enrollments:
        by_type.setdefault(e.insutype, []).append(e)
    for insutype, es in by_type.items():
        holding = sorted((e for e in es if e.benefit_start <= begin <= e.benefit_end), key=lambda e: e.benefit_start)
        chosen = holding[0] if holding else max(es, key=lambda e: (e.year, e.benefit_start))
        out[insutype] = chosen.pool
    return out


async def upsert_filings(conn: asyncpg.Connection, persons: Sequence[PersonRecord]) -> int:
    """Store the filings of reference-document persons; return how many rows changed.

    Runs inside the loader's transaction (no transaction of its own). Each filing applies to
    every insurance type the person is enrolled in. A person's listed filings are their whole
    set of reference filings: one no longer listed is revoked (reason reference_removed), one
    listed again comes back. Of several long-term filings for one insurance type the latest
    begin is active and the others superseded; a reference long-term filing supersedes an
    active long-term filing from elsewhere (the insured pool's office record wins). Loading the
    same persons twice changes nothing."""
    if not persons:
        return 0
    stored = {r["filing_id"]: r for r in await conn.fetch(SQL_REFERENCE_FILINGS, [p.psn_no for p in persons])}
    changed = 0
    listed: set[str] = set()
    for person in persons:
        wanted: dict[str, tuple] = {}  # filing_id -> row
        for f in person.filings:
            group = group_of(f.type)
            for insutype, pool in _insured_pools(person.enrollments, f.begin).items():
                fid = reference_filing_id(person.psn_no, insutype, f.type, f.destination, f.begin)
                wanted[fid] = (fid, person.psn_no, insutype, pool, f.type, group, f.destination, f.begin, f.end)
        # The latest long-term filing per insurance type is the active one.
        latest_lt: dict[str, tuple] = {}
        for row in wanted.values():
            if row[5] == LONG_TERM:
                cur = latest_lt.get(row[2])
                if cur is None or (row[7], row[0]) > (cur[7], cur[0]):
                    latest_lt[row[2]] = row
        # Superseded ones first, so the partial unique index never sees two active long-term rows.
        ordered = sorted(wanted.values(), key=lambda r: (r[5] == LONG_TERM and latest_lt.get(r[2]) is r, r[0]))
        for row in ordered:
            fid, psn_no, insutype, pool, ftype, group, destination, begin, end = row
            listed.add(fid)
            if group == LONG_TERM and latest_lt[insutype] is not row:
                status, reason = SUPERSEDED, REASON_REFERENCE_SUPERSEDED
            else:
                status, reason = ACTIVE, None
            old = stored.get(fid)
            # A filing revoked or changed by the person or a hospital stays so; only the
            # loader's own removals and supersessions follow the document.
            if old is not None and old["status"] != ACTIVE and old["revoke_reason"] not in LOADER_REASONS:
                status, reason = old["status"], old["revoke_reason"]
            if status == ACTIVE and group == LONG_TERM:
                res = await conn.execute(SQL_SUPERSEDE_OTHER_LONG_TERM, psn_no, insutype, fid)
                changed += int(res.split()[-1])
            if old is None:
                await conn.execute(
                    SQL_INSERT, fid, psn_no, insutype, pool, ftype, group, destination, dest_prefix(destination),
                    begin, end, begin, status, "reference", "", "", "", "", None)
                if reason is not None:
                    await conn.execute(SQL_REFERENCE_UPDATE, fid, pool, end, status, reason)
                changed += 1
            elif (old["insured_pool"], old["end"], old["status"], old["revoke_reason"]) != (pool, end, status, reason):
                await conn.execute(SQL_REFERENCE_UPDATE, fid, pool, end, status, reason)
                changed += 1
    for fid, old in stored.items():
        if fid not in listed and old["status"] == ACTIVE:
            await conn.execute(SQL_REFERENCE_UPDATE, fid, old["insured_pool"], old["end"], REVOKED,
                               REASON_REFERENCE_REMOVED)
            changed += 1
    return changed
