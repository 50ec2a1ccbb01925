"""docs/RULES.md's worked check and docs/RULES.md (worked examples) A–D, every figure given there."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

import pytest

from services.engine import settle
from services.engine.model import LinePolicy
from services.engine.money import yuan_to_fen as fen

from .fixtures import (
    CAT_XJ,
    HSX1,
    HSX3,
    HXJ3,
    POLICY_EMPLOYEE,
    POLICY_RESIDENT,
    POOL_XJ,
    bill,
    context,
    employee,
    held,
    item,
    qualified,
    resident,
)


def _domain_check_policy():
    line = LinePolicy("inpatient", {1: D("0.85"), 2: D("0.80"), 3: D("0.70")},
                      deductible_fen={"3": fen("800")}, cap_group="main")
    return replace(POLICY_RESIDENT, lines={"inpatient": line}, critical_illness=None,
                   assistance=())


# in-policy 17,500.00 of a 20,000.00 bill: an 甲 exam plus a 丙 stent
DOMAIN_BILL_ITEMS = [item("EXAM", "1", "17500.00"), item("STENT", "1", "2500.00")]


@pytest.mark.parametrize("hospital, filing, dedc, hifp, patient", [
    (HSX3, None, "800.00", "11690.00", "8310.00"),
    (HXJ3, "temporary", "800.00", "8350.00", "11650.00"),
])
def test_domain_worked_check(hospital, filing, dedc, hifp, patient):
    ctx = context(resident(), _domain_check_policy(), filing=filing)
    result = settle(bill(DOMAIN_BILL_ITEMS, hospital=hospital), ctx)
    assert result.medfee_sumamt == fen("20000.00")
    assert result.inscp_scp_amt == fen("17500.00")
    assert result.act_pay_dedc == fen(dedc)
    assert result.hifp_pay == fen(hifp)
    assert result.psn_part_amt == result.psn_cash_pay == fen(patient)


def test_a_resident_dibao_tilt_then_assistance():
    ctx = context(resident(identities=[held("dibao")]), POLICY_RESIDENT)
    result = settle(bill([item("SURG", "1", "60000.00"), item("BED", "10", "65.00"),
                          item("STENT", "1", "9000.00")]), ctx)
    surg, bed, stent = result.items
    assert (surg.preselfpay_fen, surg.inscp_fen) == (fen("6000.00"), fen("54000.00"))
    assert (bed.overlmt_fen, bed.inscp_fen) == (fen("150.00"), fen("500.00"))
    assert stent.fulamt_ownpay_fen == fen("9000.00")
    assert (result.fulamt_ownpay_amt, result.overlmt_selfpay, result.preselfpay_amt,
            result.inscp_scp_amt, result.medfee_sumamt) == (
        fen("9000.00"), fen("150.00"), fen("6000.00"), fen("54500.00"), fen("69650.00"))
    assert result.region_class == "local" and result.line == "inpatient"
    assert result.ratio == D("0.70")
    assert result.act_pay_dedc == fen("800.00")
    assert result.hifp_pay == fen("37590.00")
    assert result.hifmi_pay == fen("4491.50")
    assert result.maf_pay == fen("8482.95")
    assert result.fund_pay_sumamt == fen("50564.45")
    assert result.psn_part_amt == result.psn_cash_pay == fen("19085.55")
    codes = {line.fund_pay_type: line.amount_fen for line in result.fund_lines}
    assert codes == {"390100": fen("37590.00"), "390200": fen("4491.50"),
                     "610100": fen("8482.95")}
    assert result.deltas["ci:base"] == fen("16910.00")
    assert result.deltas["maf:dibao:dedc"] == fen("300.00")
    assert "ci:paid" not in result.caps  # tilt removes the cap
    texts = " ".join(step.text for step in result.explanation)
    assert "起付线 800.00 元" in texts and "37590.00" in texts


def test_b_retiree_second_admission_cap_then_large_amount():
    ctx = context(employee("retired", balance="1200.00"), POLICY_EMPLOYEE,
                  acc={"admissions:inpatient": 1, "fund:group:main": fen("35000.00")})
    result = settle(bill([item("SURG", "1", "40000.00")], acct_used_flag=True), ctx)
    assert result.preselfpay_amt == fen("4000.00")
    assert result.inscp_scp_amt == fen("36000.00")
    assert result.ratio == D("0.75")
    assert result.act_pay_dedc == fen("400.00")
    assert result.hifp_pay == fen("15000.00")
    assert result.hifob_pay == fen("12480.00")
    assert result.fund_pay_sumamt == fen("27480.00")
    assert result.psn_part_amt == fen("12520.00")
    assert result.acct_pay == fen("1200.00")
    assert result.psn_cash_pay == fen("11320.00")
    pooled = result.fund_lines[0]
    assert (pooled.fund_pay_type, pooled.cap_left_fen) == ("310100", fen("15000.00"))
    large = result.fund_lines[1]
    assert (large.fund_pay_type, large.inscp_fen) == ("330100", fen("15600.00"))
    assert result.fund_lines[-1].fund_pay_type == "310200"
    assert result.caps["fund:group:main"] == fen("50000.00")
    assert result.caps["acct:used"] == fen("1200.00")


def test_c_long_term_filing_dialysis_monthly_cap_out_of_province():
    paid_in_may = fen("4860.00")
    ctx = context(resident(chronic=[qualified("M07803")]), POLICY_RESIDENT,
                  filing="long_term", catalogue=CAT_XJ, treatment=POOL_XJ,
                  acc={"fund:month:chronic:M07803:2026-05": paid_in_may,
                       "fund:group:main": paid_in_may})
    result = settle(bill([item("DIAL", "6", "450.00")], med_type="14", hospital=HXJ3,
                         disease_code="M07803", visit_date=dt.date(2026, 5, 20)), ctx)
    assert result.inscp_scp_amt == fen("2700.00")
    assert result.region_class == "inter_province" and result.filing_group == "long_term"
    assert result.ratio == D("0.90")
    assert result.act_pay_dedc == 0
    assert result.hifp_pay == fen("1140.00")
    assert result.fund_lines[0].cap_left_fen == fen("1140.00")
    assert result.hifmi_pay == 0
    assert result.psn_cash_pay == fen("1560.00")
    assert result.caps["fund:month:chronic:M07803:2026-05"] == fen("6000.00")


def test_d_employee_outpatient_deductible_and_account():
    ctx = context(employee(balance="50.00"), POLICY_EMPLOYEE,
                  acc={"dedc:outpatient": fen("200.00")})
    result = settle(bill([item("DRUG", "28", "12.50"), item("STENT", "1", "40.00")],
                         med_type="11", hospital=HSX1, acct_used_flag=True), ctx)
    drug = result.items[0]
    assert (drug.preselfpay_fen, drug.inscp_fen) == (fen("17.50"), fen("332.50"))
    assert result.fulamt_ownpay_amt == fen("40.00")
    assert result.medfee_sumamt == fen("390.00")
    assert result.act_pay_dedc == fen("100.00")
    assert result.hifp_pay == fen("174.38")
    assert result.hifob_pay == result.hifmi_pay == 0
    assert result.psn_part_amt == fen("215.62")
    assert result.acct_pay == fen("50.00")
    assert result.psn_cash_pay == fen("165.62")
    assert result.deltas["dedc:outpatient"] == fen("100.00")
    assert result.caps["dedc:outpatient"] == fen("300.00")
