"""Operator accounts, roles, API tokens and the audit log (docs/CONSOLE.md) — the use cases the
console pages, the admin REST API and `medsettle operator ...` share.

Roles: `admin` (everything, operator accounts included), `operator` (bureau operator: reference
loads, enrollment changes, clearing runs), `auditor` (read-only), `reviewer` (supervision
reviewer: alert decisions, and reading). `can(role, permission)` is the one table.

Passwords: argon2id (argon2-cffi); an unknown name is verified against a dummy hash, so it costs
the same time and gets the same LOGIN_FAILED as a wrong password. CONSOLE_MAX_ATTEMPTS wrong
passwords lock the name out for CONSOLE_LOCKOUT_S (Redis `console:fail:` / `console:lock:`),
whether or not the name exists. API tokens are `mso_` + 32 random bytes, shown once; only their
sha256 is stored. Every admin action is recorded in `console.audit_log` (who, role, via, when,
what, outcome). Nothing is logged with a password or a token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.console.repository import ConsoleRepository, Operator, TokenInfo, TokenOwner
from gateway.portal.ratelimit import RateLimiter
from services.common.clock import Clock

log = logging.getLogger("gateway.console")

ROLES = ("admin", "operator", "auditor", "reviewer")
ROLE_LABELS = {"admin": "系统管理员 (admin)", "operator": "经办人员 (bureau operator)",
               "auditor": "审计 只读 (auditor, read-only)", "reviewer": "监管审核 (supervision reviewer)"}
# permission -> the roles that have it
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),                       # every page and read endpoint
    "act": frozenset({"admin", "operator"}),        # reference load, enrollments, identities, chronic, clearing
    "review": frozenset({"admin", "reviewer"}),     # supervision alert decisions
    "manage": frozenset({"admin"}),                 # operator accounts
}
ADMIN = "admin"
BOOTSTRAP_TOKEN_NAME = "bootstrap (MEDSETTLE_ADMIN_TOKEN)"
USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 128
TOKEN_PREFIX = "mso_"
TOKEN_CACHE_S = 10.0  # a verified token is trusted this long in-process (a revoked one dies within it)


def can(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())


class ConsoleRefusal(Exception):
    """A refused console or account request: an outcome code, a message for the operator, the
    field, an HTTP status."""

    def __init__(self, code: str, message: str, field: str | None = None, *, status: int = 400,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.status, self.retry_after = code, message, field, status, retry_after


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something: the operator, their role, and through what (console, api, cli, start)."""
    username: str
    role: str
    via: str
    client: str = ""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


def clean_username(value: str) -> str:
    name = (value or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise ConsoleRefusal("INVALID_USERNAME", "用户名为 2–32 位小写字母、数字或 . _ -, 以字母开头 (a user name is 2–32 "
                             "lower-case letters, digits, '.', '_' or '-', starting with a letter)", "username")
    return name


def check_role(value: str) -> str:
    if value not in ROLES:
        raise ConsoleRefusal("INVALID_ROLE", f"角色应为 {' / '.join(ROLES)} (role must be one of {', '.join(ROLES)})",
                             "role")
    return value


def password_problem(password: str, again: str | None = None) -> ConsoleRefusal | None:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        return ConsoleRefusal("WEAK_PASSWORD", f"密码至少 {MIN_PASSWORD} 位 (a password has {MIN_PASSWORD} to "
                              f"{MAX_PASSWORD} characters)", "password")
    if again is not None and not secrets.compare_digest(password.encode(), again.encode()):
        return ConsoleRefusal("PASSWORD_MISMATCH", "两次输入的密码不一致 (the passwords differ)", "password2")
    return None


_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such operator, the timing stays the same")


@dataclass
class Console:
    """What the console, the admin API and the CLI need; built once per process."""
    repo: ConsoleRepository
    clock: Clock
    limiter: RateLimiter | None = None   # login lock-out (Redis); the CLI has none
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    _tokens: dict[str, tuple[float, TokenOwner]] = field(default_factory=dict)

    # ------------------------------------------------------------------------- audit

    async def record(self, actor: Actor, action: str, target: str = "", *, outcome: str = "ok",
                     detail: dict[str, Any] | None = None) -> None:
        await self.repo.audit(at=self.clock.now(), actor=actor.username, role=actor.role, via=actor.via,
                              action=action, target=target, outcome=outcome, detail=detail or {}, client=actor.client)
        log.info("console: audit", extra={"actor": actor.username, "action": action, "outcome": outcome,
                                          "via": actor.via})

    # ------------------------------------------------------------------------- sign-in

    async def login(self, username: str, password: str, client: str) -> Operator:
        """The operator; refused LOGIN_FAILED (unknown name, wrong password, disabled: the same
        answer after the same argon2 work) or LOCKED_OUT. Recorded in the audit log."""
        name = (username or "").strip().lower()[:32]
        subject = name or "-"
        if self.limiter is not None:
            left = await self.limiter.locked(subject)
            if left:
                await self.record(Actor(name or "-", "", "console", client), "login", name, outcome="refused",
                                  detail={"code": "LOCKED_OUT"})
                raise ConsoleRefusal("LOCKED_OUT", f"密码错误次数过多, 账号已锁定, 请 {max(1, left // 60)} 分钟后再试 "
                                     f"(too many wrong passwords: locked, try again in {left} s)", "password",
                                     status=429, retry_after=left)
        op = await self.repo.operator(name) if USERNAME_RE.match(name) else None
        ok = await asyncio.to_thread(self._verify, op.password_hash if op else _DUMMY_HASH, password or "")
        if op is None or op.disabled or not ok:
            locked = await self.limiter.failed(subject) if self.limiter is not None else False
            await self.record(Actor(name or "-", op.role if op else "", "console", client), "login", name,
                              outcome="refused", detail={"code": "LOCKED_OUT" if locked else "LOGIN_FAILED"})
            if locked:
                raise ConsoleRefusal("LOCKED_OUT", "密码错误次数过多, 账号已锁定 (too many wrong passwords: locked out)",
                                     "password", status=429, retry_after=self.limiter.lockout_s if self.limiter else 0)
            raise ConsoleRefusal("LOGIN_FAILED", "用户名或密码错误 (wrong user name or password)", "password", status=401)
        if self.limiter is not None:
            await self.limiter.succeeded(subject)
        await self.repo.touch_login(op.username, self.clock.now())
        await self.record(Actor(op.username, op.role, "console", client), "login", op.username)
        return op

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    # ------------------------------------------------------------------------- accounts

    async def ensure_admin(self, via: str = "start") -> str | None:
        """Create the bootstrap `admin` on first start: its generated password (print it once),
        or None when it exists already."""
        if await self.repo.operator(ADMIN) is not None:
            return None
        password = new_password()
        if not await self.repo.create(ADMIN, "Administrator", "admin", await self._hash(password), self.clock.now()):
            return None  # another process created it first
        await self.record(Actor(ADMIN, "admin", via), "operator.create", ADMIN, detail={"role": "admin",
                                                                                        "bootstrap": True})
        return password

    async def create_operator(self, actor: Actor, username: str, role: str, display_name: str = "",
                              password: str | None = None) -> str:
        """A new account; returns its password (generated when not given: shown once)."""
        name, role = clean_username(username), check_role(role)
        display_name = (display_name or "").strip()[:50]
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise problem
        password = password or new_password()
        if not await self.repo.create(name, display_name, role, await self._hash(password), self.clock.now()):
            raise ConsoleRefusal("USERNAME_TAKEN", f"用户名 {name} 已存在 (user name {name} is taken)", "username",
                                 status=409)
        await self.record(actor, "operator.create", name, detail={"role": role})
        return password

    async def reset_password(self, actor: Actor, username: str) -> str:
        name = clean_username(username)
        password = new_password()
        if not await self.repo.set_password(name, await self._hash(password), self.clock.now()):
            raise ConsoleRefusal("NO_SUCH_OPERATOR", f"没有操作员 {name} (no operator {name})", "username", status=404)
        if self.limiter is not None:
            await self.limiter.unlock(name)
        await self.record(actor, "operator.reset_password", name)
        return password

    async def change_password(self, actor: Actor, old: str, new: str, again: str) -> None:
        op = await self.repo.operator(actor.username)
        if op is None or not await asyncio.to_thread(self._verify, op.password_hash, old or ""):
            raise ConsoleRefusal("LOGIN_FAILED", "当前密码错误 (the current password is wrong)", "old_password",
                                 status=400)
        problem = password_problem(new, again)
        if problem:
            raise problem
        await self.repo.set_password(op.username, await self._hash(new), self.clock.now())
        await self.record(actor, "operator.change_password", op.username)

    async def set_role(self, actor: Actor, username: str, role: str, disabled: bool) -> None:
        name, role = clean_username(username), check_role(role)
        if name == actor.username and (role != actor.role or disabled):
            raise ConsoleRefusal("OWN_ACCOUNT", "不能更改自己的角色或停用自己 (you cannot change your own role or "
                                 "disable yourself)", "role", status=409)
        if not await self.repo.set_role(name, role, disabled, self.clock.now()):
            raise ConsoleRefusal("NO_SUCH_OPERATOR", f"没有操作员 {name} (no operator {name})", "username", status=404)
        self._tokens.clear()
        await self.record(actor, "operator.role", name, detail={"role": role, "disabled": disabled})

    # ------------------------------------------------------------------------- API tokens

    async def create_token(self, actor: Actor, name: str) -> str:
        """A new API token of the actor's own account: the token (shown once)."""
        label = (name or "").strip()
        if not 1 <= len(label) <= 60:
            raise ConsoleRefusal("FIELD_REQUIRED", "请填写令牌名称, 最多 60 字 (name the token, at most 60 characters)",
                                 "name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "tok-" + secrets.token_hex(6)
        await self.repo.insert_token(token_id, actor.username, label, token_sha256(token), self.clock.now())
        await self.record(actor, "token.create", token_id, detail={"name": label})
        return token

    async def register_token(self, actor: Actor, username: str, name: str, token: str) -> None:
        """Register a token chosen elsewhere (at least 32 characters) for `username` — the
        bootstrap token, a test harness's; an earlier active token of the same name is revoked."""
        if len(token) < 32:
            raise ConsoleRefusal("WEAK_TOKEN", "令牌至少 32 位 (a token has at least 32 characters)", "token")
        if await self.repo.operator(username) is None:
            raise ConsoleRefusal("NO_SUCH_OPERATOR", f"没有操作员 {username} (no operator {username})", "username",
                                 status=404)
        token_id = "tok-" + secrets.token_hex(6)
        if await self.repo.replace_named_token(token_id, username, name, token_sha256(token), self.clock.now()):
            await self.record(actor, "token.register", username, detail={"name": name})

    async def tokens_of(self, username: str) -> list[TokenInfo]:
        return await self.repo.tokens_of(username)

    async def revoke_token(self, actor: Actor, token_id: str) -> None:
        if not await self.repo.revoke_token((token_id or "")[:40], actor.username, self.clock.now()):
            raise ConsoleRefusal("NO_SUCH_TOKEN", "没有这个有效令牌 (no such active token of yours)", "token_id",
                                 status=404)
        self._tokens.clear()
        await self.record(actor, "token.revoke", token_id)

    async def token_owner(self, token: str) -> TokenOwner | None:
        """The account of an active API token (of an enabled operator), else None."""
        if not token or len(token) > 200:
            return None
        digest = token_sha256(token)
        now = time.monotonic()
        hit = self._tokens.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        owner = await self.repo.token_owner(digest)
        if owner is None or owner.disabled:
            self._tokens.pop(digest, None)
            return None
        if len(self._tokens) > 1000:
            self._tokens.clear()
        self._tokens[digest] = (now + TOKEN_CACHE_S, owner)
        await self.repo.touch_token(owner.token_id, self.clock.now())
        return owner
