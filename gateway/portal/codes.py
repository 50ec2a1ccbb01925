"""One-time codes and passwords, pure: code generation, keyed hashes, the subject key of a
certificate number, and the password rules. No I/O, no clock (times are arguments)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

CODE_DIGITS = 6
MIN_PASSWORD = 8
MAX_PASSWORD = 128


def new_code() -> str:
    """Six random digits (secrets, uniform)."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def subject(secret: str, certno: str) -> str:
    """The opaque key of a certificate number in Redis (rate limits, codes): keyed, so Redis
    never holds an ID number and the key cannot be computed without the session key."""
    return hmac.new(secret.encode(), b"subject:" + certno.upper().encode(), hashlib.sha256).hexdigest()[:32]


def code_hash(secret: str, subj: str, code: str) -> str:
    return hmac.new(secret.encode(), f"code:{subj}:{code}".encode(), hashlib.sha256).hexdigest()


def unguessable_hash() -> str:
    """What is stored when no code was sent (the details did not match): no code matches it."""
    return secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class CodeState:
    """A sent (or, for details that did not match, pretended) code, as kept in Redis."""
    hash: str
    psn_no: str       # "" when the details matched nobody
    purpose: str      # "signup" | "login"
    expires_at: float

    def check(self, secret: str, subj: str, code: str, now: float) -> str:
        """"ok", "expired" or "wrong"."""
        if now >= self.expires_at:
            return "expired"
        if not code.isdigit() or len(code) != CODE_DIGITS:
            return "wrong"
        if not hmac.compare_digest(self.hash, code_hash(secret, subj, code)) or not self.psn_no:
            return "wrong"
        return "ok"


def password_problem(password: str, again: str | None) -> str | None:
    """The outcome code of a password that may not be set, else None."""
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        return "WEAK_PASSWORD"
    if again is not None and not hmac.compare_digest(password.encode(), again.encode()):
        return "PASSWORD_MISMATCH"
    return None
