"""Operator accounts on the real PostgreSQL and Redis: the bootstrap admin once, sign-in and lock-out,
API tokens (hashed, revocable, the bootstrap token replaced), every change audited."""

from __future__ import annotations

import secrets

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway.console.accounts import ADMIN, BOOTSTRAP_TOKEN_NAME, Actor, Console, ConsoleRefusal, token_sha256
from gateway.console.repository import ConsoleRepository
from gateway.portal.ratelimit import RateLimiter
from services.common.clock import Clock

ROOT = Actor("admin", "admin", "cli")


@pytest_asyncio.fixture
async def console(db_pool, redis_url):
    redis = aioredis.from_url(redis_url)
    yield Console(repo=ConsoleRepository(db_pool), clock=Clock(),
                  limiter=RateLimiter(redis, max_attempts=3, lockout_s=60, prefix="console"))
    await redis.aclose()


def uname(role: str = "op") -> str:
    return f"{role}{secrets.token_hex(4)}"


async def test_the_bootstrap_admin_is_created_once(console):
    first = await console.ensure_admin()
    again = await console.ensure_admin()
    assert again is None  # never a second password
    admin = await console.repo.operator(ADMIN)
    assert admin is not None and admin.role == "admin"
    if first is not None:  # a fresh test database: the password works
        assert (await console.login(ADMIN, first, "test")).username == ADMIN


async def test_sign_in_wrong_password_and_lock_out(console):
    name = uname()
    password = await console.create_operator(ROOT, name, "operator")
    assert (await console.login(name.upper(), password, "test")).role == "operator"
    for _ in range(2):
        with pytest.raises(ConsoleRefusal) as e:
            await console.login(name, "wrong-password", "test")
        assert e.value.code == "LOGIN_FAILED" and e.value.status == 401
    with pytest.raises(ConsoleRefusal) as e:
        await console.login(name, "wrong-password", "test")
    assert e.value.code == "LOCKED_OUT"
    with pytest.raises(ConsoleRefusal) as e:
        await console.login(name, password, "test")  # even the right one, while locked
    assert e.value.code == "LOCKED_OUT" and e.value.retry_after
    fresh = await console.reset_password(ROOT, name)  # the reset lifts the lock-out
    assert (await console.login(name, fresh, "test")).username == name
    log = await console.repo.audit_log(actor=name)
    assert [x.outcome for x in log if x.action == "login"].count("refused") >= 4


async def test_a_disabled_account_cannot_sign_in_and_names_are_unique(console):
    name = uname()
    password = await console.create_operator(ROOT, name, "auditor")
    with pytest.raises(ConsoleRefusal) as e:
        await console.create_operator(ROOT, name, "operator")
    assert e.value.code == "USERNAME_TAKEN" and e.value.field == "username"
    await console.set_role(ROOT, name, "auditor", True)
    with pytest.raises(ConsoleRefusal) as e:
        await console.login(name, password, "test")
    assert e.value.code == "LOGIN_FAILED"
    with pytest.raises(ConsoleRefusal) as e:
        await console.set_role(Actor(name, "admin", "console"), name, "operator", False)
    assert e.value.code == "OWN_ACCOUNT"


async def test_api_tokens_hashed_revocable_and_the_bootstrap_token_replaced(console, db_pool):
    name = uname()
    await console.create_operator(ROOT, name, "auditor")
    actor = Actor(name, "auditor", "console")
    token = await console.create_token(actor, "script")
    assert (await console.token_owner(token)).role == "auditor"
    assert await db_pool.fetchval("SELECT count(*) FROM console.api_tokens WHERE token_sha256 = $1",
                                  token_sha256(token)) == 1
    assert await db_pool.fetchval("SELECT count(*) FROM console.api_tokens WHERE token_sha256 = $1", token) == 0
    [info] = await console.tokens_of(name)
    await console.revoke_token(actor, info.token_id)
    assert await console.token_owner(token) is None
    with pytest.raises(ConsoleRefusal):
        await console.revoke_token(Actor("someone-else", "admin", "console"), info.token_id)
    with pytest.raises(ConsoleRefusal) as e:
        await console.create_token(actor, "")
    assert e.value.field == "name"

    await console.ensure_admin()
    one, two = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await console.register_token(ROOT, ADMIN, BOOTSTRAP_TOKEN_NAME, one)
    await console.register_token(ROOT, ADMIN, BOOTSTRAP_TOKEN_NAME, one)  # a restart with the same: nothing new
    assert (await console.token_owner(one)).username == ADMIN
    await console.register_token(ROOT, ADMIN, BOOTSTRAP_TOKEN_NAME, two)  # changed: the old one no longer opens
    console._tokens.clear()
    assert await console.token_owner(one) is None and (await console.token_owner(two)).username == ADMIN
    with pytest.raises(ConsoleRefusal) as e:
        await console.register_token(ROOT, ADMIN, BOOTSTRAP_TOKEN_NAME, "short")
    assert e.value.code == "WEAK_TOKEN"
