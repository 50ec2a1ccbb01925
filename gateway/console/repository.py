"""All SQL of the operator console: the `console` schema (infra/migrations/console/), owned by the
gateway. Each method is one statement (its own implicit transaction) unless it says otherwise."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

Q_OPERATOR = ("SELECT username, display_name, role, password_hash, disabled, created_at, last_login_at "
              "FROM console.operators WHERE username = $1")
Q_OPERATORS = ("SELECT username, display_name, role, password_hash, disabled, created_at, last_login_at "
               "FROM console.operators ORDER BY username")
Q_CREATE = """
INSERT INTO console.operators (username, display_name, role, password_hash, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING"""
Q_SET_PASSWORD = "UPDATE console.operators SET password_hash = $2, updated_at = $3 WHERE username = $1"
Q_SET_ROLE = "UPDATE console.operators SET role = $2, disabled = $3, updated_at = $4 WHERE username = $1"
Q_TOUCH_LOGIN = "UPDATE console.operators SET last_login_at = $2 WHERE username = $1"

Q_TOKEN_INSERT = """
INSERT INTO console.api_tokens (token_id, username, name, token_sha256, created_at) VALUES ($1, $2, $3, $4, $5)"""
Q_TOKEN_BY_HASH = """
SELECT t.token_id, t.username, o.role, o.disabled FROM console.api_tokens t JOIN console.operators o USING (username)
WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL"""
Q_TOKEN_TOUCH = "UPDATE console.api_tokens SET last_used_at = $2 WHERE token_id = $1"
Q_TOKENS_OF = """
SELECT token_id, username, name, created_at, last_used_at, revoked_at FROM console.api_tokens
WHERE username = $1 ORDER BY created_at DESC"""
Q_TOKEN_REVOKE = """
UPDATE console.api_tokens SET revoked_at = $3 WHERE token_id = $1 AND username = $2 AND revoked_at IS NULL"""
Q_TOKEN_REVOKE_NAMED = """
UPDATE console.api_tokens SET revoked_at = $3 WHERE username = $1 AND name = $2 AND revoked_at IS NULL
AND token_sha256 <> $4"""
Q_TOKEN_ACTIVE_HASH = "SELECT token_id FROM console.api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL"

Q_AUDIT_INSERT = """
INSERT INTO console.audit_log (at, actor, role, via, action, target, outcome, detail, client)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
Q_AUDIT = """
SELECT id, at, actor, role, via, action, target, outcome, detail, client FROM console.audit_log
WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action LIKE $2 || '%') AND ($3::bigint = 0 OR id < $3)
ORDER BY id DESC LIMIT $4"""


# Reference data (readable by every module; written only by services/refdata): versions and loads.
Q_REF_LOADS = "SELECT id, loaded_at, report FROM reference.loads ORDER BY id DESC LIMIT $1"
Q_REF_POLICIES = """
SELECT DISTINCT ON (pool, insutype, year) pool, insutype, year, version, effective_from FROM reference.policies
ORDER BY pool, insutype, year DESC, version DESC"""
Q_REF_COUNTS = """
SELECT (SELECT count(*) FROM reference.pools), (SELECT count(*) FROM reference.hospitals),
       (SELECT count(*) FROM reference.catalogue_items)"""
Q_REF_HOSPITALS = "SELECT code, name, admdvs, level FROM reference.hospitals ORDER BY code"
Q_REF_POOLS = "SELECT code, name FROM reference.pools ORDER BY code"


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    display_name: str
    role: str
    password_hash: str
    disabled: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    token_id: str
    username: str
    role: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    username: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    role: str
    via: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    client: str


def _operator(r: Any) -> Operator | None:
    return None if r is None else Operator(*r)


class ConsoleRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._db = pool

    async def operator(self, username: str) -> Operator | None:
        return _operator(await self._db.fetchrow(Q_OPERATOR, username))

    async def operators(self) -> list[Operator]:
        return [Operator(*r) for r in await self._db.fetch(Q_OPERATORS)]

    async def create(self, username: str, display_name: str, role: str, password_hash: str, at: dt.datetime) -> bool:
        """False when the name is taken (nothing changed)."""
        status: str = await self._db.execute(Q_CREATE, username, display_name, role, password_hash, at)
        return status.endswith(" 1")

    async def set_password(self, username: str, password_hash: str, at: dt.datetime) -> bool:
        status: str = await self._db.execute(Q_SET_PASSWORD, username, password_hash, at)
        return status.endswith(" 1")

    async def set_role(self, username: str, role: str, disabled: bool, at: dt.datetime) -> bool:
        status: str = await self._db.execute(Q_SET_ROLE, username, role, disabled, at)
        return status.endswith(" 1")

    async def touch_login(self, username: str, at: dt.datetime) -> None:
        await self._db.execute(Q_TOUCH_LOGIN, username, at)

    async def insert_token(self, token_id: str, username: str, name: str, sha256: str, at: dt.datetime) -> None:
        await self._db.execute(Q_TOKEN_INSERT, token_id, username, name, sha256, at)

    async def token_owner(self, sha256: str) -> TokenOwner | None:
        r = await self._db.fetchrow(Q_TOKEN_BY_HASH, sha256)
        return None if r is None else TokenOwner(*r)

    async def touch_token(self, token_id: str, at: dt.datetime) -> None:
        await self._db.execute(Q_TOKEN_TOUCH, token_id, at)

    async def tokens_of(self, username: str) -> list[TokenInfo]:
        return [TokenInfo(*r) for r in await self._db.fetch(Q_TOKENS_OF, username)]

    async def revoke_token(self, token_id: str, username: str, at: dt.datetime) -> bool:
        status: str = await self._db.execute(Q_TOKEN_REVOKE, token_id, username, at)
        return status.endswith(" 1")

    async def replace_named_token(self, token_id: str, username: str, name: str, sha256: str, at: dt.datetime) -> bool:
        """The token `name` of `username` becomes the one with hash `sha256` (the bootstrap token):
        others of that name revoked, this one inserted unless it is already active. One transaction.
        True when something changed."""
        try:
            async with self._db.acquire() as conn, conn.transaction():
                revoked: str = await conn.execute(Q_TOKEN_REVOKE_NAMED, username, name, at, sha256)
                if await conn.fetchval(Q_TOKEN_ACTIVE_HASH, sha256) is None:
                    await conn.execute(Q_TOKEN_INSERT, token_id, username, name, sha256, at)
                    return True
                return not revoked.endswith(" 0")
        except asyncpg.UniqueViolationError:  # another gateway process registered it at the same moment
            return False

    async def audit(self, *, at: dt.datetime, actor: str, role: str, via: str, action: str, target: str,
                    outcome: str, detail: dict[str, Any], client: str) -> None:
        await self._db.execute(Q_AUDIT_INSERT, at, actor, role, via, action, target[:200], outcome,
                               json.loads(json.dumps(detail, default=str)), client[:100])

    async def audit_log(self, *, actor: str = "", action: str = "", before_id: int = 0,
                        limit: int = 100) -> list[AuditEntry]:
        return [AuditEntry(*r) for r in await self._db.fetch(Q_AUDIT, actor, action, before_id, limit)]

    # ------------------------------------------------------------------------- reference data (read only)

    async def reference_loads(self, limit: int = 50) -> list[tuple[int, dt.datetime, dict[str, Any]]]:
        return [(r["id"], r["loaded_at"], r["report"]) for r in await self._db.fetch(Q_REF_LOADS, limit)]

    async def policy_versions(self) -> list[tuple[str, str, int, int, dt.datetime]]:
        return [tuple(r) for r in await self._db.fetch(Q_REF_POLICIES)]

    async def reference_counts(self) -> tuple[int, int, int]:
        r = await self._db.fetchrow(Q_REF_COUNTS)
        return int(r[0]), int(r[1]), int(r[2])

    async def hospitals(self) -> list[tuple[str, str, str, int]]:
        return [tuple(r) for r in await self._db.fetch(Q_REF_HOSPITALS)]

    async def pools(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in await self._db.fetch(Q_REF_POOLS)]
