"""Reading persons: 1101 (find a person by psn_no, e-voucher, ID number or social card), the
settlement snapshot and the 2001 benefit check.

Every read goes through the person cache (cache.py): a hit is one Redis round trip, a miss one
PostgreSQL query. Each use case is split into the read (`*_data`) and the pure view over what
was read (`*_view`), so the servicer can reuse a reply built for the same cached person.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from services.common.grpcutil import invalid
from services.common.outcomes import Refusal
from services.eligibility import certificates, evouchers, inputs, rules
from services.eligibility.domain import Certificate, InsuView, Person, PersonView, Snapshot, Treatment

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService

log = logging.getLogger("medsettle.eligibility.certificates")

POOLED_FUND = {"310": "310100", "390": "390100"}
SECOND_TIER = {"310": ("330100", "large_amount"), "390": ("390200", "critical_illness")}
CHRONIC_MED_TYPE = "14"


def admdvs_of(svc: EligibilityService, pool_code: str) -> str:
    """The insured place (insuplc_admdvs) shown for a pool: its first division."""
    pool = svc.reference.pool(pool_code)
    return min(pool.admdvs) if pool is not None and pool.admdvs else ""


def reference_version(svc: EligibilityService) -> int:
    """Changes whenever the reference data (pools' admdvs) is reloaded: part of the key of any
    reply built from it."""
    return getattr(svc.reference, "reloads", 0)


# ----------------------------------------------------------------------------- 1101


async def find_person_data(svc: EligibilityService, *, cert_type: str, cert_no: str, card_sn: str, psn_no: str,
                           on_date: str, hospital: str = "") -> tuple[Person, dt.date]:
    """The person and the date asked about; `person_view` makes the 1101 view of them. With both
    psn_no and a certificate, the certificate must belong to psn_no (DOMAIN.md §6a)."""
    day = inputs.parse_date(on_date, "on_date", default=svc.today())
    cert_no = (cert_no or "").strip()
    p: Person | None
    if psn_no:
        p = await inputs.person(svc.cache, inputs.psn_no(psn_no), "psn_no")
        if cert_type:
            certificates.cert_type(cert_type)
            cert_no = certificates.require_no(cert_no)
            if cert_type == "01":
                await evouchers.redeem(svc, cert_no, hospital, expect_psn_no=p.psn_no)
            else:
                certificates.check_id_or_card(p, cert_type, cert_no, card_sn)
    elif cert_type == "01":
        if not cert_no:
            raise invalid("MISSING_FIELD", "mdtrt_cert_no 必填 (mdtrt_cert_no: the e-voucher token is required)",
                          "mdtrt_cert_no")
        found = await evouchers.redeem(svc, cert_no, hospital)
        p = await inputs.person(svc.cache, found, "mdtrt_cert_no")
    elif cert_type == "02":
        if not inputs.valid_certno_cached(cert_no):
            raise invalid("INVALID_CERTNO", f"身份证号码无效 (校验位错误或长度不对): {certificates.mask(cert_no)!r} "
                                            f"(mdtrt_cert_no must be an 18-character ID number with a valid "
                                            f"GB 11643 check digit)", "mdtrt_cert_no")
        p = await svc.cache.get_by_alias("c", cert_no, svc.repo.psn_no_by_certno, lambda q: q.certno == cert_no)
        if p is None:
            raise inputs.person_not_found(inputs.masked_certno(cert_no), "mdtrt_cert_no")
    elif cert_type == "03":
        if not cert_no:
            raise invalid("MISSING_FIELD", "mdtrt_cert_no 必填 (mdtrt_cert_no: the social security card number "
                                           "is required)", "mdtrt_cert_no")
        if not (card_sn or "").strip():
            raise invalid("MISSING_FIELD", "社保卡需同时提供卡识别码 card_sn (card_sn is required with certificate "
                                           "type 03)", "card_sn")
        p = await svc.cache.get_by_alias("s", cert_no, svc.repo.psn_no_by_social_card,
                                         lambda q: q.social_card == cert_no)
        if p is None:
            raise inputs.person_not_found("社保卡 " + certificates.mask(cert_no), "mdtrt_cert_no")
        if p.card_sn is not None and p.card_sn != card_sn.strip():
            raise certificates.card_sn_mismatch()
    else:
        raise invalid("INVALID_CERT_TYPE", f"就诊凭证类型无效: {cert_type!r} (mdtrt_cert_type must be 01 e-voucher, "
                                           f"02 ID number or 03 social security card, or give psn_no)",
                      "mdtrt_cert_type")
    if cert_type:
        await evouchers.note_presented(svc, hospital, p.psn_no)
    return p, day


async def check_certificate(svc: EligibilityService, p: Person, *, cert_type: str, cert_no: str, card_sn: str,
                            hospital: str, visit_key: str) -> None:
    """The certificate a settlement-side transaction names belongs to p; an e-voucher is bound to
    (hospital, visit_key). No certificate named (empty type): nothing to check."""
    if not cert_type:
        return
    certificates.cert_type(cert_type)
    cert_no = certificates.require_no(cert_no)
    if cert_type == "01":
        if not hospital or not visit_key:
            raise invalid("MISSING_FIELD", "电子凭证核验需机构与就诊 (hospital and visit_key are required with an "
                                           "e-voucher)", "mdtrt_cert_no")
        await evouchers.use(svc, cert_no, psn_no=p.psn_no, hospital=hospital, visit_key=visit_key)
    else:
        try:
            certificates.check_id_or_card(p, cert_type, cert_no, card_sn)
        except Refusal as e:  # logged for fraud review, the certificate masked
            log.info("certificate refused: %s (type %s, certificate %s, psn_no %s, hospital %s)",
                     e.outcome, cert_type, certificates.mask(cert_no), p.psn_no,
                     hospital or "-")
            raise


def person_view(svc: EligibilityService, p: Person, day: dt.date) -> PersonView:
    shown = [e for e in p.enrollments if e.year == day.year]
    if not shown and p.enrollments:
        latest = max(e.year for e in p.enrollments)
        shown = [e for e in p.enrollments if e.year == latest]
    insu = []
    for insutype in sorted({e.insutype for e in shown}):
        choice = rules.choose_enrollment(p.enrollments, insutype, day)
        dup = set(id(e) for e in rules.duplicates(p.enrollments, insutype, day.year))
        for e in sorted((e for e in shown if e.insutype == insutype), key=lambda e: (e.benefit_start, e.pool)):
            insu.append(InsuView(e, admdvs_of(svc, e.pool), rules.insu_status(e, day), id(e) in dup,
                                 choice.enrollment is e))
    idents = tuple(i for i in p.identities if i.begin <= day and (i.end is None or day <= i.end))
    return PersonView(p, day, rules.age_on(p.birthdate, day), tuple(insu), idents)


# ----------------------------------------------------------------------------- the settlement snapshot


async def snapshot_data(svc: EligibilityService, *, psn_no: str, insutype: str, on_date: str,
                        certificate: Certificate | None = None) -> tuple[Person, str, dt.date]:
    """The validated inputs of a snapshot and the person; `snapshot_view` applies the rules. A
    certificate named by the hospital's transaction is checked against the person first."""
    psn_no = inputs.psn_no(psn_no)
    insutype = inputs.insutype(insutype)
    day = inputs.parse_date(on_date, "on_date", default=svc.today())
    p = await inputs.person(svc.cache, psn_no)
    if certificate is not None and certificate.cert_type:
        await check_certificate(svc, p, cert_type=certificate.cert_type, cert_no=certificate.cert_no,
                                card_sn=certificate.card_sn, hospital=certificate.hospital,
                                visit_key=certificate.visit_key)
    return p, insutype, day


def snapshot_view(svc: EligibilityService, p: Person, insutype: str, day: dt.date) -> Snapshot:
    choice = rules.choose_enrollment(p.enrollments, insutype, day)
    pool = e.pool if (e := choice.enrollment or choice.nearest) else ""
    return Snapshot(p, insutype, day, choice, admdvs_of(svc, pool) if pool else "",
                    identities=p.identities, chronic=p.chronic)


# ----------------------------------------------------------------------------- 2001


async def check_benefit(svc: EligibilityService, *, psn_no: str, insutype: str, fixmedins_code: str, med_type: str,
                        begntime: str, dise_codg: str) -> list[Treatment]:
    if fixmedins_code and svc.reference.hospital(fixmedins_code) is None:
        raise invalid("UNKNOWN_HOSPITAL", f"定点医疗机构编码不存在: {fixmedins_code} (fixmedins_code is not a "
                                          f"known designated hospital)", "fixmedins_code")
    if med_type == CHRONIC_MED_TYPE and not (dise_codg or "").strip():
        raise invalid("MISSING_FIELD", "门诊慢特病 (med_type 14) 需填写病种编码 dise_codg (dise_codg is required "
                                       "for med_type 14)", "dise_codg")
    view = snapshot_view(svc, *await snapshot_data(svc, psn_no=psn_no, insutype=insutype, on_date=begntime))
    day, choice = view.on_date, view.choice
    e = choice.enrollment
    out = []
    if e is None:
        near = choice.nearest
        out.append(Treatment(POOLED_FUND[insutype], False, near.benefit_start if near else None,
                             near.benefit_end if near else None, choice.message))
        return out
    dup_note = (" (重复参保: 按最早生效的参保记录结算 / duplicate enrollment: the earliest one is used)"
                if choice.duplicate else "")
    out.append(Treatment(POOLED_FUND[insutype], True, e.benefit_start, e.benefit_end,
                         f"可享受待遇, 参保地 {e.pool} (may receive benefits; insured pool {e.pool}){dup_note}"))
    policy = svc.reference.policy(e.pool, insutype, day.year)
    if policy is not None:
        code, attr = SECOND_TIER[insutype]
        if getattr(policy, attr, None) is not None:
            out.append(Treatment(code, True, e.benefit_start, e.benefit_end, "可享受 (may receive benefits)"))
        held = {i.type for i in view.person.identities if i.begin <= day and (i.end is None or day <= i.end)}
        for rule in policy.assistance:
            if rule.group in held:
                out.append(Treatment("610100", True, e.benefit_start, e.benefit_end,
                                     f"医疗救助: {rule.group} (medical assistance for identity group {rule.group})"))
                break
    if med_type == CHRONIC_MED_TYPE:
        quals = [c for c in view.person.chronic if c.code == dise_codg and c.holds_on(day)]
        if quals:
            q = quals[0]
            out.append(Treatment(POOLED_FUND[insutype], True, q.begin, q.end,
                                 f"门诊慢特病资格 {dise_codg} 有效 (chronic-disease qualification {dise_codg} holds)"))
        else:
            out.append(Treatment(POOLED_FUND[insutype], False, None, None,
                                 f"无门诊慢特病资格 {dise_codg}, 请先办理 2503 慢特病备案 (no chronic-disease "
                                 f"qualification {dise_codg} on {day.isoformat()}; file it with 2503 first)"))
    return out
