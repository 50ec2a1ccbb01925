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
from services.engine import SettlementRefused, benefit_for, funds_of
from services.engine.model import Bill, SettlementContext
from services.engine.money import percent
from services.engine.rules import CHRONIC_MED_TYPE, EMERGENCY_MED_TYPE, region_text
from services.engine.settle import POOLED_FUND_CODE, assistance_rule

if TYPE_CHECKING:
    from services.eligibility.service import EligibilityService

log = logging.getLogger("medsettle.eligibility.certificates")


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
    """2001: may the person be settled for this visit, and by which funds. The same rules as a
    settlement of the visit (DOMAIN.md §6a): the enrollment chosen (rules.choose_enrollment, as
    for the snapshot), the treatment pool, the insured pool's policy, then the engine's own steps
    2–4 (services.engine.benefit_for: line, chronic qualification, region class, filing or
    emergency, hospital connection, ratio for the level) with the filing service's answer for a
    cross-region visit, as settlement asks it. May: the funds of that line
    (services.engine.funds_of), each with the enrollment's dates. May not: one row, the pooled
    fund with flag 0 and the reason a settlement would be refused with."""
    code = (fixmedins_code or "").strip()
    if not code:
        raise invalid("FIELD_REQUIRED", "缺少定点医疗机构编码 fixmedins_code (fixmedins_code is required: the benefit "
                                        "check applies the hospital's place, level and connection)", "fixmedins_code")
    hospital = svc.reference.hospital(code)
    if hospital is None:
        raise invalid("UNKNOWN_HOSPITAL", f"定点医疗机构编码不存在: {code} (fixmedins_code is not a "
                                          f"known designated hospital)", "fixmedins_code")
    if med_type == CHRONIC_MED_TYPE and not (dise_codg or "").strip():
        raise invalid("MISSING_FIELD", "门诊慢特病 (med_type 14) 需填写病种编码 dise_codg (dise_codg is required "
                                       "for med_type 14)", "dise_codg")
    view = snapshot_view(svc, *await snapshot_data(svc, psn_no=psn_no, insutype=insutype, on_date=begntime))
    day, choice = view.on_date, view.choice
    pooled = POOLED_FUND_CODE[insutype]
    e = choice.enrollment
    person = rules.engine_snapshot(view.person, choice, insutype, day)
    if e is None or person is None:
        near = choice.nearest
        return [Treatment(pooled, False, near.benefit_start if near else None, near.benefit_end if near else None,
                          choice.message)]

    def refused(message: str) -> list[Treatment]:
        return [Treatment(pooled, False, e.benefit_start, e.benefit_end, message)]

    insured = svc.reference.pool(e.pool)
    if insured is None:
        return refused(f"参保地统筹区 {e.pool} 未配置 (POOL_NOT_CONFIGURED: the insured pool is not in the reference data)")
    tpool = svc.reference.pool_for_admdvs(hospital.admdvs, insutype)
    catalogue = svc.reference.catalogue(tpool.code) if tpool is not None else None
    if tpool is None or catalogue is None:
        return refused(f"医院所在行政区划 {hospital.admdvs} 没有险种 {insutype} 的统筹区目录，不能直接结算 "
                       "(NO_TREATMENT_POOL: the hospital's admdvs belongs to no pool with a catalogue for this insutype)")
    policy = svc.reference.policy(e.pool, insutype, day.year)
    if policy is None:
        return refused(f"参保地 {e.pool} 没有 {day.year} 年险种 {insutype} 的待遇政策 (NO_POLICY: no {day.year} "
                       f"policy for pool {e.pool}, insutype {insutype})")
    emergency = med_type == EMERGENCY_MED_TYPE
    group = None
    if not insured.holds(hospital.admdvs):  # cross-region: the filing service, as settlement asks it
        if svc.filing is None:
            raise Refusal("DOWNSTREAM_UNAVAILABLE", "异地备案服务 (filing) 未配置，不能检查异地就医待遇。 / No filing "
                          "service is configured: a cross-region benefit check needs it.")
        group = await svc.filing.filing_group(psn_no=view.person.psn_no, insutype=insutype, insured_pool=e.pool,
                                              hospital_admdvs=hospital.admdvs, visit_date=day, emergency=emergency)
    bill = Bill(med_type=med_type, visit_date=day, hospital=hospital, items=(), disease_code=dise_codg or None,
                emergency=emergency)
    ctx = SettlementContext(person=person, insured_pool=insured, treatment_pool=tpool, policy=policy,
                            catalogue=catalogue, filing_group=group, accumulators={},
                            province_of=svc.reference.province_of())
    try:
        benefit = benefit_for(bill, ctx)
    except SettlementRefused as err:
        return refused(f"{err.message} ({err.outcome.value})")
    begin, end = e.benefit_start, e.benefit_end
    dup_note = (" (重复参保: 按最早生效的参保记录结算 / duplicate enrollment: the earliest one is used)"
                if choice.duplicate else "")
    what = f"{region_text(benefit.region, benefit.group)}，待遇类别 {benefit.line_name}，支付比例 {percent(benefit.ratio.value)}"
    if benefit.chronic:  # the qualification held on the day bounds the line's dates
        q = next(q for q in person.chronic if q.code == dise_codg and q.holds_on(day))
        begin, end = max(begin, q.begin), end if q.end is None else min(end, q.end)
        what += f"，门诊慢特病资格 {dise_codg} 有效"
    out = []
    for fund_pay_type, name in funds_of(benefit, ctx, day):
        text = f"可享受 {name} (may receive benefits)"
        if fund_pay_type == pooled:
            text = (f"可享受待遇, 参保地 {e.pool}，{what} (may receive benefits; insured pool {e.pool}, line "
                    f"{benefit.line_name}, ratio {benefit.ratio.value}){dup_note}")
        elif fund_pay_type == "610100":
            rule = assistance_rule(ctx, day)
            text = f"医疗救助: {rule.group} (medical assistance for identity group {rule.group})" if rule else text
        out.append(Treatment(fund_pay_type, True, begin, end, text))
    return out
