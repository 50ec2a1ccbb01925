"""医保电子凭证 (e-vouchers): issuing a token for a person, scanning one at 1101 (mdtrt_cert_type
01) exactly once, and using it for that hospital's one visit (DOMAIN.md §6a).

Signing and checking are tokens.py's (pure); the token's life is a Redis record per nonce
(cache.claim_evoucher / cache.use_evoucher) holding `hospital|psn_no|visit_key`:
- scan (1101 by hospital H): signature and expiry checked, the record created atomically with no
  visit yet; a second scan is EVOUCHER_USED.
- use (2201/2401 registration, 2206/2207/2303/2304 settlement by H for psn_no P, visit key K):
  signature checked; the token must be P's; with no record yet the expiry is checked and the
  record created now (first use = scan); a record of another hospital is refused, an unbound one
  is bound to K (atomically, in Lua), one bound to K passes, one bound to another visit is refused.
The record lives EVOUCHER_RECORD_TTL_S (2 days: a visit's registration to its settlement), long
after the token's own 2-minute validity, so a replay is always told apart.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from services.common.grpcutil import Refusal, invalid
from services.common.ids import valid_certno
from services.eligibility import certificates, inputs
from services.eligibility.cache import claim_evoucher, mark_presented, use_evoucher, was_presented
from services.eligibility.tokens import EVOUCHER_UNVERIFIABLE, EVOUCHER_USED, Claims, Evoucher, EvoucherRefused

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService

log = logging.getLogger("medsettle.eligibility.evouchers")

REDEEM_TIMEOUT_S = 0.5
EVOUCHER_RECORD_TTL_S = 2 * 86_400   # a scanned token stays bound to its hospital/visit this long
PRESENTED_TTL_S = 86_400             # 5206: a 1101 answered to H lets H ask about the person for a day

UNVERIFIABLE_MESSAGE = ("电子凭证暂时无法核验, 请改用身份证 (02) 或社保卡 (03) (e-voucher cannot be verified right "
                        "now; use the ID number or the social security card)")


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


def _refused(r: EvoucherRefused, token: str, why: str) -> Refusal:
    log.info("e-voucher refused: %s %s (token %s)", r.outcome, why, certificates.mask(token))
    return Refusal(r.outcome, r.message, "mdtrt_cert_no")


def verify(svc: EligibilityService, token: str, *, check_expiry: bool = True) -> Claims:
    """The token's claims, or a Refusal for mdtrt_cert_no (forged, malformed, expired)."""
    try:
        return svc.signer.verify(token, svc.clock(), check_expiry=check_expiry)
    except EvoucherRefused as r:
        raise _refused(r, token, "verify") from None


async def redeem(svc: EligibilityService, token: str, hospital: str = "", expect_psn_no: str = "") -> str:
    """Scan: verify the token and record it scanned by `hospital`; return the psn_no. A second
    scan is refused (EVOUCHER_USED), as is a forged or expired token, or (expect_psn_no given)
    another person's token — checked before the scan is recorded."""
    claims = verify(svc, token)
    if expect_psn_no:
        certificates.check_token_person(expect_psn_no, claims.psn_no, token)
    try:
        first = await claim_evoucher(svc.redis, claims.nonce, EVOUCHER_RECORD_TTL_S, timeout_s=REDEEM_TIMEOUT_S,
                                     hospital=hospital, psn_no=claims.psn_no)
    except Exception:  # noqa: BLE001 - Redis unreachable: refused, with what to do instead
        # Without the single-use record a replay could not be told apart: refuse, say what to do.
        raise _refused(EvoucherRefused(EVOUCHER_UNVERIFIABLE, UNVERIFIABLE_MESSAGE), token, "redis") from None
    if not first:
        raise _refused(EvoucherRefused(EVOUCHER_USED, "电子凭证已使用, 请患者重新出示医保码 (e-voucher token already "
                                                      "used; ask the patient to show a fresh code)"), token, "replay")
    return claims.psn_no


async def use(svc: EligibilityService, token: str, *, psn_no: str, hospital: str, visit_key: str) -> None:
    """Use a token for psn_no's visit `visit_key` at `hospital` (see the module's docstring)."""
    claims = verify(svc, token, check_expiry=False)
    certificates.check_token_person(psn_no, claims.psn_no, token)
    may_create = svc.clock() < claims.expires_at
    try:
        answer = await use_evoucher(svc.redis, claims.nonce, hospital=hospital, psn_no=psn_no, visit_key=visit_key,
                                    ttl_s=EVOUCHER_RECORD_TTL_S, may_create=may_create, timeout_s=REDEEM_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - Redis unreachable: the binding cannot be checked
        raise _refused(EvoucherRefused(EVOUCHER_UNVERIFIABLE, UNVERIFIABLE_MESSAGE), token, "redis") from None
    refusal = certificates.use_refusal(answer)
    if refusal is not None:
        log.info("e-voucher refused: %s (token %s, hospital %s)", refusal.outcome, certificates.mask(token), hospital)
        raise refusal


async def note_presented(svc: EligibilityService, hospital: str, psn_no: str) -> None:
    """Remember that psn_no showed a certificate to hospital (best effort: 5206 then needs a visit)."""
    if not hospital:
        return
    try:
        await mark_presented(svc.redis, hospital, psn_no, PRESENTED_TTL_S, timeout_s=REDEEM_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - not needed for 1101's answer
        log.warning("could not record a presented certificate (hospital %s)", hospital)


async def presented(svc: EligibilityService, hospital: str, psn_no: str) -> bool:
    return await was_presented(svc.redis, hospital, psn_no, timeout_s=REDEEM_TIMEOUT_S)
