"""医保电子凭证 (e-voucher) tokens: short-lived, HMAC-signed, resolvable once.

A token is `EV1.<payload>.<mac>` (base64url, no padding) where payload is
`psn_no|expires_at_unix|nonce` and mac = HMAC-SHA256(secret, "EV1." + payload). Signing and
checking are pure (time comes in as an argument); single use — the nonce recorded in Redis —
is the use case's (evouchers.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

PREFIX = "EV1"
MIN_TTL_S = 60
MAX_TTL_S = 120

EVOUCHER_MALFORMED = "EVOUCHER_INVALID"
EVOUCHER_EXPIRED = "EVOUCHER_EXPIRED"
EVOUCHER_USED = "EVOUCHER_USED"
EVOUCHER_UNVERIFIABLE = "EVOUCHER_UNVERIFIABLE"


class EvoucherRefused(Exception):
    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True, slots=True)
class Evoucher:
    token: str
    expires_at: int  # unix seconds
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Claims:
    psn_no: str
    expires_at: int
    nonce: str


def clamp_ttl(ttl_s: int) -> int:
    return max(MIN_TTL_S, min(MAX_TTL_S, int(ttl_s)))


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class EvoucherSigner:
    def __init__(self, secret: str, ttl_s: int):
        if not secret:
            raise ValueError("evoucher secret is empty")
        self._key = secret.encode()
        self.ttl_s = clamp_ttl(ttl_s)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())

    def issue(self, psn_no: str, now: float, nonce: str | None = None) -> Evoucher:
        expires_at = int(now) + self.ttl_s
        payload = _b64(f"{psn_no}|{expires_at}|{nonce or os.urandom(12).hex()}".encode())
        return Evoucher(token=f"{PREFIX}.{payload}.{self._mac(payload)}", expires_at=expires_at, ttl_s=self.ttl_s)

    def verify(self, token: str, now: float, *, check_expiry: bool = True) -> Claims:
        """Signature and (unless check_expiry is False) expiry; not single use: see evouchers."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise EvoucherRefused(EVOUCHER_MALFORMED, "电子凭证无效 (not a medical insurance e-voucher token)")
        payload, mac = parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise EvoucherRefused(EVOUCHER_MALFORMED, "电子凭证签名无效 (e-voucher token signature is invalid)")
        try:
            psn_no, exp, nonce = _unb64(payload).decode().split("|")
            expires_at = int(exp)
        except (ValueError, UnicodeDecodeError):
            raise EvoucherRefused(EVOUCHER_MALFORMED, "电子凭证无效 (e-voucher token is malformed)") from None
        if check_expiry and now >= expires_at:
            raise EvoucherRefused(EVOUCHER_EXPIRED, f"电子凭证已过期, 请患者重新出示医保码 (e-voucher token expired "
                                                    f"{int(now) - expires_at + 1} s ago; ask the patient to show a fresh code)")
        return Claims(psn_no=psn_no, expires_at=expires_at, nonce=nonce)
