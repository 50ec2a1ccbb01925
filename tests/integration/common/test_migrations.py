"""Migrations are applied automatically and exactly once, and each service owns its own schema."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from services.common import db

pytestmark = pytest.mark.integration


async def test_second_migrate_applies_nothing(database_url):
    # The session fixture has already migrated this database; a second run must be a no-op.
    assert await db.migrate(database_url) == []


@pytest_asyncio.fixture
async def empty_database(database_url):
    """A new, empty database on the same server (dropped afterwards): migrations start from nothing."""
    name = f"mig_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(database_url)
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _all_files() -> list[str]:
    return [f"{schema}/{name}" for schema, name, _ in db.migration_files()]


async def test_every_migration_file_is_applied_once_in_order_on_an_empty_database(empty_database):
    applied = await db.migrate(empty_database)
    assert applied == _all_files()  # every file, once, in the order of SCHEMAS and file name
    assert await db.migrate(empty_database) == []
    conn = await asyncpg.connect(empty_database)
    try:
        rows = await conn.fetch("SELECT schema, name FROM public.schema_migrations ORDER BY applied_at, schema, name")
    finally:
        await conn.close()
    assert sorted(f"{r['schema']}/{r['name']}" for r in rows) == sorted(_all_files())


async def test_each_owner_has_its_own_schema(db_pool):
    schemas = {r["nspname"] for r in await db_pool.fetch("SELECT nspname FROM pg_namespace")}
    owners = {schema for schema, _, _ in db.migration_files()}
    assert owners <= schemas
    assert {"reference", "eligibility", "filing", "settlement"} <= owners


async def test_concurrent_migrators_on_an_empty_database_apply_each_file_once(empty_database):
    # Three services booting together each call migrate(); the advisory lock serialises them: one
    # applies everything, the others find nothing left, and none fails on a half-made schema.
    import asyncio

    results = await asyncio.gather(*(db.migrate(empty_database) for _ in range(3)))
    assert sorted(results, key=len) == [[], [], _all_files()]
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM public.schema_migrations") == len(_all_files())
    finally:
        await conn.close()
