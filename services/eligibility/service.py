"""The eligibility service layer: validation at the edge, rules, storage, cache, in that order.

Reads go through the person cache (cache.py); every write commits in the repository and then
invalidates the person's cache entry BEFORE returning, so once a caller has the reply no read
returns the old status. Refusals are `services.common.grpcutil.Refusal`s with a named outcome,
the offending field and a clerk-readable message (Chinese, then English).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.common.clock import Clock
from services.common.grpcutil import Refusal, conflict, invalid, not_found, refused
from services.common.ids import valid_certno
from services.eligibility import rules
from services.eligibility.cache import PersonCache
from services.eligibility.repository import EligibilityRepository
from services.eligibility.rules import Choice, ChronicRow, EnrollmentRow, IdentityRow, PersonData
from services.eligibility.tokens import Evoucher, EvoucherRefused, EvoucherSigner, redeem

_PSN_NO_RE = re.compile(r"^[0-9A-Za-z]{1,30}$")
_IDENTITY_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_DISEASE_RE = re.compile(r"^[A-Z][0-9]{5}$")
POOLED_FUND = {"310": "310100", "390": "390100"}
SECOND_TIER = {"310": ("330100", "large_amount"), "390": ("390200", "critical_illness")}
CHRONIC_MED_TYPE = "14"


# Pure and ~1.5 µs each; the same ID numbers are looked up again and again at the counter.
_valid_certno = functools.lru_cache(maxsize=65_536)(valid_certno)


def today_in_china() -> dt.date:
    """The business date for a service built without a clock (the composition root passes one)."""
    return Clock().today()


def parse_date(value: str, field_name: str, *, default: dt.date | None = None) -> dt.date:
    """'YYYY-MM-DD' or 'YYYY-MM-DD HH:mm:ss' (HIS begntime); empty → default or a refusal."""
    value = (value or "").strip()
    if not value:
        if default is not None:
            return default
        raise invalid("MISSING_FIELD", f"{field_name} 必填 ({field_name} is required, format YYYY-MM-DD)", field_name)
    try:
        return dt.date.fromisoformat(value[:10]) if len(value) in (10, 19) else _bad_date(value, field_name)
    except ValueError:
        return _bad_date(value, field_name)


def _bad_date(value: str, field_name: str) -> dt.date:
    raise invalid("INVALID_DATE", f"{field_name} 日期格式错误: {value!r} ({field_name} must be a date YYYY-MM-DD)",
                  field_name)


def _psn_no(value: str, field_name: str = "psn_no") -> str:
    value = (value or "").strip()
    if not _PSN_NO_RE.match(value):
        raise invalid("INVALID_PSN_NO", f"人员编号无效: {value!r} ({field_name} must be 1-30 letters or digits)",
                      field_name)
    return value


def _insutype(value: str, field_name: str = "insutype") -> str:
    if value not in rules.INSUTYPES:
        raise invalid("INVALID_INSUTYPE", f"险种类型无效: {value!r} ({field_name} must be 310 or 390)", field_name)
    return value


def _person_not_found(what: str, field_name: str) -> Refusal:
    return not_found("PERSON_NOT_FOUND", f"未找到参保人: {what} (no insured person found for this {field_name})",
                     field_name)


# ----------------------------------------------------------------------------- views (domain → servicer)


@dataclass(frozen=True, slots=True)
class InsuView:
    enrollment: EnrollmentRow
    insuplc_admdvs: str
    status_code: str  # psn_insu_stas
    duplicate: bool
    used: bool


@dataclass(frozen=True, slots=True)
class PersonView:
    person: PersonData
    on_date: dt.date
    age: int
    insu: tuple[InsuView, ...]
    identities: tuple[IdentityRow, ...]


@dataclass(frozen=True, slots=True)
class SnapshotView:
    person: PersonData
    insutype: str
    on_date: dt.date
    choice: Choice
    insuplc_admdvs: str
    identities: tuple[IdentityRow, ...] = ()
    chronic: tuple[ChronicRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Treatment:
    fund_pay_type: str
    may_enjoy: bool
    begin: dt.date | None
    end: dt.date | None
    result: str


@dataclass
class EligibilityService:
    repo: EligibilityRepository
    cache: PersonCache
    reference: object  # services.refdata.cache.ReferenceCache (pool(), policy(), hospital())
    redis: object
    signer: EvoucherSigner
    today: Callable[[], dt.date] = today_in_china
    clock: Callable[[], float] = time.time

    # ------------------------------------------------------------------------- helpers

    def _admdvs(self, pool_code: str) -> str:
        pool = self.reference.pool(pool_code)
        return min(pool.admdvs) if pool is not None and pool.admdvs else ""

    async def _person(self, psn_no: str, field_name: str = "psn_no") -> PersonData:
        p = await self.cache.get(psn_no)
        if p is None:
            raise _person_not_found(psn_no, field_name)
        return p

    # ------------------------------------------------------------------------- 1101

    async def find_person(self, *, cert_type: str, cert_no: str, card_sn: str, psn_no: str,
                          on_date: str) -> PersonView:
        return self.person_view(*await self.find_person_data(cert_type=cert_type, cert_no=cert_no, card_sn=card_sn,
                                                             psn_no=psn_no, on_date=on_date))

    async def find_person_data(self, *, cert_type: str, cert_no: str, card_sn: str, psn_no: str,
                               on_date: str) -> tuple[PersonData, dt.date]:
        """The person and the date asked about; `person_view` makes the 1101 view of them (split
        so that the servicer can reuse a reply built for the same cached person and date)."""
        day = parse_date(on_date, "on_date", default=self.today())
        cert_no = (cert_no or "").strip()
        if psn_no:
            p = await self._person(_psn_no(psn_no), "psn_no")
        elif cert_type == "01":
            if not cert_no:
                raise invalid("MISSING_FIELD", "mdtrt_cert_no 必填 (mdtrt_cert_no: the e-voucher token is required)",
                              "mdtrt_cert_no")
            try:
                found = await redeem(self.redis, self.signer, cert_no, self.clock())
            except EvoucherRefused as r:
                raise Refusal(r.outcome, r.message, "mdtrt_cert_no") from None  # kind: the catalogue's
            p = await self._person(found, "mdtrt_cert_no")
        elif cert_type == "02":
            if not _valid_certno(cert_no):
                raise invalid("INVALID_CERTNO", f"身份证号码无效 (校验位错误或长度不对): {cert_no!r} "
                                                f"(mdtrt_cert_no must be an 18-character ID number with a valid "
                                                f"GB 11643 check digit)", "mdtrt_cert_no")
            p = await self.cache.get_by_alias("c", cert_no, self.repo.psn_no_by_certno,
                                              lambda q: q.certno == cert_no)
            if p is None:
                raise _person_not_found(cert_no[:6] + "********" + cert_no[-4:], "mdtrt_cert_no")
        elif cert_type == "03":
            if not cert_no:
                raise invalid("MISSING_FIELD", "mdtrt_cert_no 必填 (mdtrt_cert_no: the social security card number "
                                               "is required)", "mdtrt_cert_no")
            if not (card_sn or "").strip():
                raise invalid("MISSING_FIELD", "社保卡需同时提供卡识别码 card_sn (card_sn is required with certificate "
                                               "type 03)", "card_sn")
            p = await self.cache.get_by_alias("s", cert_no, self.repo.psn_no_by_social_card,
                                              lambda q: q.social_card == cert_no)
            if p is None:
                raise _person_not_found("社保卡 " + cert_no, "mdtrt_cert_no")
            if p.card_sn is not None and p.card_sn != card_sn.strip():
                raise refused("CARD_SN_MISMATCH", "社保卡识别码不符, 请核对卡片 (card_sn does not match this social "
                                                  "security card)", "card_sn")
        else:
            raise invalid("INVALID_CERT_TYPE", f"就诊凭证类型无效: {cert_type!r} (mdtrt_cert_type must be 01 e-voucher, "
                                               f"02 ID number or 03 social security card, or give psn_no)",
                          "mdtrt_cert_type")
        return p, day

    def person_view(self, p: PersonData, day: dt.date) -> PersonView:
        shown = [e for e in p.enrollments if e.year == day.year]
        if not shown and p.enrollments:
            latest = max(e.year for e in p.enrollments)
            shown = [e for e in p.enrollments if e.year == latest]
        insu = []
        for insutype in sorted({e.insutype for e in shown}):
            choice = rules.choose_enrollment(p.enrollments, insutype, day)
            dup = set(id(e) for e in rules.duplicates(p.enrollments, insutype, day.year))
            for e in sorted((e for e in shown if e.insutype == insutype), key=lambda e: (e.benefit_start, e.pool)):
                insu.append(InsuView(e, self._admdvs(e.pool), rules.insu_status(e, day), id(e) in dup,
                                     choice.enrollment is e))
        idents = tuple(i for i in p.identities if i.begin <= day and (i.end is None or day <= i.end))
        return PersonView(p, day, rules.age_on(p.birthdate, day), tuple(insu), idents)

    # ------------------------------------------------------------------------- snapshot

    async def snapshot(self, *, psn_no: str, insutype: str, on_date: str) -> SnapshotView:
        return self.snapshot_view(*await self.snapshot_data(psn_no=psn_no, insutype=insutype, on_date=on_date))

    async def snapshot_data(self, *, psn_no: str, insutype: str, on_date: str) -> tuple[PersonData, str, dt.date]:
        """The validated inputs of a snapshot and the person; `snapshot_view` applies the rules."""
        psn_no = _psn_no(psn_no)
        insutype = _insutype(insutype)
        day = parse_date(on_date, "on_date", default=self.today())
        return await self._person(psn_no), insutype, day

    def reference_version(self) -> int:
        """Changes whenever the reference data (pools' admdvs) is reloaded: part of the key of
        any reply built from it."""
        return getattr(self.reference, "reloads", 0)

    def snapshot_view(self, p: PersonData, insutype: str, day: dt.date) -> SnapshotView:
        choice = rules.choose_enrollment(p.enrollments, insutype, day)
        pool = (choice.enrollment or choice.nearest).pool if (choice.enrollment or choice.nearest) else ""
        return SnapshotView(p, insutype, day, choice, self._admdvs(pool) if pool else "",
                            identities=p.identities, chronic=p.chronic)

    # ------------------------------------------------------------------------- 2001

    async def check_benefit(self, *, psn_no: str, insutype: str, fixmedins_code: str, med_type: str,
                            begntime: str, dise_codg: str) -> list[Treatment]:
        if fixmedins_code and self.reference.hospital(fixmedins_code) is None:
            raise invalid("UNKNOWN_HOSPITAL", f"定点医疗机构编码不存在: {fixmedins_code} (fixmedins_code is not a "
                                              f"known designated hospital)", "fixmedins_code")
        if med_type == CHRONIC_MED_TYPE and not (dise_codg or "").strip():
            raise invalid("MISSING_FIELD", "门诊慢特病 (med_type 14) 需填写病种编码 dise_codg (dise_codg is required "
                                           "for med_type 14)", "dise_codg")
        view = await self.snapshot(psn_no=psn_no, insutype=insutype, on_date=begntime)
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
        policy = self.reference.policy(e.pool, insutype, day.year)
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

    # ------------------------------------------------------------------------- writes

    async def upsert_enrollment(self, *, psn_no: str, pool: str, insutype: str, year: int, psn_type: str,
                                benefit_start: str, benefit_end: str, status: str, paid_date: str,
                                enrollment_kind: str, certno: str, name: str, gender: str,
                                birthdate: str) -> EnrollmentRow:
        psn_no = _psn_no(psn_no, "enrollment.psn_no")
        insutype = _insutype(insutype, "enrollment.insutype")
        ref_pool = self.reference.pool(pool)
        if ref_pool is None:
            raise invalid("UNKNOWN_POOL", f"统筹区不存在: {pool!r} (enrollment.pool is not a known pool)", "enrollment.pool")
        if insutype not in ref_pool.insutypes:
            raise invalid("POOL_INSUTYPE", f"统筹区 {pool} 不经办险种 {insutype} (pool {pool} does not carry "
                                           f"insutype {insutype})", "enrollment.insutype")
        if not (2000 <= year <= 2100):
            raise invalid("INVALID_YEAR", f"参保年度无效: {year} (enrollment.year must be 2000-2100)", "enrollment.year")
        if psn_type not in rules.PSN_TYPES or (insutype == "390") != (psn_type == "resident"):
            raise invalid("INVALID_PSN_TYPE", f"人员类别 {psn_type!r} 与险种 {insutype} 不符 (enrollment.psn_type must be "
                                              f"resident for 390, employee or retired for 310)", "enrollment.psn_type")
        status = status or "active"
        if status not in rules.STATUSES:
            raise invalid("INVALID_STATUS", f"参保状态无效: {status!r} (enrollment.status must be one of "
                                            f"{', '.join(rules.STATUSES)})", "enrollment.status")
        end = parse_date(benefit_end, "enrollment.benefit_end", default=dt.date(year, 12, 31))
        if benefit_start:
            start = parse_date(benefit_start, "enrollment.benefit_start")
        else:
            paid = parse_date(paid_date, "paid_date")
            policy = self.reference.policy(pool, insutype, year)
            if policy is None:
                raise refused("NO_POLICY", f"统筹区 {pool} 无 {year} 年 {insutype} 政策, 无法计算待遇起始日 (no policy for "
                                           f"pool {pool}, insutype {insutype}, year {year}: give benefit_start)",
                              "enrollment.pool")
            try:
                start = rules.benefit_start(kind=enrollment_kind or "other", year=year, paid_date=paid,
                                            waiting_days=policy.waiting_days)
            except rules.RuleError as exc:
                raise invalid("INVALID_ENROLLMENT", exc.message, exc.field) from None
        if start > end:
            raise invalid("INVALID_RANGE", f"待遇起始日 {start} 晚于终止日 {end} (enrollment.benefit_start is after "
                                           f"benefit_end)", "enrollment.benefit_start")
        new_person = None
        existing = await self.repo.load_person(psn_no)
        if existing is None:
            if not certno:
                raise not_found("PERSON_NOT_FOUND", f"人员 {psn_no} 不存在; 新参保人需提供 certno, name, gender, birthdate "
                                                    f"(unknown psn_no: give certno, name, gender and birthdate to create "
                                                    f"the person)", "enrollment.psn_no")
            if not valid_certno(certno):
                raise invalid("INVALID_CERTNO", f"身份证号码无效: {certno!r} (certno must have a valid GB 11643 check "
                                                f"digit)", "certno")
            if not name:
                raise invalid("MISSING_FIELD", "name 必填 (name is required to create a person)", "name")
            if gender not in ("1", "2"):
                raise invalid("INVALID_GENDER", f"性别无效: {gender!r} (gender must be 1 male or 2 female)", "gender")
            new_person = (certno, name, gender, parse_date(birthdate, "birthdate"))
        row = EnrollmentRow(pool, insutype, year, psn_type, start, end, status, None)
        try:
            saved = await self.repo.upsert_enrollment(psn_no, row, new_person=new_person)
        except asyncpg.UniqueViolationError:
            raise conflict("CERTNO_TAKEN", "该身份证号已属于另一参保人 (certno already belongs to another person)",
                           "certno") from None
        await self.cache.invalidate([psn_no])
        return saved

    async def terminate_enrollment(self, *, psn_no: str, pool: str, insutype: str, year: int, end_date: str,
                                   status: str) -> EnrollmentRow:
        psn_no = _psn_no(psn_no)
        insutype = _insutype(insutype)
        if status not in ("lapsed", "paused", "terminated"):
            raise invalid("INVALID_STATUS", f"终止状态无效: {status!r} (status must be lapsed, paused or terminated)",
                          "status")
        last_day = parse_date(end_date, "end_date", default=self.today())
        saved = await self.repo.terminate_enrollment(psn_no, pool, insutype, year, status,
                                                     last_day + dt.timedelta(days=1))
        if saved is None:
            raise not_found("ENROLLMENT_NOT_FOUND", f"未找到参保记录 {psn_no}/{pool}/{insutype}/{year} (no such "
                                                    f"enrollment)", "pool")
        await self.cache.invalidate([psn_no])
        return saved

    async def set_identity(self, *, psn_no: str, type_: str, begin: str, end: str, remove: bool) -> IdentityRow:
        psn_no = _psn_no(psn_no)
        if not _IDENTITY_RE.match(type_ or ""):
            raise invalid("INVALID_IDENTITY", f"人员身份类别无效: {type_!r} (type must be an identity group like tekun, "
                                              f"dibao, dibao_edge, fanpin)", "type")
        b = parse_date(begin, "begin")
        e = parse_date(end, "end") if end else None
        if e is not None and e < b:
            raise invalid("INVALID_RANGE", "end 早于 begin (end is before begin)", "end")
        if remove:
            if not await self.repo.remove_identity(psn_no, type_, b):
                raise not_found("IDENTITY_NOT_FOUND", f"未找到身份记录 {type_} {b} (no such identity)", "type")
        else:
            try:
                await self.repo.set_identity(psn_no, IdentityRow(type_, b, e))
            except asyncpg.ForeignKeyViolationError:
                raise _person_not_found(psn_no, "psn_no") from None
        await self.cache.invalidate([psn_no])
        return IdentityRow(type_, b, e)

    async def grant_chronic(self, *, psn_no: str, code: str, begin: str, end: str, hospital: str) -> ChronicRow:
        psn_no = _psn_no(psn_no)
        if not _DISEASE_RE.match(code or ""):
            raise invalid("INVALID_DISEASE", f"病种编码无效: {code!r} (code must look like M03900)", "code")
        b = parse_date(begin, "begin", default=self.today())
        e = parse_date(end, "end") if end else None
        if e is not None and e < b:
            raise invalid("INVALID_RANGE", "end 早于 begin (end is before begin)", "end")
        if hospital and self.reference.hospital(hospital) is None:
            raise invalid("UNKNOWN_HOSPITAL", f"定点医疗机构编码不存在: {hospital} (hospital is not a known designated "
                                              f"hospital)", "hospital")
        try:
            row = await self.repo.grant_chronic(psn_no, code, b, e, hospital or None)
        except asyncpg.ForeignKeyViolationError:
            raise _person_not_found(psn_no, "psn_no") from None
        await self.cache.invalidate([psn_no])
        return row

    async def revoke_chronic(self, *, psn_no: str, code: str, end: str) -> ChronicRow:
        psn_no = _psn_no(psn_no)
        if not _DISEASE_RE.match(code or ""):
            raise invalid("INVALID_DISEASE", f"病种编码无效: {code!r} (code must look like M03900)", "code")
        last_day = parse_date(end, "end", default=self.today() - dt.timedelta(days=1))
        rows = await self.repo.revoke_chronic(psn_no, code, last_day)
        if not rows:
            raise not_found("QUALIFICATION_NOT_FOUND", f"未找到 {last_day} 之后仍有效的慢特病资格 {code} (no {code} "
                                                       f"qualification runs past {last_day})", "code")
        await self.cache.invalidate([psn_no])
        return rows[-1]

    async def list_chronic(self, *, psn_no: str) -> list[ChronicRow]:
        p = await self._person(_psn_no(psn_no))
        return list(p.chronic)

    async def invalidate_person(self, *, psn_no: str) -> None:
        await self.cache.invalidate([_psn_no(psn_no)])

    async def issue_evoucher(self, *, psn_no: str, certno: str) -> Evoucher:
        if psn_no:
            p = await self._person(_psn_no(psn_no))
        elif certno:
            if not valid_certno(certno):
                raise invalid("INVALID_CERTNO", f"身份证号码无效: {certno!r} (certno must have a valid GB 11643 check "
                                                f"digit)", "certno")
            found = await self.repo.psn_no_by_certno(certno)
            if found is None:
                raise _person_not_found(certno[:6] + "********" + certno[-4:], "certno")
            p = await self._person(found, "certno")
        else:
            raise invalid("MISSING_FIELD", "psn_no 或 certno 必填 (give psn_no or certno)", "psn_no")
        return self.signer.issue(p.psn_no, self.clock())
