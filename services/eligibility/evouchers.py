"""医保电子凭证 (e-vouchers): issuing a token for a person, and redeeming one (1101 with
mdtrt_cert_type 01) exactly once.

Signing and checking are tokens.py's (pure); that a token was used is recorded in Redis
(cache.claim_evoucher), with a TTL that outlives the token, so a replay within the validity
window is refused and after it the token is expired anyway.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from services.common.grpcutil import invalid
from services.common.ids import valid_certno
from services.eligibility import inputs
from services.eligibility.cache import claim_evoucher
from services.eligibility.tokens import EVOUCHER_UNVERIFIABLE, EVOUCHER_USED, Evoucher, EvoucherRefused

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService

REDEEM_TIMEOUT_S = 0.5


async def verify_real_name(svc: EligibilityService, *, certno: str, name: str) -> tuple[str, str] | None:
    """(psn_no, phone) when certno and name name one stored person with a phone on file, else
    None: an unknown certno, a wrong name and no phone on file look the same to the caller (the
    patient sign-up must not reveal who is insured). A malformed certno is None too."""
    if not valid_certno(certno) or not name.strip():
        return None
    found = await svc.repo.real_name(certno)
    if found is None:
        return None
    psn_no, stored_name, phone = found
    if not hmac.compare_digest(stored_name.strip().encode(), name.strip().encode()) or not phone:
        return None
    return psn_no, phone


async def issue_evoucher(svc: EligibilityService, *, psn_no: str, certno: str) -> Evoucher:
    if psn_no:
        p = await inputs.person(svc.cache, inputs.psn_no(psn_no))
    elif certno:
        inputs.certno(certno)
        found = await svc.repo.psn_no_by_certno(certno)
        if found is None:
            raise inputs.person_not_found(inputs.masked_certno(certno), "certno")
        p = await inputs.person(svc.cache, found, "certno")
    else:
        raise invalid("MISSING_FIELD", "psn_no 或 certno 必填 (give psn_no or certno)", "psn_no")
    return svc.signer.issue(p.psn_no, svc.clock())


async def redeem(svc: EligibilityService, token: str) -> str:
    """Verify the token and mark it used; return the psn_no. A second redeem is refused
    (EvoucherRefused, as is a forged or expired token)."""
    now = svc.clock()
    claims = svc.signer.verify(token, now)
    try:
        first = await claim_evoucher(svc.redis, claims.nonce, max(1, claims.expires_at - int(now)) + 60,
                                     timeout_s=REDEEM_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - Redis unreachable: refused, with what to do instead
        # Without the single-use record a replay could not be told apart: refuse, say what to do.
        raise EvoucherRefused(EVOUCHER_UNVERIFIABLE, "电子凭证暂时无法核验, 请改用身份证 (02) 或社保卡 (03) "
                                                     "(e-voucher cannot be verified right now; use the ID number or "
                                                     "the social security card)") from None
    if not first:
        raise EvoucherRefused(EVOUCHER_USED, "电子凭证已使用, 请患者重新出示医保码 (e-voucher token already used; "
                                             "ask the patient to show a fresh code)")
    return claims.psn_no
