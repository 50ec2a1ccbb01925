"""Loading a parsed reference document into PostgreSQL (schema `reference`).

One transaction per document, serialized by an advisory lock: either all of it applies or none.
The load is an upsert computed as a diff against what is stored, so loading the same document
twice writes nothing and reports 0 changed. Semantics per kind:
- first, under the load lock: what the document names but does not define (a pool, a hospital)
  must be stored (`schema.check_against_stored`), else a ReferenceError naming each path;
- pools, hospitals: upsert by code (a pool listed replaces its whole admdvs set);
- catalogues: items upserted by (pool, code); unlisted items stay unless `replace_catalogues`;
- policies: never updated in place; a canonical body that differs from the latest version is
  inserted as version + 1, effective from the load's commit time;
- persons: handed to the code of the services that own their tables, on this transaction's
  connection: eligibility's reference_load (persons, enrollments, identities, chronic
  qualifications) and filing's reference_load (filings). This module writes only `reference`.
After a load that changed reference data, `NOTIFY reference_changed` (delivered on commit)
makes every ReferenceCache reload.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from services.refdata.records import PersonRecord, RowCounts
from services.refdata.schema import (
    ReferenceDocument,
    StoredReference,
    check_against_stored,
    policy_body_text,
    supervision_body_text,
)

NOTIFY_CHANNEL = "reference_changed"
_LOAD_LOCK = 0x72656664  # "refd": one load at a time

KINDS = ("pools", "hospitals", "catalogue_items", "policies", "supervision", "persons", "filings")


class PersonsStoreUnavailable(RuntimeError):
    """The eligibility/filing code that stores persons is not importable."""


@dataclass(slots=True)
class KindCount:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass(slots=True)
class LoadReport:
    counts: dict[str, KindCount] = field(default_factory=lambda: {k: KindCount() for k in KINDS})
    new_policy_versions: list[tuple[str, str, int, int]] = field(default_factory=list)  # pool, insutype, year, version
    new_supervision_versions: list[tuple[str, int, int]] = field(default_factory=list)  # pool, year, version
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(c.changed for c in self.counts.values())

    @property
    def reference_changed(self) -> int:
        return sum(self.counts[k].changed for k in ("pools", "hospitals", "catalogue_items", "policies", "supervision"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "counts": {k: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged, "deleted": c.deleted}
                       for k, c in self.counts.items()},
            "new_policy_versions": [list(v) for v in self.new_policy_versions],
            "new_supervision_versions": [list(v) for v in self.new_supervision_versions],
            "warnings": list(self.warnings),
        }

    def render(self) -> str:
        lines = [f"{'kind':<16}{'inserted':>9}{'updated':>9}{'unchanged':>10}{'deleted':>9}"]
        for k, c in self.counts.items():
            lines.append(f"{k:<16}{c.inserted:>9}{c.updated:>9}{c.unchanged:>10}{c.deleted:>9}")
        for pool, insutype, year, version in self.new_policy_versions:
            lines.append(f"policy {pool}/{insutype}/{year}: now version {version}")
        for pool, year, version in self.new_supervision_versions:
            lines.append(f"supervision rules {pool}/{year}: now version {version}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        lines.append(f"{self.changed} changed" if self.changed else "0 changed: already up to date")
        return "\n".join(lines)


# upsert_persons_counted / upsert_filings_counted: (conn, the document's persons) -> what they did.
PersonWriter = Callable[[Any, Sequence[PersonRecord]], Awaitable[RowCounts]]


def _person_writers() -> tuple[PersonWriter, PersonWriter]:
    missing = []
    upsert_persons: PersonWriter | None
    upsert_filings: PersonWriter | None
    try:
        from services.eligibility.reference_load import upsert_persons_counted as upsert_persons
    except ImportError as exc:
        upsert_persons = None
        missing.append(f"services.eligibility.reference_load.upsert_persons_counted ({exc})")
    try:
        from services.filing.reference_load import upsert_filings_counted as upsert_filings
    except ImportError as exc:
        upsert_filings = None
        missing.append(f"services.filing.reference_load.upsert_filings_counted ({exc})")
    if missing:
        raise PersonsStoreUnavailable(
            "this document has persons, but the code that stores them is not available: "
            + "; ".join(missing) + ". Nothing was loaded."
        )
    assert upsert_persons is not None and upsert_filings is not None  # else named in `missing`
    return upsert_persons, upsert_filings


async def load_document(pool: asyncpg.Pool, doc: ReferenceDocument, *, replace_catalogues: bool = False) -> LoadReport:
    """Apply a validated document in one transaction; return what changed.

    Catalogue items are upserted; with `replace_catalogues=True` a catalogue in the document is
    the whole catalogue of its pool and stored items it does not list are deleted."""
    writers = _person_writers() if doc.persons else None
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOAD_LOCK)
            # Under the lock: what the document refers to and does not define must be stored,
            # else a ReferenceError naming each path (the transaction rolls back: nothing applied).
            doc = check_against_stored(doc, await stored_reference(conn, doc))
            report = LoadReport(warnings=list(doc.warnings))
            await _load_pools(conn, doc, report.counts["pools"])
            await _load_hospitals(conn, doc, report.counts["hospitals"])
            await _load_catalogues(conn, doc, report.counts["catalogue_items"], replace_catalogues)
            await _load_policies(conn, doc, report)
            await _load_supervision(conn, doc, report)
            if writers is not None:
                upsert_persons, upsert_filings = writers
                for kind, writer in (("persons", upsert_persons), ("filings", upsert_filings)):
                    done = await writer(conn, doc.persons)
                    c = report.counts[kind]
                    c.inserted, c.updated, c.unchanged = done.inserted, done.updated, done.unchanged
                await _store_deaths(conn, doc.persons)
            if report.changed:
                await conn.execute("INSERT INTO reference.loads (report) VALUES ($1::text::jsonb)",
                                   json.dumps(report.as_dict(), ensure_ascii=False))
            if report.reference_changed:
                payload = json.dumps({"versions": report.new_policy_versions, "changed": report.reference_changed})
                await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, payload)
    return report


async def stored_reference(conn: asyncpg.Connection, doc: ReferenceDocument) -> StoredReference:
    """What the database holds that `doc` may refer to: every pool with its insurance types and
    admdvs (a few hundred rows), and the hospitals the document's chronic qualifications name."""
    pools = {r["code"]: frozenset(r["insutypes"]) for r in await conn.fetch("SELECT code, insutypes FROM reference.pools")}
    admdvs: dict[tuple[str, str], str] = {}
    for r in await conn.fetch("SELECT pool, admdvs FROM reference.pool_admdvs ORDER BY pool, admdvs"):
        for t in pools.get(r["pool"], ()):
            admdvs.setdefault((r["admdvs"], t), r["pool"])
    named = sorted({r.code for r in doc.references if r.kind == "hospital"})
    hospitals = frozenset(r["code"] for r in await conn.fetch(
        "SELECT code FROM reference.hospitals WHERE code = any($1::text[])", named)) if named else frozenset()
    return StoredReference(pools=pools, admdvs=admdvs, hospitals=hospitals)


async def _load_pools(conn: asyncpg.Connection, doc: ReferenceDocument, count) -> None:
    if not doc.pools:
        return
    codes = [p.code for p in doc.pools]
    stored = {r["code"]: (r["name"], tuple(r["insutypes"])) for r in await conn.fetch(
        "SELECT code, name, insutypes FROM reference.pools WHERE code = any($1::text[])", codes)}
    stored_admdvs: dict[str, set[str]] = {}
    for r in await conn.fetch("SELECT pool, admdvs FROM reference.pool_admdvs WHERE pool = any($1::text[])", codes):
        stored_admdvs.setdefault(r["pool"], set()).add(r["admdvs"])
    for p in doc.pools:
        old = stored.get(p.code)
        if old is None:
            await conn.execute("INSERT INTO reference.pools (code, name, insutypes) VALUES ($1, $2, $3::text[])",
                               p.code, p.name, list(p.insutypes))
            count.inserted += 1
        else:
            row_changed = old != (p.name, tuple(p.insutypes))
            admdvs_changed = stored_admdvs.get(p.code, set()) != set(p.admdvs)
            if row_changed:
                await conn.execute("UPDATE reference.pools SET name = $2, insutypes = $3::text[], updated_at = now() "
                                   "WHERE code = $1", p.code, p.name, list(p.insutypes))
            if row_changed or admdvs_changed:
                count.updated += 1
            else:
                count.unchanged += 1
        have = stored_admdvs.get(p.code, set())
        gone = sorted(have - set(p.admdvs))
        new = sorted(set(p.admdvs) - have)
        if gone:
            await conn.execute("DELETE FROM reference.pool_admdvs WHERE pool = $1 AND admdvs = any($2::text[])", p.code, gone)
        if new:
            await conn.executemany("INSERT INTO reference.pool_admdvs (pool, admdvs) VALUES ($1, $2)",
                                   [(p.code, a) for a in new])


async def _load_hospitals(conn: asyncpg.Connection, doc: ReferenceDocument, count) -> None:
    if not doc.hospitals:
        return
    creds = {c.code: c for c in doc.credentials}
    stored = {r["code"]: tuple(r)[1:] for r in await conn.fetch(
        "SELECT code, name, admdvs, level, cross_province, paasid, secret, auth, msgid_rule, sign_in, "
        "tif_window_s, api_window_s FROM reference.hospitals WHERE code = any($1::text[])",
        [h.code for h in doc.hospitals])}
    changed = []
    for h in doc.hospitals:
        c = creds[h.code]
        i = c.interface
        row = (h.name, h.admdvs, h.level, h.cross_province, c.paasid, c.secret,
               list(i.auth), i.msgid, i.sign_in, i.tif_window_s, i.api_window_s)
        old = stored.get(h.code)
        if old is None:
            count.inserted += 1
            changed.append((h.code, *row))
        elif _hospital_row(old) != _hospital_row(row):
            count.updated += 1
            changed.append((h.code, *row))
        else:
            count.unchanged += 1
    if changed:
        # A paasid moving from one hospital to another within this document must not trip the
        # unique constraint half-way: park the changed rows' paasids first.
        await conn.execute("UPDATE reference.hospitals SET paasid = '~moving~' || code WHERE code = any($1::text[])",
                           [r[0] for r in changed])
        await conn.executemany(
            "INSERT INTO reference.hospitals (code, name, admdvs, level, cross_province, paasid, secret, auth, "
            "msgid_rule, sign_in, tif_window_s, api_window_s) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9, $10, $11, $12) "
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
            "admdvs = excluded.admdvs, level = excluded.level, cross_province = excluded.cross_province, "
            "paasid = excluded.paasid, secret = excluded.secret, auth = excluded.auth, "
            "msgid_rule = excluded.msgid_rule, sign_in = excluded.sign_in, tif_window_s = excluded.tif_window_s, "
            "api_window_s = excluded.api_window_s, updated_at = now()", changed)


def _hospital_row(row: tuple) -> tuple:
    """A stored or loaded hospital row in one comparable form (the auth array as a tuple)."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


async def _load_catalogues(conn: asyncpg.Connection, doc: ReferenceDocument, count, replace: bool) -> None:
    for cat in doc.catalogues:
        stored = {r["code"]: (r["name"], r["kind"], r["cls"], r["selfpay_prop"], r["price_cap_fen"]) for r in await conn.fetch(
            "SELECT code, name, kind, cls, selfpay_prop, price_cap_fen FROM reference.catalogue_items WHERE pool = $1",
            cat.pool)}
        changed = []
        for item in cat.items.values():
            row = (item.name, item.kind, item.cls, Decimal(item.selfpay_prop), item.price_cap_fen)
            old = stored.get(item.code)
            if old is None:
                count.inserted += 1
                changed.append((cat.pool, item.code, *row))
            elif old != row:
                count.updated += 1
                changed.append((cat.pool, item.code, *row))
            else:
                count.unchanged += 1
        gone = sorted(set(stored) - set(cat.items)) if replace else []
        if gone:
            await conn.execute("DELETE FROM reference.catalogue_items WHERE pool = $1 AND code = any($2::text[])",
                               cat.pool, gone)
            count.deleted += len(gone)
        if changed:
            await conn.executemany(
                "INSERT INTO reference.catalogue_items (pool, code, name, kind, cls, selfpay_prop, price_cap_fen) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pool, code) DO UPDATE SET name = excluded.name, "
                "kind = excluded.kind, cls = excluded.cls, selfpay_prop = excluded.selfpay_prop, "
                "price_cap_fen = excluded.price_cap_fen, updated_at = now()", changed)


async def _load_policies(conn: asyncpg.Connection, doc: ReferenceDocument, report: LoadReport) -> None:
    count = report.counts["policies"]
    for p in doc.policies:
        body = policy_body_text(p)
        latest = await conn.fetchrow(
            "SELECT version, body_text FROM reference.policies WHERE pool = $1 AND insutype = $2 AND year = $3 "
            "ORDER BY version DESC LIMIT 1", p.pool, p.insutype, p.year)
        if latest is not None and latest["body_text"] == body:
            count.unchanged += 1
            continue
        version = 1 if latest is None else latest["version"] + 1
        await conn.execute(
            "INSERT INTO reference.policies (pool, insutype, year, version, effective_from, body, body_text) "
            "VALUES ($1, $2, $3, $4, now(), $5::text::jsonb, $5::text)", p.pool, p.insutype, p.year, version, body)
        if version == 1:
            count.inserted += 1
        else:
            count.updated += 1
        report.new_policy_versions.append((p.pool, p.insutype, p.year, version))


async def _store_deaths(conn: asyncpg.Connection, persons: Sequence[PersonRecord]) -> None:
    """A person's death_date is kept by settlement's supervision store (the only reader)."""
    from services.settlement.supervision_repository import store_deaths

    await store_deaths(conn, [(p.psn_no, p.death_date) for p in persons])


async def _load_supervision(conn: asyncpg.Connection, doc: ReferenceDocument, report: LoadReport) -> None:
    count = report.counts["supervision"]
    for rs in doc.supervision:
        body = supervision_body_text(rs)
        latest = await conn.fetchrow(
            "SELECT version, body_text FROM reference.supervision_rules WHERE pool = $1 AND year = $2 "
            "ORDER BY version DESC LIMIT 1", rs.pool, rs.year)
        if latest is not None and latest["body_text"] == body:
            count.unchanged += 1
            continue
        version = 1 if latest is None else latest["version"] + 1
        await conn.execute("INSERT INTO reference.supervision_rules (pool, year, version, effective_from, body_text) "
                           "VALUES ($1, $2, $3, now(), $4)", rs.pool, rs.year, version, body)
        if version == 1:
            count.inserted += 1
        else:
            count.updated += 1
        report.new_supervision_versions.append((rs.pool, rs.year, version))


async def invalidate_loaded_persons(redis, doc: ReferenceDocument) -> int:
    """After `load_document` committed: drop the eligibility cache of every person in the document
    (through eligibility's cache module, the only code that knows its Redis keys).

    The eligibility service also invalidates on the loader's notification, but that arrives
    asynchronously; a caller that acknowledges a load (the CLI, the admin API) calls this first so
    no read after the acknowledgement can see the old status."""
    if not doc.persons:
        return 0
    from services.eligibility.cache import invalidate_persons

    return await invalidate_persons(redis, [p.psn_no for p in doc.persons])
