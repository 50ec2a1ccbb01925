"""PostgreSQL access: one pool per process, migrations applied exactly once.

Migrations live in `infra/migrations/<schema>/NNNN_name.sql`, one folder per owning service,
applied in the order of SCHEMAS and file name, each once, tracked in public.schema_migrations.
An advisory lock makes concurrent starters (three services booting together) safe.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import asyncpg

from services.common.config import REPO_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = REPO_ROOT / "infra" / "migrations"
SCHEMAS = ("reference", "eligibility", "filing", "settlement", "supervision", "gateway", "portal", "console")
_MIGRATION_LOCK = 0x6D656473  # "meds"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb <-> Python objects without a round trip through text in every repository.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, reset=None) -> asyncpg.Pool:
    """`reset`: asyncpg's hook run when a connection goes back to the pool (after asyncpg rolls back
    any open transaction). None keeps asyncpg's default, one more round trip per release
    (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL); a process that never leaves session state
    on a pooled connection may pass a cheaper one."""
    from services.common.telemetry import TracedConnection

    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, connection_class=TracedConnection,
        statement_cache_size=512, max_inactive_connection_lifetime=300, reset=reset,
    )


def migration_files() -> list[tuple[str, str, Path]]:
    files = []
    for schema in SCHEMAS:
        folder = MIGRATIONS_DIR / schema
        if folder.is_dir():
            for path in sorted(folder.glob("*.sql")):
                files.append((schema, path.stem, path))
    return files


async def migrate(dsn: str) -> list[str]:
    """Apply every pending migration; return the names applied."""
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                " schema text NOT NULL, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (schema, name))"
            )
            done = {(r["schema"], r["name"]) for r in await conn.fetch("SELECT schema, name FROM public.schema_migrations")}
            for schema, name, path in migration_files():
                if (schema, name) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO public.schema_migrations(schema, name) VALUES ($1, $2)", schema, name)
                applied_now.append(f"{schema}/{name}")
                log.info("migration applied", extra={"migration": f"{schema}/{name}"})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied_now
