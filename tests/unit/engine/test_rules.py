"""One hand-computed case per rule of docs/RULES.md §5, and one per refusal outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

import pytest

from services.engine import (
    Outcome,
    SettlementRefused,
    benefit_for,
    fen_to_yuan,
    funds_of,
    line_for,
    region_class,
    reverse,
    round_half_up,
    settle,
    split_items,
    yuan_to_fen,
)
from services.engine.model import (
    AdmissionSoFar,
    AssistanceRule,
    Band,
    CriticalIllness,
    Identity,
    LinePolicy,
    RatioCap,
    SupplementaryPlan,
)
from services.engine.money import yuan_to_fen as fen

from .fixtures import (
    CAT_SX,
    CAT_XJ,
    DAY,
    HHZ3,
    HSX1,
    HSX3,
    HXJ3,
    POLICY_EMPLOYEE,
    POLICY_RESIDENT,
    POOL_CZT,
    POOL_SX,
    POOL_XJ,
    bill,
    context,
    employee,
    held,
    item,
    qualified,
    resident,
    with_lines,
)

PLAIN_RESIDENT = replace(POLICY_RESIDENT, critical_illness=None, assistance=())


# ----------------------------------------------------------------------------- money


@pytest.mark.parametrize("text, value", [
    ("800.00", 80000), ("0.5", 50), ("12", 1200), ("-0.01", -1), ("0.00", 0)])
def test_yuan_to_fen_exact(text, value):
    assert yuan_to_fen(text) == value
    assert yuan_to_fen(fen_to_yuan(value)) == value


@pytest.mark.parametrize("text", ["1.005", "abc", "", "1,000.00", "1e3", ".5"])
def test_yuan_to_fen_rejects(text):
    with pytest.raises(ValueError):
        yuan_to_fen(text)


def test_fen_to_yuan_and_half_up():
    assert fen_to_yuan(123450) == "1234.50"
    assert fen_to_yuan(-5) == "-0.05"
    assert round_half_up(D("174.375") * 100 / 100) == 174
    assert round_half_up(D("17437.5")) == 17438
    assert round_half_up(D("-0.5")) == -1


# ----------------------------------------------------------------------------- step 1: items


def test_price_cap_乙_丙_and_not_in_catalogue():
    bed, drug, stent, unknown = split_items(
        (item("BED", "3", "60.00"), item("DRUG", "3", "3.33"), item("STENT", "1", "10.00"),
         item("NOPE", "2", "1.50")), CAT_SX)
    assert (bed.overlmt_fen, bed.inscp_fen, bed.preselfpay_fen) == (3000, 15000, 0)
    # 乙: 9.99 × 0.05 = 0.4995 → 0.50 half-up
    assert (drug.preselfpay_fen, drug.inscp_fen, drug.chrgitm_lv) == (50, 949, "02")
    assert (stent.fulamt_ownpay_fen, stent.inscp_fen, stent.chrgitm_lv) == (1000, 0, "03")
    assert (unknown.fulamt_ownpay_fen, unknown.in_catalogue, unknown.chrgitm_lv) == (
        300, False, "03")


def test_fractional_quantity_price_cap_rounds_at_the_item():
    (bed,) = split_items((item("BED", "0.5", "50.03"),), CAT_SX)
    # amount = 25.015 → 25.02; overlmt = 0.03 × 0.5 = 0.015 → 0.02
    assert (bed.amount_fen, bed.overlmt_fen, bed.inscp_fen) == (2502, 2, 2500)


def test_amount_mismatch_names_the_item():
    bad = replace(item("EXAM", "2", "10.00"), amount_fen=2001)
    with pytest.raises(SettlementRefused) as refused:
        split_items((item("EXAM", "1", "1.00"), bad), CAT_SX)
    assert refused.value.outcome is Outcome.AMOUNT_MISMATCH
    assert refused.value.field == "feedetail[1].det_item_fee_sumamt"
    assert "EXAM" in refused.value.message and "20.00" in refused.value.message


# ----------------------------------------------------------------------------- steps 2-3


@pytest.mark.parametrize("med_type, disease, lines, expected", [
    ("11", None, (), "outpatient"), ("13", None, (), "outpatient"),
    ("14", "M03900", (), "chronic:M03900"), ("21", None, (), "inpatient"),
    ("24", None, (), "inpatient"), ("28", None, (), "inpatient"),
    ("28", None, ("inpatient", "day_surgery"), "day_surgery"),
])
def test_line_for(med_type, disease, lines, expected):
    assert line_for(med_type, disease, lines) == expected


@pytest.mark.parametrize("pool, admdvs, expected", [
    (POOL_SX, "330602", "local"), (POOL_SX, "330102", "intra_province"),
    (POOL_SX, "650102", "inter_province"), (POOL_CZT, "430202", "local"),
    (POOL_CZT, "430500", "intra_province"), (POOL_XJ, "650102", "local"),
    (POOL_XJ, "330602", "inter_province"),
])
def test_region_class(pool, admdvs, expected):
    assert region_class(pool, admdvs) == expected


def test_day_surgery_uses_its_own_line_when_defined():
    day = LinePolicy("day_surgery", {3: D("0.80")}, deductible_fen={"3": fen("400")})
    policy = with_lines(PLAIN_RESIDENT, day_surgery=day)
    result = settle(bill([item("EXAM", "1", "1000.00")], med_type="28"),
                    context(resident(), policy))
    assert (result.line, result.act_pay_dedc, result.hifp_pay) == ("day_surgery", 40000, 48000)
    assert result.deltas["admissions:inpatient"] == 1
    plain = settle(bill([item("EXAM", "1", "1000.00")], med_type="28"),
                   context(resident(), PLAIN_RESIDENT))
    assert plain.line == "inpatient" and plain.act_pay_dedc == 80000


def test_intra_province_unfiled_uses_its_own_adjustment():
    result = settle(bill([item("EXAM", "1", "1800.00")], hospital=HHZ3),
                    context(resident(), PLAIN_RESIDENT))
    assert (result.region_class, result.filing_group, result.ratio) == (
        "intra_province", "intra_province", D("0.65"))
    assert result.hifp_pay == fen("650.00")  # (1800 − 800) × 65%


def test_intra_province_filed_uses_the_filing_group():
    result = settle(bill([item("EXAM", "1", "1800.00")], hospital=HHZ3),
                    context(resident(), PLAIN_RESIDENT, filing="referral"))
    assert (result.filing_group, result.ratio) == ("referral", D("0.60"))


def test_emergency_inter_province_without_filing():
    result = settle(bill([item("EXAM", "1", "400.00")], med_type="13", hospital=HXJ3),
                    context(employee(), POLICY_EMPLOYEE, catalogue=CAT_XJ, treatment=POOL_XJ))
    assert (result.filing_group, result.ratio) == ("emergency", D("0.55"))
    flagged = settle(bill([item("EXAM", "1", "400.00")], med_type="21", hospital=HXJ3,
                          emergency=True),
                     context(employee(), POLICY_EMPLOYEE, catalogue=CAT_XJ, treatment=POOL_XJ))
    assert flagged.filing_group == "emergency"


def test_active_filing_takes_precedence_over_emergency():
    result = settle(bill([item("EXAM", "1", "400.00")], med_type="13", hospital=HXJ3),
                    context(employee(), POLICY_EMPLOYEE, filing="long_term",
                            catalogue=CAT_XJ, treatment=POOL_XJ))
    assert (result.filing_group, result.ratio) == ("long_term", D("0.65"))


# ----------------------------------------------------------------------------- steps 4-6


def test_retiree_bonus():
    items = [item("EXAM", "1", "10800.00")]
    worker = settle(bill(items), context(employee(), POLICY_EMPLOYEE))
    retiree = settle(bill(items), context(employee("retired"), POLICY_EMPLOYEE))
    assert (worker.ratio, worker.hifp_pay) == (D("0.70"), fen("7000.00"))
    assert (retiree.ratio, retiree.hifp_pay) == (D("0.75"), fen("7500.00"))


def test_ratio_clamped_to_one():
    generous = replace(POLICY_EMPLOYEE, retired_bonus=D("0.50"))
    result = settle(bill([item("EXAM", "1", "1800.00")]),
                    context(employee("retired"), generous))
    assert result.ratio == D("1") and result.hifp_pay == fen("1000.00")


def test_repeat_admission_halves_the_deductible():
    items = [item("EXAM", "1", "5000.00")]
    first = settle(bill(items), context(resident(), PLAIN_RESIDENT))
    second = settle(bill(items), context(resident(), PLAIN_RESIDENT,
                                         acc={"admissions:inpatient": 1}))
    assert first.act_pay_dedc == fen("800.00") and second.act_pay_dedc == fen("400.00")
    assert first.deltas["admissions:inpatient"] == 1


def test_interim_then_final_settlement_charges_one_deductible_per_admission():
    """DOMAIN.md §5 precise points: admissions are counted, not settlements; the interim
    settlement (中途结算) charges the admission's deductible, the final one only what is left.
    Before: the final one counted a second admission and charged 800.00 × 0.5 = 400.00 again."""
    interim = settle(bill([item("EXAM", "1", "5000.00")]), context(resident(), PLAIN_RESIDENT))
    assert (interim.act_pay_dedc, interim.hifp_pay) == (fen("800.00"), fen("2940.00"))
    assert interim.deltas["admissions:inpatient"] == 1
    so_far = AdmissionSoFar(settlements=1, deductible_fen=interim.act_pay_dedc)
    final = settle(bill([item("EXAM", "1", "3000.00")]),
                   replace(context(resident(), PLAIN_RESIDENT, acc={"admissions:inpatient": 1}),
                           admission=so_far))
    assert (final.act_pay_dedc, final.hifp_pay) == (0, fen("2100.00"))  # 3000 × 70%
    assert "admissions:inpatient" not in final.deltas
    assert "此前结算已扣 800.00" in next(s.text for s in final.explanation if s.code == "deductible")


def test_interim_below_the_deductible_leaves_the_rest_to_the_final_settlement():
    interim = settle(bill([item("EXAM", "1", "500.00")]), context(resident(), PLAIN_RESIDENT))
    assert (interim.act_pay_dedc, interim.hifp_pay) == (fen("500.00"), 0)
    final = settle(bill([item("EXAM", "1", "3000.00")]),
                   replace(context(resident(), PLAIN_RESIDENT, acc={"admissions:inpatient": 1}),
                           admission=AdmissionSoFar(1, fen("500.00"))))
    assert (final.act_pay_dedc, final.hifp_pay) == (fen("300.00"), fen("1890.00"))  # (3000 − 300) × 70%


def test_second_admission_interim_keeps_the_repeat_factor_for_its_final_settlement():
    """An earlier admission this year (the counter holds it and this one): 800.00 × 0.5 = 400.00
    for this admission in all, charged by its interim settlement."""
    ctx = context(resident(), PLAIN_RESIDENT, acc={"admissions:inpatient": 1})
    interim = settle(bill([item("EXAM", "1", "5000.00")]), ctx)
    assert interim.act_pay_dedc == fen("400.00") and interim.deltas["admissions:inpatient"] == 1
    final = settle(bill([item("EXAM", "1", "3000.00")]),
                   replace(ctx, accumulators={"admissions:inpatient": 2},
                           admission=AdmissionSoFar(1, fen("400.00"))))
    assert final.act_pay_dedc == 0 and "admissions:inpatient" not in final.deltas


def test_reversal_takes_the_admission_off_the_count_only_when_none_of_it_remains():
    first = settle(bill([item("EXAM", "1", "5000.00")]), context(resident(), PLAIN_RESIDENT))
    later = settle(bill([item("EXAM", "1", "3000.00")]),
                   replace(context(resident(), PLAIN_RESIDENT, acc={"admissions:inpatient": 1}),
                           admission=AdmissionSoFar(1, fen("800.00"))))
    # The interim reversed while the final is in force: the admission still counts.
    assert "admissions:inpatient" not in reverse(first, admission_remains=True).deltas
    # The last settlement of the admission reversed: off the count, whichever one added it.
    assert reverse(later).deltas["admissions:inpatient"] == -1
    assert reverse(first).deltas["admissions:inpatient"] == -1
    outpatient = settle(bill([item("DRUG", "28", "12.50")], med_type="11", hospital=HSX1),
                        context(employee(), POLICY_EMPLOYEE))
    assert "admissions:inpatient" not in reverse(outpatient).deltas


def test_out_of_province_deductible():
    result = settle(bill([item("EXAM", "1", "5000.00")], hospital=HXJ3),
                    context(resident(), PLAIN_RESIDENT, filing="referral",
                            catalogue=CAT_XJ, treatment=POOL_XJ))
    assert result.act_pay_dedc == fen("1200.00")
    assert result.hifp_pay == fen("2280.00")  # (5000 − 1200) × 60%


def test_line_annual_cap():
    ctx = context(employee(), POLICY_EMPLOYEE,
                  acc={"dedc:outpatient": fen("300"), "fund:line:outpatient": fen("4900")})
    result = settle(bill([item("EXAM", "1", "1000.00")], med_type="11", hospital=HSX1), ctx)
    assert result.hifp_pay == fen("100.00")
    assert result.fund_lines[0].cap_left_fen == fen("100.00")
    assert result.caps["fund:line:outpatient"] == fen("5000.00")
    assert result.hifob_pay == 0  # no second tier on the outpatient line


def test_cap_group_shared_between_inpatient_and_chronic():
    policy = with_lines(PLAIN_RESIDENT, chronic__M07803=replace(
        POLICY_RESIDENT.lines["chronic:M07803"], monthly_cap_fen=None))
    ctx = context(resident(chronic=[qualified("M07803")]), policy,
                  acc={"fund:group:main": fen("279500.00")})
    result = settle(bill([item("DIAL", "2", "450.00")], med_type="14",
                         disease_code="M07803"), ctx)
    assert result.hifp_pay == fen("500.00")
    assert result.deltas == {"fund:group:main": fen("500.00")}
    assert result.caps == {"fund:group:main": fen("280000.00")}


def test_monthly_cap_is_per_month():
    acc = {"fund:month:chronic:M07803:2026-04": fen("6000.00")}
    ctx = context(resident(chronic=[qualified("M07803")]), PLAIN_RESIDENT, acc=acc)
    may = settle(bill([item("DIAL", "2", "450.00")], med_type="14", disease_code="M07803"), ctx)
    april = settle(bill([item("DIAL", "2", "450.00")], med_type="14", disease_code="M07803",
                        visit_date=dt.date(2026, 4, 30)), ctx)
    assert may.hifp_pay == fen("810.00") and april.hifp_pay == 0
    assert "fund:month:chronic:M07803:2026-05" in may.deltas


def test_smallest_cap_left_binds():
    policy = with_lines(PLAIN_RESIDENT, chronic__M07803=replace(
        POLICY_RESIDENT.lines["chronic:M07803"], annual_cap_fen=fen("20000")))
    acc = {"fund:line:chronic:M07803": fen("19900"), "fund:group:main": fen("1000")}
    result = settle(bill([item("DIAL", "2", "450.00")], med_type="14", disease_code="M07803"),
                    context(resident(chronic=[qualified("M07803")]), policy, acc=acc))
    assert result.hifp_pay == fen("100.00")
    assert set(result.deltas) == {"fund:line:chronic:M07803", "fund:group:main",
                                  "fund:month:chronic:M07803:2026-05"}


def test_above_cap_only_when_cap_binds():
    ctx = context(employee(), POLICY_EMPLOYEE, acc={"fund:group:main": fen("49000")})
    result = settle(bill([item("EXAM", "1", "10800.00")]), ctx)
    # eligible 10000, raw 7000, cap left 1000 → above_cap = 10000 − 1000/0.7 (1428.57) = 8571.43
    assert result.hifp_pay == fen("1000.00")
    assert result.hifob_pay == round_half_up(D(fen("8571.43")) * D("0.80"))
    uncapped = settle(bill([item("EXAM", "1", "10800.00")]), context(employee(), POLICY_EMPLOYEE))
    assert uncapped.hifob_pay == 0


def test_large_amount_cap():
    ctx = context(employee(), POLICY_EMPLOYEE,
                  acc={"fund:group:main": fen("50000"), "ob:paid": fen("299990")})
    result = settle(bill([item("EXAM", "1", "10800.00")]), ctx)
    assert (result.hifp_pay, result.hifob_pay) == (0, fen("10.00"))
    assert result.caps["ob:paid"] == fen("300000.00")


# ----------------------------------------------------------------------------- step 7


def test_critical_illness_bands_cross_a_boundary():
    # inscp 10000, hifp (10000 − 800) × 70% = 6440, share 3560; excess 99000 → 102560
    acc = {"ci:base": fen("119000")}
    result = settle(bill([item("EXAM", "1", "10000.00")]),
                    context(resident(), replace(POLICY_RESIDENT, assistance=()), acc=acc))
    assert result.hifmi_pay == fen("2392.00")  # 1000 × 60% + 2560 × 70%
    assert result.caps["ci:paid"] == fen("400000.00")
    assert result.deltas["ci:base"] == fen("3560.00")


def test_critical_illness_tilt_removes_the_cap():
    acc = {"ci:base": fen("50000"), "ci:paid": fen("400000")}
    policy = replace(POLICY_RESIDENT, assistance=())
    tekun = settle(bill([item("EXAM", "1", "10000.00")]),
                   context(resident(identities=[held("tekun")]), policy, acc=acc))
    plain = settle(bill([item("EXAM", "1", "10000.00")]), context(resident(), policy, acc=acc))
    assert tekun.hifmi_pay == fen("2314.00")  # 3560 × (60% + 5%), no cap
    assert "ci:paid" not in tekun.caps
    assert plain.hifmi_pay == 0  # 400000 already paid under the ordinary cap


def test_tilt_needs_the_identity_on_the_visit_date():
    expired = Identity("tekun", dt.date(2025, 1, 1), dt.date(2026, 1, 31))
    policy = replace(POLICY_RESIDENT, assistance=())
    result = settle(bill([item("EXAM", "1", "10000.00")]),
                    context(resident(identities=[expired]), policy,
                            acc={"ci:base": fen("50000")}))
    assert result.hifmi_pay == fen("2136.00")  # 3560 × 60%, untilted


def test_band_ratio_plus_bonus_capped_at_one():
    ci = CriticalIllness(0, (Band(None, D("0.98")),), None, POLICY_RESIDENT.critical_illness.tilt)
    policy = replace(POLICY_RESIDENT, critical_illness=ci, assistance=())
    result = settle(bill([item("EXAM", "1", "10000.00")]),
                    context(resident(identities=[held("dibao")]), policy))
    assert result.hifmi_pay == fen("3560.00")
    assert result.psn_part_amt == 0


def test_civil_servant_subsidy_on_inpatient_only():
    policy = replace(POLICY_EMPLOYEE, civil_servant=RatioCap(D("0.50"), fen("20000")))
    items = [item("SURG", "1", "10000.00")]
    result = settle(bill(items), context(employee(cvlserv=True), policy))
    # inscp 9000, hifp (9000 − 800) × 70% = 5740, base 3260 × 50%
    assert result.cvlserv_pay == fen("1630.00")
    assert any(line.fund_pay_type == "320100" for line in result.fund_lines)
    assert settle(bill(items), context(employee(), policy)).cvlserv_pay == 0
    outpatient = settle(bill(items, med_type="11"), context(employee(cvlserv=True), policy))
    assert outpatient.cvlserv_pay == 0


def test_supplementary_inscp_personal_then_all_personal():
    in_policy = SupplementaryPlan("huimin", "390300", "inscp_personal", 0, D("0.5"), None)
    whole = SupplementaryPlan("corp", "370100", "all_personal", 0, D("0.5"), None)
    items = [item("EXAM", "1", "10000.00"), item("STENT", "1", "2000.00")]
    both = settle(bill(items), context(resident(),
                                       replace(PLAIN_RESIDENT, supplementary=(in_policy, whole))))
    # hifp 6440; huimin: (10000 − 6440) × 50% = 1780; corp: (12000 − 6440 − 1780) × 50% = 1890
    assert (both.oth_pay, both.hifes_pay) == (fen("1780.00"), fen("1890.00"))
    assert [line.fund_pay_type for line in both.fund_lines] == ["390100", "390300", "370100"]
    alone = settle(bill(items), context(resident(),
                                        replace(PLAIN_RESIDENT, supplementary=(whole,))))
    assert alone.hifes_pay == fen("2780.00")  # (12000 − 6440) × 50%


def test_supplementary_deductible_and_cap():
    plan = SupplementaryPlan("huimin", "390300", "inscp_personal", fen("1000"), D("0.8"),
                             fen("2000"))
    acc = {"supp:huimin:dedc": fen("400"), "supp:huimin:paid": fen("500")}
    result = settle(bill([item("EXAM", "1", "10000.00")]),
                    context(resident(), replace(PLAIN_RESIDENT, supplementary=(plan,)), acc=acc))
    # base 3560, deductible left 600 → (2960 × 80% = 2368) capped at 1500 left
    assert result.oth_pay == fen("1500.00")
    assert result.deltas["supp:huimin:dedc"] == fen("600.00")
    assert result.caps["supp:huimin:paid"] == fen("2000.00")


# ----------------------------------------------------------------------------- step 8


def test_assistance_first_group_in_policy_order():
    policy = replace(POLICY_RESIDENT, critical_illness=None)
    both = resident(identities=[held("dibao"), held("tekun")])
    result = settle(bill([item("EXAM", "1", "10000.00")]), context(both, policy))
    assert result.maf_pay == fen("3560.00")  # tekun: ratio 100%, no deductible
    assert "maf:tekun:paid" in result.deltas and "maf:dibao:paid" not in result.deltas
    flipped = replace(policy, assistance=tuple(reversed(policy.assistance)))
    dibao_first = settle(bill([item("EXAM", "1", "10000.00")]), context(both, flipped))
    assert dibao_first.maf_pay == fen("2282.00")  # (3560 − 300) × 70%


def test_assistance_never_more_than_unpaid():
    rule = AssistanceRule("tekun", 0, D("1.00"), None)
    generous = SupplementaryPlan("corp", "370100", "all_personal", 0, D("1.00"), None)
    policy = replace(PLAIN_RESIDENT, assistance=(rule,), supplementary=(generous,))
    result = settle(bill([item("EXAM", "1", "10000.00")]),
                    context(resident(identities=[held("tekun")]), policy))
    assert result.maf_pay == 0 and result.psn_part_amt == 0


# ----------------------------------------------------------------------------- step 9


def test_account_only_for_employees_with_the_flag():
    items = [item("EXAM", "1", "100.00")]
    emp = settle(bill(items, med_type="11", acct_used_flag=True),
                 context(employee(balance="1000"), POLICY_EMPLOYEE))
    assert emp.acct_pay == fen("100.00") and emp.psn_cash_pay == 0
    assert emp.deltas["acct:used"] == fen("100.00")
    no_flag = settle(bill(items, med_type="11"), context(employee(balance="1000"), POLICY_EMPLOYEE))
    assert no_flag.acct_pay == 0
    used_up = settle(bill(items, med_type="11", acct_used_flag=True),
                     context(employee(balance="1000"), POLICY_EMPLOYEE,
                             acc={"acct:used": fen("1000")}))
    assert used_up.acct_pay == 0 and used_up.psn_cash_pay == fen("100.00")
    res = settle(bill(items, acct_used_flag=True),
                 context(resident(balance="1000"), PLAIN_RESIDENT))
    assert res.acct_pay == 0


def test_reverse_negates_everything_and_keeps_caps():
    ctx = context(employee("retired", balance="1200.00"), POLICY_EMPLOYEE,
                  acc={"admissions:inpatient": 1, "fund:group:main": fen("35000.00")})
    result = settle(bill([item("SURG", "1", "40000.00")], acct_used_flag=True), ctx)
    undone = reverse(result)
    assert undone.medfee_sumamt == -result.medfee_sumamt
    assert undone.hifob_pay == -result.hifob_pay and undone.acct_pay == -result.acct_pay
    assert undone.deltas == {k: -v for k, v in result.deltas.items()}
    assert undone.caps == result.caps
    assert undone.items[0].amount_fen == -result.items[0].amount_fen
    assert [f.amount_fen for f in undone.fund_lines] == [-f.amount_fen for f in result.fund_lines]
    assert undone.explanation[0].code == "reversal" and undone.reversal
    with pytest.raises(SettlementRefused) as refused:
        reverse(undone)
    assert refused.value.outcome is Outcome.REVERSAL_OF_REVERSAL


def test_explanation_is_readable():
    result = settle(bill([item("EXAM", "1", "17500.00"), item("STENT", "1", "2500.00")]),
                    context(resident(), PLAIN_RESIDENT))
    codes = [step.code for step in result.explanation]
    assert codes[:5] == ["items", "line", "ratio", "deductible", "hifp"]
    assert "起付线 800.00 元" in result.explanation[3].text
    assert "(17500.00 − 800.00) × 70% = 11690.00" in result.explanation[4].text


# ----------------------------------------------------------------------------- refusals


def _refusal(bill_, ctx):
    with pytest.raises(SettlementRefused) as refused:
        settle(bill_, ctx)
    error = refused.value
    assert " / " in error.message  # Chinese, then English
    return error


EXAM = [item("EXAM", "1", "100.00")]


@pytest.mark.parametrize("case, expected, field", [
    (lambda: (bill([]), context(resident(), PLAIN_RESIDENT)), Outcome.EMPTY_BILL, "feedetail"),
    (lambda: (bill([replace(EXAM[0], amount_fen=1)]), context(resident(), PLAIN_RESIDENT)),
     Outcome.AMOUNT_MISMATCH, "feedetail[0].det_item_fee_sumamt"),
    (lambda: (bill([replace(EXAM[0], cnt=D("-1"), amount_fen=-10000)]),
              context(resident(), PLAIN_RESIDENT)), Outcome.INVALID_ITEM, "feedetail[0].cnt"),
    (lambda: (bill(EXAM), context(employee(), PLAIN_RESIDENT)), Outcome.NOT_ELIGIBLE, "insutype"),
    (lambda: (bill(EXAM, visit_date=dt.date(2025, 12, 31)), context(resident(), PLAIN_RESIDENT)),
     Outcome.POLICY_YEAR_MISMATCH, "begntime"),
    (lambda: (bill(EXAM, med_type="99"), context(resident(), PLAIN_RESIDENT)),
     Outcome.MED_TYPE_UNKNOWN, "med_type"),
    (lambda: (bill(EXAM, med_type="14"), context(resident(), PLAIN_RESIDENT)),
     Outcome.DISEASE_CODE_MISSING, "mdtrtinfo.dise_codg"),
    (lambda: (bill(EXAM, med_type="11"), context(resident(), PLAIN_RESIDENT)),
     Outcome.LINE_NOT_COVERED, "med_type"),
    (lambda: (bill(EXAM, hospital=replace(HSX3, level=4)), context(resident(), PLAIN_RESIDENT)),
     Outcome.LINE_NOT_COVERED, "fixmedins_code"),
    (lambda: (bill(EXAM, med_type="14", disease_code="M07803"),
              context(resident(chronic=[qualified("M03900")]), PLAIN_RESIDENT)),
     Outcome.NO_CHRONIC_QUALIFICATION, "mdtrtinfo.dise_codg"),
    (lambda: (bill(EXAM, med_type="14", disease_code="M02300", hospital=HXJ3),
              context(resident(chronic=[qualified("M02300")]),
                      with_lines(PLAIN_RESIDENT, chronic__M02300=replace(
                          PLAIN_RESIDENT.lines["chronic:M07803"], name="chronic:M02300",
                          monthly_cap_fen=None)),
                      filing="long_term", catalogue=CAT_XJ, treatment=POOL_XJ)),
     Outcome.DISEASE_NOT_CROSS_PROVINCE, "mdtrtinfo.dise_codg"),
    (lambda: (bill(EXAM, hospital=replace(HXJ3, cross_province=False)),
              context(resident(), PLAIN_RESIDENT, filing="long_term", catalogue=CAT_XJ)),
     Outcome.HOSPITAL_NOT_CROSS_PROVINCE, "fixmedins_code"),
    (lambda: (bill(EXAM, hospital=HXJ3), context(resident(), PLAIN_RESIDENT, catalogue=CAT_XJ)),
     Outcome.NOT_FILED, "psn_no"),
    (lambda: (bill(EXAM, hospital=HHZ3),
              context(resident(), replace(PLAIN_RESIDENT, intra_province_requires_filing=True))),
     Outcome.NOT_FILED, "psn_no"),
])
def test_refusals(case, expected, field):
    error = _refusal(*case())
    assert error.outcome is expected
    assert error.field == field


def test_not_filed_says_how_to_file():
    error = _refusal(bill(EXAM, hospital=HXJ3),
                     context(resident(), PLAIN_RESIDENT, catalogue=CAT_XJ))
    assert "2501" in error.message and "备案" in error.message and "online" in error.message


# ----------------------------------------------------------------------------- 2001: the same rules


def test_benefit_for_and_funds_of_are_what_settle_applies():
    """The 2001 benefit check uses benefit_for (steps 2–4) and funds_of (the funds of the line),
    the very code settle runs: critical illness on the inpatient line, not on outpatient;
    assistance for the group held; an unfiled inter-province visit refused as settle refuses it."""
    outpatient_line = LinePolicy("outpatient", {3: D("0.50")}, annual_deductible_fen=0)
    policy = with_lines(POLICY_RESIDENT, outpatient=outpatient_line)
    ctx = context(resident(identities=[held("dibao")]), policy)
    inpatient = benefit_for(bill([]), ctx)
    assert (inpatient.line_name, inpatient.region, inpatient.ratio.value) == ("inpatient", "local", D("0.70"))
    assert [code for code, _ in funds_of(inpatient, ctx, DAY)] == ["390100", "390200", "610100"]
    outpatient = benefit_for(bill([], med_type="11"), ctx)
    assert not outpatient.second_tier
    assert [code for code, _ in funds_of(outpatient, ctx, DAY)] == ["390100", "610100"]
    settled = settle(bill([item("EXAM", "1", "30000.00")], med_type="11"), ctx)
    assert settled.hifmi_pay == 0 and {f.fund_pay_type for f in settled.fund_lines} <= {"390100", "610100"}
    away = context(resident(), PLAIN_RESIDENT, catalogue=CAT_XJ, treatment=POOL_XJ)
    with pytest.raises(SettlementRefused) as e:
        benefit_for(bill([], hospital=HXJ3), away)
    assert e.value.outcome is Outcome.NOT_FILED
    with pytest.raises(SettlementRefused) as e:
        settle(bill([item("EXAM", "1", "100.00")], hospital=HXJ3), away)
    assert e.value.outcome is Outcome.NOT_FILED
