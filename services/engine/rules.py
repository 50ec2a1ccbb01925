"""Steps 2–4: which benefit line, which region class and filing group, which ratio."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal
from typing import NamedTuple

from .model import Bill, LinePolicy, Policy, Pool, SettlementContext
from .money import percent
from .outcomes import Outcome, SettlementRefused

LOCAL = "local"
INTRA_PROVINCE = "intra_province"
INTER_PROVINCE = "inter_province"

OUTPATIENT_MED_TYPES = frozenset({"11", "13"})
INPATIENT_MED_TYPES = frozenset({"21", "22", "23", "24"})
DAY_SURGERY_MED_TYPE = "28"
CHRONIC_MED_TYPE = "14"
EMERGENCY_MED_TYPE = "13"

# The only outpatient chronic diseases settled directly across provinces (国家跨省门慢特病).
CROSS_PROVINCE_CHRONIC = frozenset({"M03900", "M01600", "M00503", "M07803", "M07804", "M08300"})

# Lines settled per admission (起付线 per stay, admissions counted for repeat_factor).
INPATIENT_STYLE_LINES = frozenset({"inpatient", "day_surgery"})

_ZERO = Decimal(0)
_ONE = Decimal(1)

_LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级"}
_REGION_NAMES = {LOCAL: "本地就医", INTRA_PROVINCE: "省内异地就医", INTER_PROVINCE: "跨省异地就医"}
_GROUP_NAMES = {
    "long_term": "长期异地备案", "referral": "异地转诊备案", "temporary": "临时外出备案",
    "emergency": "急诊抢救", "intra_province": "省内异地未备案",
}


def line_for(med_type: str, disease_code: str | None,
             defined_lines: Collection[str] = ()) -> str:
    """The benefit line for a med_type. Day surgery (28) has its own line only where the policy
    defines one (pass the policy's line names); otherwise it is settled as inpatient."""
    if med_type in OUTPATIENT_MED_TYPES:
        return "outpatient"
    if med_type in INPATIENT_MED_TYPES:
        return "inpatient"
    if med_type == DAY_SURGERY_MED_TYPE:
        return "day_surgery" if "day_surgery" in defined_lines else "inpatient"
    if med_type == CHRONIC_MED_TYPE:
        if not disease_code:
            raise SettlementRefused(
                Outcome.DISEASE_CODE_MISSING,
                "门诊慢特病结算 (med_type 14) 必须填写病种编码 dise_codg，如 M03900。 / "
                "A chronic-disease settlement (med_type 14) needs the disease code (dise_codg), "
                "e.g. M03900.",
                "mdtrtinfo.dise_codg",
            )
        return f"chronic:{disease_code}"
    raise SettlementRefused(
        Outcome.MED_TYPE_UNKNOWN,
        f"医疗类别 {med_type} 不能直接结算；可用 11 普通门诊、13 急诊、14 门诊慢特病、"
        f"21–24 住院、28 日间手术。 / med_type {med_type} cannot be settled here; use 11, 13, "
        "14, 21–24 or 28.",
        "med_type",
    )


def region_class(insured_pool: Pool, hospital_admdvs: str) -> str:
    """local: the hospital is inside the insured pool (a city, a union like 长株潭, or a whole
    province pooled at region level); intra_province: same first two digits as any division of
    the pool; else inter_province."""
    if insured_pool.holds(hospital_admdvs):
        return LOCAL
    province = hospital_admdvs[:2]
    if any(admdvs[:2] == province for admdvs in insured_pool.admdvs):
        return INTRA_PROVINCE
    return INTER_PROVINCE


def policy_line(policy: Policy, line: str) -> LinePolicy:
    found = policy.lines.get(line)
    if found is None:
        raise SettlementRefused(
            Outcome.LINE_NOT_COVERED,
            f"参保地 {policy.pool} {policy.year} 年政策（险种 {policy.insutype}）没有 {line} "
            f"待遇，不能按此医疗类别结算；请核对医疗类别或病种，或按自费结算。 / The insured "
            f"pool's {policy.year} policy for insutype {policy.insutype} has no '{line}' "
            "benefit; check med_type and disease code, or settle as self-pay.",
            "med_type",
        )
    return found


def check_chronic(ctx: SettlementContext, bill: Bill, disease_code: str, region: str) -> None:
    """A chronic line needs the qualification held on the visit date; across provinces only
    the five nationally listed diseases settle directly."""
    if not any(q.code == disease_code and q.holds_on(bill.visit_date)
               for q in ctx.person.chronic):
        raise SettlementRefused(
            Outcome.NO_CHRONIC_QUALIFICATION,
            f"参保人 {bill.visit_date} 无有效的门诊慢特病 {disease_code} 资格；请先经 2503 "
            "交易或参保地经办机构办理门慢特病认定备案。 / The person holds no chronic-disease "
            f"qualification for {disease_code} on {bill.visit_date}; file it first (2503 or "
            "the insured pool's office).",
            "mdtrtinfo.dise_codg",
        )
    if region == INTER_PROVINCE and disease_code not in CROSS_PROVINCE_CHRONIC:
        raise SettlementRefused(
            Outcome.DISEASE_NOT_CROSS_PROVINCE,
            f"病种 {disease_code} 不在跨省门诊慢特病直接结算范围（M03900、M01600、M00503、"
            "M07803、M07804、M08300）；请患者回参保地手工报销。 / Disease "
            f"{disease_code} is not one of the cross-province chronic diseases; the patient "
            "must claim at the insured pool.",
            "mdtrtinfo.dise_codg",
        )


def filing_group_for(ctx: SettlementContext, bill: Bill, region: str) -> str | None:
    """The cross_region group whose adjustment applies, or refuse when a filing is required.

    An active filing takes precedence over the emergency rule; emergency rescue is deemed filed
    for the visit itself."""
    if region == LOCAL:
        return None
    emergency = bill.med_type == EMERGENCY_MED_TYPE or bill.emergency
    if region == INTER_PROVINCE:
        if not bill.hospital.cross_province:
            raise SettlementRefused(
                Outcome.HOSPITAL_NOT_CROSS_PROVINCE,
                f"医院 {bill.hospital.code} {bill.hospital.name} 未开通跨省直接结算，请患者全额"
                "垫付后回参保地报销。 / This hospital is not connected for cross-province "
                "direct settlement; the patient pays and claims at the insured pool.",
                "fixmedins_code",
            )
        if ctx.filing_group:
            return ctx.filing_group
        if emergency:
            return "emergency"
        raise _not_filed(bill, "跨省")
    # Intra-province: the pool may require a filing; without one its own adjustment applies.
    if ctx.filing_group:
        return ctx.filing_group
    if ctx.policy.intra_province_requires_filing:
        if emergency:
            return "emergency"
        raise _not_filed(bill, "省内异地")
    return INTRA_PROVINCE


def _not_filed(bill: Bill, where: str) -> SettlementRefused:
    return SettlementRefused(
        Outcome.NOT_FILED,
        f"参保人无覆盖 {bill.hospital.admdvs} 和 {bill.visit_date} 的异地就医备案，不能{where}"
        "直接结算。请参保人通过国家医保服务平台 APP/微信小程序在线备案，或由医院发送 2501 转诊"
        "备案；备案可在结算前补办，补办后重新结算。急诊抢救请按 med_type 13 结算。 / No active "
        f"cross-region filing covers {bill.hospital.admdvs} on {bill.visit_date}. File online "
        "(national medical insurance app or mini-program) or send a 2501 referral filing, then "
        "settle again; for emergency rescue settle with med_type 13.",
        "psn_no",
    )


class Benefit(NamedTuple):
    """Steps 2–4 for one visit, as settlement decides them and the 2001 benefit check reports
    them (DOMAIN.md §6a: the same rules): the benefit line, the region class, the filing group
    and the ratio. `benefit_for` builds it or refuses."""

    line_name: str
    line: LinePolicy
    region: str  # local | intra_province | inter_province
    group: str | None  # the cross_region group whose adjustment applies
    ratio: Ratio

    @property
    def chronic(self) -> bool:
        return self.line_name.startswith("chronic:")

    @property
    def inpatient_style(self) -> bool:
        return self.line_name in INPATIENT_STYLE_LINES

    @property
    def second_tier(self) -> bool:
        """The second tier (large-amount, critical illness, civil-servant subsidy) covers the
        inpatient-style and chronic lines only (DOMAIN.md §5 precise points)."""
        return self.inpatient_style or self.chronic


def benefit_for(bill: Bill, ctx: SettlementContext) -> Benefit:
    """Steps 2–4: the line for the med_type (defined by the insured pool's policy), the chronic
    qualification, the region class, the filing (or emergency) that allows a cross-region visit,
    the hospital's connection, the ratio for the hospital's level. Refuses (SettlementRefused)
    exactly as a settlement of the same visit would; `bill.items` is not looked at."""
    policy = ctx.policy
    line_name = line_for(bill.med_type, bill.disease_code, policy.lines)
    line = policy_line(policy, line_name)
    region = region_class(ctx.insured_pool, bill.hospital.admdvs)
    if line_name.startswith("chronic:"):
        check_chronic(ctx, bill, line_name[len("chronic:"):], region)
    group = filing_group_for(ctx, bill, region)
    return Benefit(line_name, line, region, group, ratio_for(line, ctx, bill.hospital.level, group))


class Ratio(NamedTuple):
    value: Decimal  # the ratio applied, clamped to [0, 1]
    # How it was built: the arguments of ratio_text after the value.
    parts: tuple[int, Decimal, Decimal | None, str | None, Decimal | None, Decimal]

    @property
    def text(self) -> str:
        """How the ratio was built, for the explanation."""
        return ratio_text(self.value, *self.parts)


def ratio_for(line: LinePolicy, ctx: SettlementContext, level: int,
              group: str | None) -> Ratio:
    """r = ratio[level] + retired bonus + cross-region adjustment, clamped to [0, 1]."""
    base = line.ratio.get(level)
    if base is None:
        raise SettlementRefused(
            Outcome.LINE_NOT_COVERED,
            f"参保地政策 {line.name} 未规定 {level} 级医院的支付比例，不能直接结算。 / The policy "
            f"line '{line.name}' has no ratio for level-{level} hospitals.",
            "fixmedins_code",
        )
    value = base
    bonus = adjust = None
    if ctx.person.psn_type == "retired" and ctx.policy.retired_bonus:
        bonus = ctx.policy.retired_bonus
        value += bonus
    if group is not None:
        adjust = ctx.policy.cross_region.get(group, _ZERO)
        value += adjust
    clamped = min(max(value, _ZERO), _ONE)
    # The text is built only when the explanation is read (see ExplainStep).
    return Ratio(clamped, (level, base, bonus, group, adjust, value))


def ratio_text(clamped: Decimal, level: int, base: Decimal, bonus: Decimal | None,
               group: str | None, adjust: Decimal | None, value: Decimal) -> str:
    parts = [f"{_LEVEL_NAMES.get(level, str(level))}医院 {percent(base)}"]
    if bonus is not None:
        parts.append(f"退休 {percent(bonus)}")
    if group is not None:
        parts.append(f"{_GROUP_NAMES.get(group, group)} {percent(adjust)}")
    text = f"支付比例 {percent(clamped)} = " + " + ".join(parts)
    if clamped != value:
        text += "（限定在 0–100%）"
    return text + " (ratio)"


def region_text(region: str, group: str | None) -> str:
    text = _REGION_NAMES[region]
    return text if group is None else f"{text}，{_GROUP_NAMES.get(group, group)}"


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
