"""All SQL of the patient pages: the `portal` schema (infra/migrations/portal/), owned by the
gateway. Each method is one statement (its own implicit transaction)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

Q_BY_CERTNO = "SELECT psn_no, certno, password_hash FROM portal.accounts WHERE certno = $1"
Q_BY_PSN_NO = "SELECT psn_no, certno, password_hash FROM portal.accounts WHERE psn_no = $1"
Q_UPSERT = """
INSERT INTO portal.accounts (psn_no, certno, password_hash, created_at, updated_at, last_login_at)
VALUES ($1, $2, $3, $4, $4, $4)
ON CONFLICT (psn_no) DO UPDATE SET certno = EXCLUDED.certno,
    password_hash = COALESCE(EXCLUDED.password_hash, portal.accounts.password_hash),
    updated_at = EXCLUDED.updated_at, last_login_at = EXCLUDED.last_login_at"""
Q_SET_PASSWORD = "UPDATE portal.accounts SET password_hash = $2, updated_at = $3 WHERE psn_no = $1"
Q_TOUCH_LOGIN = "UPDATE portal.accounts SET last_login_at = $2 WHERE psn_no = $1"
Q_COUNT = "SELECT count(*) FROM portal.accounts"


@dataclass(frozen=True, slots=True)
class Account:
    psn_no: str
    certno: str
    password_hash: str | None


def _account(r) -> Account | None:
    return None if r is None else Account(r["psn_no"], r["certno"], r["password_hash"])


class AccountsRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._db = pool

    async def by_certno(self, certno: str) -> Account | None:
        return _account(await self._db.fetchrow(Q_BY_CERTNO, certno))

    async def by_psn_no(self, psn_no: str) -> Account | None:
        return _account(await self._db.fetchrow(Q_BY_PSN_NO, psn_no))

    async def bind(self, psn_no: str, certno: str, password_hash: str | None, at: dt.datetime) -> None:
        """Create the account bound to psn_no, or (verified again) update it; a None password
        keeps the one set before."""
        await self._db.execute(Q_UPSERT, psn_no, certno, password_hash, at)

    async def set_password(self, psn_no: str, password_hash: str, at: dt.datetime) -> None:
        await self._db.execute(Q_SET_PASSWORD, psn_no, password_hash, at)

    async def touch_login(self, psn_no: str, at: dt.datetime) -> None:
        await self._db.execute(Q_TOUCH_LOGIN, psn_no, at)

    async def count(self) -> int:
        n: int = await self._db.fetchval(Q_COUNT)
        return n
