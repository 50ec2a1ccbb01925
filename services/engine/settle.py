"""Steps 5–9 of docs/RULES.md §5: deductible, pooled fund, second tier, supplementary plans,
medical assistance, the patient's share, and the reversal of a settlement.

The order of funds is fixed by policy: pooled fund → large-amount (employees) / critical
illness (residents) → civil-servant subsidy → supplementary plans in list order → medical
assistance. Each later fund sees what the earlier ones left unpaid, and none pays more than the
bill leaves unpaid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import cast, overload

from .items import split_with_totals
from .model import (
    AdmissionSoFar,
    AssistanceRule,
    Bill,
    CriticalIllness,
    DeferredStep,
    ExplainStep,
    FundLine,
    ItemResult,
    LinePolicy,
    SettlementContext,
    SettlementResult,
    fast_builder,
)
from .money import apply_ratio, percent, round_half_up
from .money import fen_to_yuan as yuan
from .outcomes import InvariantViolated, Outcome, SettlementRefused
from .rules import (
    INPATIENT_STYLE_LINES,
    INTER_PROVINCE,
    Benefit,
    benefit_for,
    month_of,
    ratio_text,
    region_text,
)

_ZERO = Decimal(0)
_ONE = Decimal(1)

EMPLOYEE = "310"
POOLED_FUND_CODE = {"310": "310100", "390": "390100"}
POOLED_FUND_NAME = {"310": "职工基本医疗保险统筹基金", "390": "城乡居民基本医疗保险基金"}
LARGE_AMOUNT = ("330100", "职工大额医疗费用补助")
CRITICAL_ILLNESS = ("390200", "城乡居民大病保险")
CIVIL_SERVANT = ("320100", "公务员医疗补助")
ASSISTANCE = ("610100", "医疗救助基金")
ADMISSIONS = "admissions:inpatient"  # admissions of the year with a settlement in force
SUPPLEMENTARY_IN_HIFES = "370100"  # this fund_pay_type reports in hifes_pay, others in oth_pay

# Same constructors as SettlementResult, FundLine and ItemResult, several times faster.
_SettlementResult = fast_builder(SettlementResult)
_FundLine = fast_builder(FundLine)
_ItemResult = fast_builder(ItemResult)


class _Run:
    """The working state of one settlement: what the accumulators say, what this visit adds to
    them (deltas with their caps), the setldetail rows and the explanation so far."""

    __slots__ = ("acc", "deltas", "caps", "fund_lines", "steps", "inscp_paid", "all_paid")

    def __init__(self, acc: Mapping[str, int]) -> None:
        self.acc = acc
        self.deltas: dict[str, int] = {}
        self.caps: dict[str, int] = {}
        self.fund_lines: list[FundLine] = []
        self.steps: list[ExplainStep] = []
        self.inscp_paid = 0  # fund payments whose base was the in-policy amount
        self.all_paid = 0  # every fund payment so far

    @overload
    def left(self, key: str, cap: int) -> int: ...
    @overload
    def left(self, key: str, cap: None) -> None: ...
    @overload
    def left(self, key: str, cap: int | None) -> int | None: ...

    def left(self, key: str, cap: int | None) -> int | None:
        """What is left under `cap` for accumulator `key`; None means no cap. Floored at 0."""
        if cap is None:
            return None
        return max(0, cap - self.acc.get(key, 0))

    def add(self, key: str, amount: int, cap: int | None = None) -> None:
        if amount:
            self.deltas[key] = self.deltas.get(key, 0) + amount
            if cap is not None:
                self.caps[key] = cap

    def say(self, code: str, label: str, *pending: object) -> None:
        """Add an explanation step; pending = (render, *args), and its text is render(*args),
        formatted only when someone reads it (see ExplainStep)."""
        self.steps.append(cast(ExplainStep, DeferredStep(code, label, pending)))  # one once built


def settle(bill: Bill, ctx: SettlementContext) -> SettlementResult:
    """Settle one bill for one person under the insured pool's policy (参保地政策) and the
    treatment place's catalogue (就医地目录). Refusals raise SettlementRefused."""
    if not bill.items:
        raise SettlementRefused(
            Outcome.EMPTY_BILL,
            "本次就诊没有可结算的费用明细，请先上传费用明细 (2204/2301)。 / The visit has no fee "
            "details to settle; upload them first (2204/2301).",
            "feedetail",
        )
    _check_enrollment(bill, ctx)
    items, fulamt, overlmt, preselfpay, inscp = split_with_totals(bill.items, ctx.catalogue, bill.own_pay)
    medfee = fulamt + overlmt + preselfpay + inscp

    benefit = benefit_for(bill, ctx)
    line_name, line, region, group, ratio = benefit
    r = ratio.value

    run = _Run(ctx.accumulators)
    if bill.own_pay:
        run.say("supervision", "Items made self-pay by fund-supervision rules", _own_pay_text,
                tuple((it.feedetl_sn, it.amount_fen, bill.own_pay[it.feedetl_sn]) for it in bill.items
                      if it.feedetl_sn in bill.own_pay))
    run.say("items", "Items by the treatment place's catalogue", _items_text,
            medfee, fulamt, overlmt, preselfpay, inscp)
    run.say("line", "Benefit line and region", _line_text, line_name, region, group)
    run.say("ratio", "Pooled fund ratio", ratio_text, r, *ratio.parts)

    inpatient_style = benefit.inpatient_style
    admission = ctx.admission
    if inpatient_style and admission.settlements == 0:
        run.add(ADMISSIONS, 1)  # admissions are counted, not settlements
    dedc = _deductible(run, line, line_name, inscp, bill.hospital.level,
                       region == INTER_PROVINCE, inpatient_style, admission)
    hifp, above_cap = _pooled_fund(run, ctx, line, line_name, bill, inscp, dedc, r)
    run.inscp_paid = run.all_paid = hifp

    hifob = hifmi = cvlserv = 0
    if benefit.second_tier:  # the second tier covers inpatient and chronic lines only
        hifob = _large_amount(run, ctx, above_cap, inscp)
        hifmi = _critical_illness(run, ctx, bill, inscp, hifp)
        cvlserv = _civil_servant(run, ctx, inscp, medfee)
    hifes, oth = _supplementary(run, ctx, inscp, medfee)
    maf = _assistance(run, ctx, bill, inscp, medfee)

    fund = hifp + cvlserv + hifes + hifmi + hifob + maf + oth
    hosp_part = 0  # no quota rule puts any of this bill on the hospital
    psn_part = medfee - fund - hosp_part
    acct = _account(run, ctx, bill, psn_part)
    cash = psn_part - acct
    run.say("patient", "Patient's share", _patient_text, fund, psn_part, acct, cash)

    result = _SettlementResult(
        line=line_name, region_class=region, filing_group=group, ratio=r,
        medfee_sumamt=medfee, fulamt_ownpay_amt=fulamt, overlmt_selfpay=overlmt,
        preselfpay_amt=preselfpay, inscp_scp_amt=inscp, act_pay_dedc=dedc, hifp_pay=hifp,
        cvlserv_pay=cvlserv, hifes_pay=hifes, hifmi_pay=hifmi, hifob_pay=hifob, maf_pay=maf,
        oth_pay=oth, fund_pay_sumamt=fund, psn_part_amt=psn_part, hosp_part_amt=hosp_part,
        acct_pay=acct, psn_cash_pay=cash, items=items, fund_lines=tuple(run.fund_lines),
        deltas=run.deltas, caps=run.caps, explanation=tuple(run.steps),
    )
    check_identities(result)
    return result


def _check_enrollment(bill: Bill, ctx: SettlementContext) -> None:
    person, policy = ctx.person, ctx.policy
    if person.insutype != policy.insutype or person.insured_pool != policy.pool \
            or ctx.insured_pool.code != policy.pool:
        raise SettlementRefused(
            Outcome.NOT_ELIGIBLE,
            f"参保人 {person.psn_no} 的参保信息（{person.insured_pool}，险种 {person.insutype}）"
            f"与所用政策（{policy.pool}，险种 {policy.insutype}）不符，请核对险种后重新结算。 / "
            "The person's enrollment does not match the policy (pool or insutype); check the "
            "insutype and settle again.",
            "insutype",
        )
    if bill.visit_date.year != policy.year:
        raise SettlementRefused(
            Outcome.POLICY_YEAR_MISMATCH,
            f"就诊日期 {bill.visit_date} 与参保地政策年度 {policy.year} 不符。 / The visit date "
            f"{bill.visit_date} is not in the policy year {policy.year}.",
            "begntime",
        )


def _deductible(run: _Run, line: LinePolicy, line_name: str, inscp: int, level: int,
                out_of_province: bool, inpatient_style: bool, admission: AdmissionSoFar) -> int:
    """Step 5. Inpatient: one deductible per admission, reduced by repeat_factor when the person
    already has an earlier admission this year; a later settlement of the same admission (after an
    interim one) charges only what the earlier ones left unpaid. Other lines: what is left of the
    annual deductible."""
    if inpatient_style and line.deductible_fen is not None:
        table = line.deductible_fen
        key = "out_of_province" if out_of_province and "out_of_province" in table else str(level)
        per_admission = listed = table.get(key, 0)
        repeat = None
        # The counter already holds this admission when an earlier settlement of it is in force.
        earlier = run.acc.get(ADMISSIONS, 0) - (1 if admission.settlements else 0)
        if line.repeat_factor is not None and earlier >= 1:
            repeat = line.repeat_factor
            per_admission = apply_ratio(per_admission, repeat)
        charged = admission.deductible_fen if admission.settlements else 0
        paid = min(inscp, max(0, per_admission - charged))
        run.say("deductible", "Deductible", _admission_deductible_text,
                listed, repeat, per_admission, paid, charged)
        return paid
    annual = line.annual_deductible_fen or 0
    key = f"dedc:{line_name}"
    left = run.left(key, annual)
    paid = min(inscp, left)
    run.add(key, paid, annual)
    run.say("deductible", "Deductible", _annual_deductible_text, annual, left, paid)
    return paid


def _pooled_fund(run: _Run, ctx: SettlementContext, line: LinePolicy, line_name: str,
                 bill: Bill, inscp: int, dedc: int, r: Decimal) -> tuple[int, int]:
    """Step 6: the pooled fund pays r of what is above the deductible, up to the smallest cap
    left (line, cap group, month). Returns (hifp_pay, above_cap)."""
    eligible = inscp - dedc
    raw = apply_ratio(eligible, r)
    bounds: list[tuple[str, int]] = []
    if line.annual_cap_fen is not None:
        bounds.append((f"fund:line:{line_name}", line.annual_cap_fen))
    if line.cap_group is not None:
        cap = ctx.policy.cap_groups.get(line.cap_group)
        if cap is None:
            raise ValueError(f"policy {ctx.policy.pool}/{ctx.policy.insutype}/{ctx.policy.year}: "
                             f"line {line_name} names undefined cap group {line.cap_group}")
        bounds.append((f"fund:group:{line.cap_group}", cap))
    if line.monthly_cap_fen is not None:
        bounds.append((f"fund:month:{line_name}:{month_of(bill.visit_date)}",
                       line.monthly_cap_fen))
    cap_left = None
    for key, cap in bounds:
        left = run.left(key, cap)
        cap_left = left if cap_left is None else min(cap_left, left)
    hifp = raw if cap_left is None else min(raw, cap_left)
    for key, cap in bounds:
        run.add(key, hifp, cap)
    above_cap = 0
    capped = hifp < raw and r > 0
    if capped:
        # The cap cut the payment: the in-policy amount the cap left unpaid, measured before
        # the ratio, is what the large-amount subsidy works on.
        above_cap = max(0, eligible - round_half_up(Decimal(hifp) / r))
    insutype = ctx.policy.insutype
    run.fund_lines.append(_FundLine(POOLED_FUND_CODE.get(insutype, "390100"),
                                    POOLED_FUND_NAME.get(insutype, "基本医疗保险统筹基金"),
                                    eligible, cap_left, hifp))
    run.say("hifp", "Basic pooled fund", _pooled_fund_text,
            inscp, dedc, r, raw, capped, cap_left, hifp, eligible, above_cap)
    return hifp, above_cap


def _pay_plan(run: _Run, base: int, ratio: Decimal, paid_key: str, cap: int | None,
              dedc_key: str | None = None, deductible: int = 0) -> tuple[int, int, int | None]:
    """A fund that pays `ratio` of `base` after its own annual deductible, up to its annual cap.
    Returns (deductible taken, payment, cap left before this visit)."""
    dedc = 0
    if dedc_key is not None:
        dedc = min(base, run.left(dedc_key, deductible))
        run.add(dedc_key, dedc, deductible)
    payable = base - dedc
    pay = min(apply_ratio(payable, ratio), payable)  # never more than its base, whatever r
    cap_left = run.left(paid_key, cap)
    if cap_left is not None:
        pay = min(pay, cap_left)
    run.add(paid_key, pay, cap)
    return dedc, pay, cap_left


def _record(run: _Run, code: str, name: str, base: int, cap_left: int | None, pay: int,
            in_policy_base: bool) -> None:
    if in_policy_base:
        run.inscp_paid += pay
    run.all_paid += pay
    if pay:
        run.fund_lines.append(_FundLine(code, name, base, cap_left, pay))


def _large_amount(run: _Run, ctx: SettlementContext, above_cap: int, inscp: int) -> int:
    """Employees' large-amount subsidy (大额): a ratio of what the pooled fund's cap cut off."""
    plan = ctx.policy.large_amount
    if plan is None or above_cap <= 0:
        return 0
    base = min(above_cap, inscp - run.inscp_paid)
    _, pay, cap_left = _pay_plan(run, base, plan.ratio, "ob:paid", plan.annual_cap_fen)
    _record(run, *LARGE_AMOUNT, base, cap_left, pay, True)
    run.say("hifob", "Large-amount subsidy", _subsidy_text,
            "大额医疗补助", base, plan.ratio, pay, cap_left, "hifob")
    return pay


def _critical_illness(run: _Run, ctx: SettlementContext, bill: Bill, inscp: int,
                      hifp: int) -> int:
    """Residents' critical illness (大病保险) on the year-to-date in-policy personal burden B:
    the part of B above the threshold is paid band by band, rounded once, up to the cap."""
    ci = ctx.policy.critical_illness
    if ci is None:
        return 0
    share = max(0, inscp - hifp)  # this visit's in-policy personal burden
    before = run.acc.get("ci:base", 0)
    run.add("ci:base", share)
    tilt = ci.tilt
    if tilt is not None and not any(
            i.type in tilt.groups and i.holds_on(bill.visit_date) for i in ctx.person.identities):
        tilt = None  # the tilt applies only to a person in one of its groups on the visit date
    threshold = apply_ratio(ci.threshold_fen, tilt.threshold_factor) if tilt is not None else ci.threshold_fen
    bonus = tilt.ratio_bonus if tilt is not None else _ZERO
    cap = tilt.cap_fen if tilt is not None else ci.annual_cap_fen
    excess_before = max(0, before - threshold)
    excess_after = max(0, before + share - threshold)
    amount = _band_amount(ci, excess_before, excess_after, bonus)
    pay = min(round_half_up(amount), inscp - run.inscp_paid)
    cap_left = run.left("ci:paid", cap)
    if cap_left is not None:
        pay = min(pay, cap_left)
    run.add("ci:paid", pay, cap)
    base = excess_after - excess_before
    _record(run, *CRITICAL_ILLNESS, base, cap_left, pay, True)
    run.say("hifmi", "Critical illness", _critical_illness_text, before, share, threshold,
            tilt.threshold_factor if tilt is not None else None, bonus, base, pay, cap_left)
    return pay


def _band_amount(ci: CriticalIllness, excess_before: int, excess_after: int,
                 bonus: Decimal) -> Decimal:
    """Sum over bands of (this visit's excess inside the band × band ratio), unrounded."""
    amount = _ZERO
    lower = 0
    for band in ci.bands:
        upper = band.upto_fen
        start = max(excess_before, lower)
        end = excess_after if upper is None else min(excess_after, upper)
        if end > start:
            amount += (end - start) * min(_ONE, band.ratio + bonus)
        if upper is None:
            break
        lower = upper
    return amount


def _civil_servant(run: _Run, ctx: SettlementContext, inscp: int, medfee: int) -> int:
    plan = ctx.policy.civil_servant
    if plan is None or not ctx.person.cvlserv:
        return 0
    base = max(0, min(inscp - run.inscp_paid, medfee - run.all_paid))
    _, pay, cap_left = _pay_plan(run, base, plan.ratio, "cvl:paid", plan.annual_cap_fen)
    _record(run, *CIVIL_SERVANT, base, cap_left, pay, True)
    run.say("cvlserv", "Civil-servant subsidy", _subsidy_text,
            "公务员医疗补助", base, plan.ratio, pay, cap_left, "cvlserv")
    return pay


def _supplementary(run: _Run, ctx: SettlementContext, inscp: int, medfee: int) -> tuple[int, int]:
    """Supplementary plans (the "N" of 3+N) in the policy's order. Returns (hifes, oth)."""
    hifes = oth = 0
    for plan in ctx.policy.supplementary:
        unpaid = medfee - run.all_paid
        in_policy = plan.base == "inscp_personal"
        base = inscp - run.inscp_paid if in_policy else unpaid
        base = max(0, min(base, unpaid))
        prefix = f"supp:{plan.code}"
        dedc, pay, cap_left = _pay_plan(run, base, plan.ratio, f"{prefix}:paid",
                                        plan.annual_cap_fen, f"{prefix}:dedc",
                                        plan.annual_deductible_fen)
        _record(run, plan.fund_pay_type, plan.code, base, cap_left, pay, in_policy)
        if plan.fund_pay_type == SUPPLEMENTARY_IN_HIFES:
            hifes += pay
        else:
            oth += pay
        run.say(prefix, f"Supplementary plan {plan.code}", _plan_text,
                f"补充保险 {plan.code}", base, dedc, plan.ratio, pay, cap_left, "supplementary")
    return hifes, oth


def _assistance(run: _Run, ctx: SettlementContext, bill: Bill, inscp: int, medfee: int) -> int:
    """Medical assistance (医疗救助): one rule, the first group in policy order the person holds
    on the visit date, on the in-policy amount no fund has paid."""
    rule = assistance_rule(ctx, bill.visit_date)
    if rule is None:
        return 0
    base = max(0, min(inscp - run.inscp_paid, medfee - run.all_paid))
    prefix = f"maf:{rule.group}"
    dedc, pay, cap_left = _pay_plan(run, base, rule.ratio, f"{prefix}:paid", rule.annual_cap_fen,
                                    f"{prefix}:dedc", rule.annual_deductible_fen)
    _record(run, *ASSISTANCE, base, cap_left, pay, True)
    run.say("maf", "Medical assistance", _plan_text,
            f"医疗救助（{rule.group}）", base, dedc, rule.ratio, pay, cap_left, "maf")
    return pay


def assistance_rule(ctx: SettlementContext, day: dt.date) -> AssistanceRule | None:
    """The one assistance rule that applies: the first group, in the policy's order, that the
    person holds on the day."""
    return next((rule for rule in ctx.policy.assistance
                 if any(i.type == rule.group and i.holds_on(day) for i in ctx.person.identities)), None)


def funds_of(benefit: Benefit, ctx: SettlementContext, day: dt.date) -> tuple[tuple[str, str], ...]:
    """The funds that may pay on the visit's benefit line, as (fund_pay_type, name), in the order
    `settle` applies them: the pooled fund; the second tier the policy has, on the inpatient and
    chronic lines only; each supplementary plan; medical assistance when a group is held. What
    the 2001 benefit check lists (DOMAIN.md §6a). The personal account is not a fund."""
    policy, insutype = ctx.policy, ctx.policy.insutype
    out = [(POOLED_FUND_CODE.get(insutype, "390100"), POOLED_FUND_NAME.get(insutype, "基本医疗保险统筹基金"))]
    if benefit.second_tier:
        if policy.large_amount is not None:
            out.append(LARGE_AMOUNT)
        if policy.critical_illness is not None:
            out.append(CRITICAL_ILLNESS)
        if policy.civil_servant is not None and ctx.person.cvlserv:
            out.append(CIVIL_SERVANT)
    out.extend((plan.fund_pay_type, plan.code) for plan in policy.supplementary)
    if assistance_rule(ctx, day) is not None:
        out.append(ASSISTANCE)
    return tuple(out)


def _account(run: _Run, ctx: SettlementContext, bill: Bill, psn_part: int) -> int:
    """Employees (310, retirees included) may pay their share from the personal account."""
    if ctx.person.insutype != EMPLOYEE or not bill.acct_used_flag or psn_part <= 0:
        return 0
    balance = ctx.person.account_balance_fen
    left = run.left("acct:used", balance)
    pay = min(psn_part, left)
    run.add("acct:used", pay, balance)
    if pay:
        run.fund_lines.append(_FundLine("310200", "职工基本医疗保险个人账户", psn_part, left, pay))
    run.say("acct", "Personal account", _account_text, left, pay)
    return pay


# ----------------------------------------------------------------------------- explanation texts
#
# Each step of the explanation records its numbers during the settlement; these functions turn
# them into the Chinese text when (and if) someone reads ExplainStep.text.


def _own_pay_text(blocked: tuple[tuple[str, int, str], ...]) -> str:
    lines = "；".join(f"明细 {sn} {yuan(fen)} 元：{why}" for sn, fen, why in blocked)
    return (f"基金监管规则将 {len(blocked)} 项费用转为全自费，合计 {yuan(sum(f for _, f, _ in blocked))} 元："
            f"{lines} (supervision)")


def _items_text(medfee: int, fulamt: int, overlmt: int, preselfpay: int, inscp: int) -> str:
    return (f"费用总额 {yuan(medfee)} 元 = 全自费 {yuan(fulamt)} + 超限价 {yuan(overlmt)} + "
            f"先行自付 {yuan(preselfpay)} + 政策范围内 {yuan(inscp)} (items)")


def _line_text(line_name: str, region: str, group: str | None) -> str:
    return f"待遇类别 {line_name}，{region_text(region, group)} (line, region)"


def _admission_deductible_text(listed: int, repeat: Decimal | None, per_admission: int,
                               paid: int, charged: int = 0) -> str:
    text = f"起付线 {yuan(listed)} 元"
    if repeat is not None:
        text += f" × {repeat}（本年度再次住院）= {yuan(per_admission)} 元"
    if charged:
        text += f"；本次住院此前结算已扣 {yuan(charged)} 元"
    return f"{text}；本次已扣 {yuan(paid)} 元 (deductible)"


def _annual_deductible_text(annual: int, left: int, paid: int) -> str:
    return (f"年度起付线 {yuan(annual)} 元，已付 {yuan(annual - left)} 元，剩余 {yuan(left)} 元；"
            f"本次已扣 {yuan(paid)} 元 (deductible)")


def _pooled_fund_text(inscp: int, dedc: int, r: Decimal, raw: int, capped: bool,
                      cap_left: int | None, hifp: int, eligible: int, above_cap: int) -> str:
    text = f"统筹基金支付 ({yuan(inscp)} − {yuan(dedc)}) × {percent(r)} = {yuan(raw)} 元"
    if capped:
        assert cap_left is not None  # capped means there was a cap
        text += (f"；封顶线剩余 {yuan(cap_left)} 元，实付 {yuan(hifp)} 元；超封顶线部分 "
                 f"{yuan(eligible)} − {yuan(hifp)} ÷ {percent(r)} = {yuan(above_cap)} 元")
    return text + " (hifp)"


def _subsidy_text(name: str, base: int, ratio: Decimal, pay: int, cap_left: int | None,
                  tag: str) -> str:
    """Large-amount and civil-servant subsidies: base × ratio."""
    return f"{name} {yuan(base)} × {percent(ratio)} = {yuan(pay)} 元{_cap_text(cap_left)} ({tag})"


def _plan_text(name: str, base: int, dedc: int, ratio: Decimal, pay: int,
               cap_left: int | None, tag: str) -> str:
    """Supplementary plans and medical assistance: (base − own deductible) × ratio."""
    return (f"{name}：({yuan(base)} − 起付 {yuan(dedc)}) × {percent(ratio)}"
            f" = {yuan(pay)} 元{_cap_text(cap_left)} ({tag})")


def _critical_illness_text(before: int, share: int, threshold: int,
                           tilt_factor: Decimal | None, bonus: Decimal, base: int, pay: int,
                           cap_left: int | None) -> str:
    tilt_text = ("" if tilt_factor is None
                 else f"（倾斜：起付 × {tilt_factor}，比例 + {percent(bonus)}）")
    return (f"大病保险：年度累计个人负担 {yuan(before)} + 本次 {yuan(share)} = "
            f"{yuan(before + share)} 元，起付 {yuan(threshold)} 元{tilt_text}；本次超起付部分 "
            f"{yuan(base)} 元分段支付 = {yuan(pay)} 元{_cap_text(cap_left)} (hifmi)")


def _account_text(left: int, pay: int) -> str:
    return f"个人账户余额 {yuan(left)} 元，支付 {yuan(pay)} 元 (acct)"


def _patient_text(fund: int, psn_part: int, acct: int, cash: int) -> str:
    return (f"基金支付合计 {yuan(fund)} 元；个人负担 {yuan(psn_part)} 元 = 个人账户 {yuan(acct)} + "
            f"现金 {yuan(cash)} (patient)")


def _reversal_text(fund: int, psn_part: int) -> str:
    return f"冲销：原结算各项金额取负，基金退回 {yuan(fund)} 元，个人退回 {yuan(psn_part)} 元 (reversal)"


def _cap_text(cap_left: int | None) -> str:
    return "" if cap_left is None else f"（年度限额剩余 {yuan(cap_left)} 元）"


def check_identities(result: SettlementResult) -> None:
    """The three identities every settlement and reversal must satisfy, to the fen."""
    r = result
    parts = r.fulamt_ownpay_amt + r.overlmt_selfpay + r.preselfpay_amt + r.inscp_scp_amt
    funds = (r.hifp_pay + r.cvlserv_pay + r.hifes_pay + r.hifmi_pay + r.hifob_pay + r.maf_pay
             + r.oth_pay)
    broken = []
    if r.medfee_sumamt != parts:
        broken.append(f"medfee {r.medfee_sumamt} != four parts {parts}")
    if funds != r.fund_pay_sumamt:
        broken.append(f"fund_pay_sumamt {r.fund_pay_sumamt} != sum of funds {funds}")
    if r.medfee_sumamt != r.fund_pay_sumamt + r.psn_part_amt + r.hosp_part_amt:
        broken.append("medfee != fund + psn_part + hosp_part")
    if r.psn_part_amt != r.acct_pay + r.psn_cash_pay:
        broken.append("psn_part != acct + cash")
    if broken:
        raise InvariantViolated("; ".join(broken))


def reverse(result: SettlementResult, *, admission_remains: bool = False) -> SettlementResult:
    """The reversal (冲销) of a settlement: every amount and accumulator delta negated, caps
    kept, so storage books it with the same conditional updates. Never a deletion.

    Inpatient-style lines count admissions, not settlements: the reversal that leaves its
    admission no settlement in force takes the admission off `admissions:inpatient` (whichever
    settlement of it added it), one that leaves another settlement of it in force
    (`admission_remains`) does not touch the count."""
    if getattr(result, "reversal", False):
        raise SettlementRefused(
            Outcome.REVERSAL_OF_REVERSAL,
            "该结算本身是冲销记录，不能再次冲销。 / This settlement is itself a reversal and "
            "cannot be reversed.",
            "setl_id",
        )
    r = result
    reversed_result = _SettlementResult(
        line=r.line, region_class=r.region_class, filing_group=r.filing_group, ratio=r.ratio,
        medfee_sumamt=-r.medfee_sumamt, fulamt_ownpay_amt=-r.fulamt_ownpay_amt,
        overlmt_selfpay=-r.overlmt_selfpay, preselfpay_amt=-r.preselfpay_amt,
        inscp_scp_amt=-r.inscp_scp_amt, act_pay_dedc=-r.act_pay_dedc, hifp_pay=-r.hifp_pay,
        cvlserv_pay=-r.cvlserv_pay, hifes_pay=-r.hifes_pay, hifmi_pay=-r.hifmi_pay,
        hifob_pay=-r.hifob_pay, maf_pay=-r.maf_pay, oth_pay=-r.oth_pay,
        fund_pay_sumamt=-r.fund_pay_sumamt, psn_part_amt=-r.psn_part_amt,
        hosp_part_amt=-r.hosp_part_amt, acct_pay=-r.acct_pay, psn_cash_pay=-r.psn_cash_pay,
        items=tuple(_reverse_item(item) for item in r.items),
        fund_lines=tuple(_FundLine(f.fund_pay_type, f.name, -f.inscp_fen, f.cap_left_fen,
                                   -f.amount_fen, f.info) for f in r.fund_lines),
        deltas=_reversed_deltas(r, admission_remains),
        caps=dict(r.caps),
        explanation=(ExplainStep.deferred("reversal", "Reversal", _reversal_text,
                                          r.fund_pay_sumamt, r.psn_part_amt),)
        + r.explanation,
        reversal=True,
    )
    check_identities(reversed_result)
    return reversed_result


def _reversed_deltas(r: SettlementResult, admission_remains: bool) -> dict[str, int]:
    deltas = {key: -value for key, value in r.deltas.items() if key != ADMISSIONS}
    if r.line in INPATIENT_STYLE_LINES and not admission_remains:
        deltas[ADMISSIONS] = -1
    return deltas


def _reverse_item(item: ItemResult) -> ItemResult:
    return _ItemResult(
        feedetl_sn=item.feedetl_sn, list_code=item.list_code, amount_fen=-item.amount_fen,
        cnt=-item.cnt, pric_fen=item.pric_fen, price_cap_fen=item.price_cap_fen,
        selfpay_prop=item.selfpay_prop, fulamt_ownpay_fen=-item.fulamt_ownpay_fen,
        overlmt_fen=-item.overlmt_fen, preselfpay_fen=-item.preselfpay_fen,
        inscp_fen=-item.inscp_fen, chrgitm_lv=item.chrgitm_lv, in_catalogue=item.in_catalogue,
    )
