"""Migrations are applied automatically and exactly once, and each service owns its own schema."""

from __future__ import annotations

import asyncpg
import pytest

from services.common import db

pytestmark = pytest.mark.integration


async def test_second_migrate_applies_nothing(database_url):
    # The session fixture has already migrated this database; a second run must be a no-op.
    assert await db.migrate(database_url) == []


async def test_every_migration_file_is_recorded_once(db_pool):
    rows = await db_pool.fetch("SELECT schema, name, count(*) AS n FROM public.schema_migrations GROUP BY 1, 2")
    recorded = {(r["schema"], r["name"]) for r in rows}
    assert all(r["n"] == 1 for r in rows)
    files = {(schema, name) for schema, name, _ in db.migration_files()}
    assert files <= recorded


async def test_each_owner_has_its_own_schema(db_pool):
    schemas = {r["nspname"] for r in await db_pool.fetch("SELECT nspname FROM pg_namespace")}
    owners = {schema for schema, _, _ in db.migration_files()}
    assert owners <= schemas
    assert {"reference", "eligibility", "filing", "settlement"} <= owners


async def test_concurrent_migrators_do_not_collide(database_url):
    # Three services booting together each call migrate(); the advisory lock serialises them.
    import asyncio

    results = await asyncio.gather(*(db.migrate(database_url) for _ in range(3)))
    assert results == [[], [], []]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM public.schema_migrations") == len(db.migration_files())
    finally:
        await conn.close()
