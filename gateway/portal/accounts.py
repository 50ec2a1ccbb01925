"""Use cases of the patient accounts (docs/PORTAL.md): ask for a one-time code (real-name check
by eligibility), verify it, set a password, sign in with the password.

Nothing here reveals whether a person exists: an unknown certificate number, a wrong name and
no phone on file get the same answer as a match ("if the details match, a code was sent"),
after the same work (the VerifyRealName call, a stored code state whose hash nothing matches;
the SMS itself goes out in the background). Wrong codes and wrong passwords count against the
certificate number's subject key; `PORTAL_MAX_ATTEMPTS` of them lock it out for
`PORTAL_LOCKOUT_S`, whoever the number belongs to. Nothing is logged with a code, a password, a
token or a full ID number (`masked`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.portal import codes
from gateway.portal.ratelimit import ATTEMPTS_PER_CLIENT, CODE_PER_CLIENT, CODE_PER_SUBJECT, RateLimiter
from gateway.portal.repository import AccountsRepository
from gateway.portal.sms import SmsSender, tail
from medsettle.eligibility.v1 import eligibility_pb2 as epb
from services.common.clock import Clock
from services.common.config import Settings
from services.common.ids import valid_certno
from services.common.outcomes import CATALOGUE, Kind

log = logging.getLogger("gateway.portal")

PURPOSES = ("signup", "login")


class PortalRefusal(Exception):
    """A refused request of the patient pages: outcome code (services/common/outcomes.py), a
    message for the patient, the field, the HTTP status."""

    def __init__(self, code: str, message: str | None = None, field: str | None = None, *, status: int = 0,
                 retry_after: int | None = None) -> None:
        d = CATALOGUE.get(code)
        super().__init__(message or (d.message if d else code))
        self.code = code
        self.message = message or (d.message if d else code)
        self.field = field
        kind = d.kind if d else Kind.REFUSED
        self.status = status or {Kind.INVALID: 400, Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404}.get(kind, 409)
        self.retry_after = retry_after


def invalid(code: str, message: str | None = None, field: str | None = None) -> PortalRefusal:
    return PortalRefusal(code, message, field, status=400)


def refused(code: str, message: str | None = None, field: str | None = None, *, status: int = 409,
            retry_after: int | None = None) -> PortalRefusal:
    return PortalRefusal(code, message, field, status=status, retry_after=retry_after)


def masked(certno: str) -> str:
    return certno[:3] + "*" * 11 + certno[-4:] if len(certno) == 18 else "*"


def clean_certno(value: str) -> str:
    certno = (value or "").strip().upper()
    if not valid_certno(certno):
        raise invalid("INVALID_CERTNO", "身份证号码无效, 请检查 (not a valid resident ID number)", "certno")
    return certno


# A hash of a random password: verified against when no account exists, so that an unknown
# certificate number costs the same argon2 time as a wrong password.
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such account, the timing stays the same")


@dataclass
class Portal:
    """What the patient pages need; built once when the gateway starts (app.py)."""
    settings: Settings
    clock: Clock
    redis: Any
    accounts: AccountsRepository
    limiter: RateLimiter
    sms: SmsSender
    stubs: Any  # gateway.his.dispatch.Stubs
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    _background: set = field(default_factory=set)

    @property
    def secret(self) -> str:
        secret = self.settings.session_secret
        if not secret:
            raise RuntimeError("the session key is not set (services/common/secrets.py fills it at start-up)")
        return secret

    @property
    def deadline(self) -> float:
        return self.settings.grpc_deadline_s

    # ------------------------------------------------------------------------- codes

    async def send_code(self, *, certno: str, name: str, purpose: str, client: str) -> str:
        """Ask for a code; return the subject key the pending step keeps. Same answer whether
        or not the details match (module doc)."""
        if purpose not in PURPOSES:
            raise invalid("INVALID_INPUT", "purpose", "purpose")
        certno = clean_certno(certno)
        name = (name or "").strip()
        if not name or len(name) > 50:
            raise invalid("FIELD_REQUIRED", "请填写姓名 (enter your name)", "name")
        now = self.clock.timestamp()
        subj = codes.subject(self.secret, certno)
        per_client = self.settings.portal_codes_per_client
        wait = (await self.limiter.hit(dataclasses.replace(CODE_PER_CLIENT, limit=per_client), client, now)
                if per_client > 0 else None) or await self.limiter.hit(CODE_PER_SUBJECT, subj, now)
        if wait:
            log.info("portal: code refused, too many", extra={"certno": masked(certno), "purpose": purpose})
            raise refused("TOO_MANY_CODES", f"获取验证码过于频繁, 请 {wait} 秒后再试 (too many codes: try again in "
                                            f"{wait} s)", "certno", status=429, retry_after=wait)
        found = await self.stubs.eligibility.VerifyRealName(epb.VerifyRealNameRequest(certno=certno, name=name),
                                                            timeout=self.deadline)
        ttl = self.settings.portal_code_ttl_s
        if found.matched and found.phone:
            code = codes.new_code()
            state = codes.CodeState(codes.code_hash(self.secret, subj, code), found.psn_no, purpose, now + ttl)
            self._spawn(self._deliver(found.phone, code, purpose))
        else:
            state = codes.CodeState(codes.unguessable_hash(), "", purpose, now + ttl)
        await self.redis.set(f"portal:code:{subj}", json.dumps({
            "hash": state.hash, "psn_no": state.psn_no, "purpose": state.purpose, "expires_at": state.expires_at}),
            ex=ttl + 60)
        log.info("portal: code asked for", extra={"certno": masked(certno), "purpose": purpose})
        return subj

    async def _deliver(self, phone: str, code: str, purpose: str) -> None:
        try:
            await self.sms.send_code(phone, code, purpose=purpose)
        except Exception:  # noqa: BLE001 - the patient asks again; nothing else depends on it
            log.exception("portal: SMS sending failed", extra={"phone_tail": tail(phone)})

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for SMS still being sent (shutdown, tests)."""
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _client_attempt(self, client: str, now: float) -> int | None:
        """Sign-in attempts per client address: twice PORTAL_CODES_PER_CLIENT per window (0: none)."""
        per_client = self.settings.portal_codes_per_client
        if per_client <= 0:
            return None
        return await self.limiter.hit(dataclasses.replace(ATTEMPTS_PER_CLIENT, limit=2 * per_client), client, now)

    async def _not_locked(self, subj: str) -> None:
        left = await self.limiter.locked(subj)
        if left:
            raise refused("LOCKED_OUT", f"尝试次数过多, 已锁定, 请 {max(1, left // 60)} 分钟后再试 (too many wrong "
                                        f"attempts: locked, try again in {left} s)", "code", status=429,
                          retry_after=left)

    async def verify_code(self, *, subj: str, code: str, purpose: str, client: str) -> str:
        """The psn_no the code was sent for; the code is then spent. Refused: LOCKED_OUT,
        CODE_EXPIRED (or never sent), CODE_WRONG (counted)."""
        now = self.clock.timestamp()
        await self._not_locked(subj)
        wait = await self._client_attempt(client, now)
        if wait:
            raise refused("LOCKED_OUT", f"尝试过于频繁, 请 {wait} 秒后再试 (too many attempts: wait {wait} s)", "code",
                          status=429, retry_after=wait)
        raw = await self.redis.get(f"portal:code:{subj}")
        if raw is None:
            raise refused("CODE_EXPIRED", None, "code")
        d = json.loads(raw)
        state = codes.CodeState(d["hash"], d["psn_no"], d["purpose"], float(d["expires_at"]))
        verdict = state.check(self.secret, subj, (code or "").strip(), now) if state.purpose == purpose else "wrong"
        if verdict == "expired":
            await self.redis.delete(f"portal:code:{subj}")
            raise refused("CODE_EXPIRED", None, "code")
        if verdict != "ok":
            locked = await self.limiter.failed(subj)
            log.info("portal: wrong code", extra={"purpose": purpose, "locked": locked})
            if locked:
                await self.redis.delete(f"portal:code:{subj}")
                raise refused("LOCKED_OUT", f"验证码错误次数过多, 已锁定 {self.limiter.lockout_s // 60} 分钟 (too many "
                                            "wrong codes: locked out)", "code", status=429,
                              retry_after=self.limiter.lockout_s)
            raise refused("CODE_WRONG", "验证码错误 (the code is wrong)", "code")
        if not await self.redis.delete(f"portal:code:{subj}"):  # spent by a concurrent request
            raise refused("CODE_EXPIRED", None, "code")
        await self.limiter.succeeded(subj)
        return state.psn_no

    # ------------------------------------------------------------------------- accounts

    async def bind_account(self, *, psn_no: str, certno: str, password: str | None, again: str | None) -> None:
        """After a verified code: create or update the account (a signup sets the password)."""
        pw_hash = None
        if password is not None:
            problem = codes.password_problem(password, again)
            if problem:
                raise invalid(problem, None, "password")
            pw_hash = await asyncio.to_thread(self.hasher.hash, password)
        await self.accounts.bind(psn_no, clean_certno(certno), pw_hash, self.clock.now())
        log.info("portal: account bound", extra={"certno": masked(certno), "password_set": pw_hash is not None})

    def check_password_rules(self, password: str, again: str | None) -> None:
        problem = codes.password_problem(password, again)
        if problem:
            raise invalid(problem, None, "password")

    async def password_login(self, *, certno: str, password: str, client: str) -> str:
        """The psn_no of the account; refused LOGIN_FAILED (the same for an unknown number and a
        wrong password, after the same argon2 work) or LOCKED_OUT."""
        certno = clean_certno(certno)
        subj = codes.subject(self.secret, certno)
        now = self.clock.timestamp()
        await self._not_locked(subj)
        wait = await self._client_attempt(client, now)
        if wait:
            raise refused("LOCKED_OUT", f"尝试过于频繁, 请 {wait} 秒后再试 (too many attempts: wait {wait} s)",
                          "password", status=429, retry_after=wait)
        account = await self.accounts.by_certno(certno)
        ok = await asyncio.to_thread(self._verify, account.password_hash if account and account.password_hash
                                     else _DUMMY_HASH, password or "")
        if account is None or not account.password_hash or not ok:
            locked = await self.limiter.failed(subj)
            log.info("portal: login failed", extra={"certno": masked(certno), "locked": locked})
            if locked:
                raise refused("LOCKED_OUT", None, "password", status=429, retry_after=self.limiter.lockout_s)
            raise refused("LOGIN_FAILED", "证件号码或密码错误 (wrong certificate number or password)", "password")
        await self.limiter.succeeded(subj)
        await self.accounts.touch_login(account.psn_no, self.clock.now())
        log.info("portal: signed in with password", extra={"certno": masked(certno)})
        return account.psn_no

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
