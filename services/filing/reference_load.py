"""The filings of a reference document's persons, stored by filing's own code
(services/refdata/store.py hands them over inside its transaction)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence

import asyncpg

from services.filing.domain import (
    ACTIVE,
    LOADER_REASONS,
    LONG_TERM,
    REASON_REFERENCE_REMOVED,
    REASON_REFERENCE_SUPERSEDED,
    REVOKED,
    SUPERSEDED,
    Filing,
)
from services.filing.repository import FilingRepository
from services.filing.rules import group_of
from services.refdata.records import EnrollmentRecord, PersonRecord, RowCounts


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
    """Store the filings of reference-document persons; return how many rows changed
    (`upsert_filings_counted` tells created from updated)."""
    return (await upsert_filings_counted(conn, persons)).changed


async def upsert_filings_counted(conn: asyncpg.Connection, persons: Sequence[PersonRecord]) -> RowCounts:
    """Store the filings of reference-document persons; return the rows created, updated
    (written again, revoked or superseded, a filing from elsewhere superseded included) and
    unchanged (listed and already stored as wanted).

    Runs inside the loader's transaction on its connection (no transaction of its own). Each
    filing applies to every insurance type the person is enrolled in. A person's listed filings
    are their whole set of reference filings: one no longer listed is revoked (reason
    reference_removed), one listed again comes back. Of several long-term filings for one
    insurance type the latest begin is active and the others superseded; a reference long-term
    filing supersedes an active long-term filing from elsewhere (the insured pool's office
    record wins). Loading the same persons twice changes nothing."""
    if not persons:
        return RowCounts()
    repo = FilingRepository(conn)
    stored = await repo.reference_filings([p.psn_no for p in persons])
    inserted = updated = unchanged = 0
    listed: set[str] = set()
    for person in persons:
        wanted: dict[str, Filing] = {}
        for f in person.filings:
            group = group_of(f.type)
            for insutype, pool in _insured_pools(person.enrollments, f.begin).items():
                fid = reference_filing_id(person.psn_no, insutype, f.type, f.destination, f.begin)
                wanted[fid] = Filing(filing_id=fid, psn_no=person.psn_no, insutype=insutype, insured_pool=pool,
                                     type=f.type, group=group, destination=f.destination, begin=f.begin, end=f.end,
                                     status=ACTIVE, source="reference", filed_on=f.begin)
        # The latest long-term filing per insurance type is the active one.
        latest_lt: dict[str, Filing] = {}
        for row in wanted.values():
            if row.group == LONG_TERM:
                cur = latest_lt.get(row.insutype)
                if cur is None or (row.begin, row.filing_id) > (cur.begin, cur.filing_id):
                    latest_lt[row.insutype] = row
        # Superseded ones first, so the partial unique index never sees two active long-term rows.
        ordered = sorted(wanted.values(), key=lambda r: (r.group == LONG_TERM and latest_lt.get(r.insutype) is r,
                                                         r.filing_id))
        for row in ordered:
            listed.add(row.filing_id)
            if row.group == LONG_TERM and latest_lt[row.insutype] is not row:
                status, reason = SUPERSEDED, REASON_REFERENCE_SUPERSEDED
            else:
                status, reason = ACTIVE, None
            old = stored.get(row.filing_id)
            # A filing revoked or changed by the person or a hospital stays so; only the
            # loader's own removals and supersessions follow the document.
            if old is not None and old.status != ACTIVE and old.revoke_reason not in LOADER_REASONS:
                status, reason = old.status, old.revoke_reason
            if status == ACTIVE and row.group == LONG_TERM:
                updated += await repo.supersede_other_long_term(row.psn_no, row.insutype, row.filing_id)
            if old is None:
                await repo.insert_filing(dataclasses.replace(row, status=status))
                if reason is not None:
                    await repo.update_reference_filing(row.filing_id, row.insured_pool, row.end, status, reason)
                inserted += 1
            elif (old.insured_pool, old.end, old.status, old.revoke_reason) != (row.insured_pool, row.end, status,
                                                                                 reason):
                await repo.update_reference_filing(row.filing_id, row.insured_pool, row.end, status, reason)
                updated += 1
            else:
                unchanged += 1
    for fid, old in stored.items():
        if fid not in listed and old.status == ACTIVE:
            await repo.update_reference_filing(fid, old.insured_pool, old.end, REVOKED, REASON_REFERENCE_REMOVED)
            updated += 1
    return RowCounts(inserted=inserted, updated=updated, unchanged=unchanged)
