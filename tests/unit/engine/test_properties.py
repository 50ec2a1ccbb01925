"""Property tests over random policies, catalogues, persons and bills.

- the three identities hold exactly on every settlement and reversal;
- a person's random sequence of settlements and reversals never takes an accumulator over the
  cap the engine stated for it, and reversing everything brings every accumulator back to 0;
- more in-policy spending in a visit never lowers what the funds pay (same person and state);
- the same input gives the same output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.engine import SettlementRefused, reverse, settle
from services.engine.model import (
    AssistanceRule,
    Band,
    Bill,
    Catalogue,
    CatalogueItem,
    ChronicQualification,
    CriticalIllness,
    FeeItem,
    Hospital,
    Identity,
    LinePolicy,
    PersonSnapshot,
    Policy,
    RatioCap,
    SettlementContext,
    SupplementaryPlan,
    Tilt,
)
from services.engine.money import round_half_up

from .fixtures import POOL_SX

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ratios = st.integers(0, 100).map(lambda n: D(n) / 100)
small_ratios = st.integers(-30, 10).map(lambda n: D(n) / 100)
money = st.integers(0, 2_000_000)  # fen, up to 20,000.00
caps = st.one_of(st.none(), st.integers(0, 5_000_000))
GROUPS = ("tekun", "dibao", "fanpin")


@st.composite
def policies(draw, insutype: str) -> Policy:
    level_ratios = {level: draw(ratios) for level in (1, 2, 3)}
    deductible = {str(level): draw(st.integers(0, 200_000)) for level in (1, 2, 3)}
    if draw(st.booleans()):
        deductible["out_of_province"] = draw(st.integers(0, 300_000))
    cap_group = draw(st.sampled_from([None, "main"]))
    lines = {
        "inpatient": LinePolicy("inpatient", level_ratios, deductible_fen=deductible,
                                repeat_factor=draw(st.sampled_from([None, D("0.5"), D("1")])),
                                annual_cap_fen=draw(caps), cap_group=cap_group),
        "outpatient": LinePolicy("outpatient", {level: draw(ratios) for level in (1, 2, 3)},
                                 annual_deductible_fen=draw(st.integers(0, 50_000)),
                                 annual_cap_fen=draw(caps)),
        "chronic:M07803": LinePolicy("chronic:M07803", {level: draw(ratios) for level in (1, 2, 3)},
                                     annual_deductible_fen=draw(st.integers(0, 50_000)),
                                     monthly_cap_fen=draw(caps),
                                     cap_group=draw(st.sampled_from([None, "main"]))),
    }
    if draw(st.booleans()):
        lines["day_surgery"] = LinePolicy("day_surgery", level_ratios,
                                          annual_deductible_fen=draw(st.integers(0, 50_000)))
    bands = tuple(Band(upto, draw(ratios)) for upto in (draw(st.integers(1, 3_000_000)), None))
    ci = None
    if draw(st.booleans()):
        tilt = None
        if draw(st.booleans()):
            tilt = Tilt(("tekun", "dibao"), draw(st.sampled_from([D("0.5"), D("1")])),
                        draw(st.sampled_from([D("0"), D("0.05"), D("0.5")])), draw(caps))
        ci = CriticalIllness(draw(st.integers(0, 3_000_000)), bands, draw(caps), tilt)
    assistance = tuple(AssistanceRule(group, draw(st.integers(0, 50_000)), draw(ratios),
                                      draw(caps))
                       for group in draw(st.permutations(GROUPS))[:draw(st.integers(0, 3))])
    supplementary = tuple(
        SupplementaryPlan(f"plan{n}", draw(st.sampled_from(["370100", "390300"])),
                          draw(st.sampled_from(["inscp_personal", "all_personal"])),
                          draw(st.integers(0, 100_000)), draw(ratios), draw(caps))
        for n in range(draw(st.integers(0, 2))))
    return Policy(
        pool="330600", insutype=insutype, year=2026, version=1, waiting_days=0,
        intra_province_requires_filing=draw(st.booleans()), lines=lines,
        cap_groups={"main": draw(st.integers(0, 5_000_000))},
        retired_bonus=draw(st.sampled_from([D("0"), D("0.05"), D("0.5")])),
        cross_region={name: draw(small_ratios) for name in
                      ("long_term", "referral", "emergency", "temporary", "intra_province")},
        large_amount=draw(st.one_of(st.none(), st.builds(RatioCap, ratios, caps))),
        civil_servant=draw(st.one_of(st.none(), st.builds(RatioCap, ratios, caps))),
        critical_illness=ci, assistance=assistance, supplementary=supplementary)


CODES = ("C1", "C2", "C3", "C4", "C5")


@st.composite
def catalogues(draw) -> Catalogue:
    entries = {}
    for code in CODES:
        cls = draw(st.sampled_from(["01", "02", "03"]))
        entries[code] = CatalogueItem(code, code, "drug", cls, draw(ratios),
                                      draw(st.one_of(st.none(), st.integers(0, 100_000))))
    entries["EXAM"] = CatalogueItem("EXAM", "检查", "service", "01")  # 甲, no price cap
    return Catalogue("330600", entries)


@st.composite
def persons(draw, insutype: str) -> PersonSnapshot:
    psn_type = "resident" if insutype == "390" else draw(st.sampled_from(["employee", "retired"]))
    identities = tuple(Identity(group, dt.date(2026, draw(st.integers(1, 12)), 1), None)
                       for group in draw(st.sets(st.sampled_from(GROUPS))))
    chronic = ((ChronicQualification("M07803", dt.date(2026, 1, 1), None),)
               if draw(st.booleans()) else ())
    return PersonSnapshot("P1", "张三", insutype, psn_type, "330600", identities, chronic,
                          draw(st.integers(0, 500_000)), draw(st.booleans()))


@st.composite
def fee_items(draw, n: int = 0) -> FeeItem:
    code = draw(st.sampled_from(CODES + ("NOPE", "EXAM")))
    cnt = D(draw(st.integers(1, 2000))) / 100
    price = draw(st.integers(0, 300_000))
    return FeeItem(f"{n}", code, cnt, price, round_half_up(cnt * price))


HOSPITALS = tuple(Hospital(f"H{level}", "本地", "330602", level, True) for level in (1, 2, 3)) + (
    Hospital("HXJ", "跨省", "650102", 3, True), Hospital("HZJ", "省内", "330102", 2, True))


@st.composite
def bills(draw) -> Bill:
    med_type = draw(st.sampled_from(["11", "13", "14", "21", "28"]))
    month = draw(st.integers(1, 12))
    return Bill(med_type, dt.date(2026, month, draw(st.integers(1, 28))),
                draw(st.sampled_from(HOSPITALS)),
                tuple(draw(fee_items(n)) for n in range(draw(st.integers(1, 6)))),
                disease_code="M07803" if med_type == "14" else None,
                emergency=draw(st.booleans()), acct_used_flag=draw(st.booleans()))


@st.composite
def scenarios(draw):
    insutype = draw(st.sampled_from(["310", "390"]))
    policy = draw(policies(insutype))
    ctx = SettlementContext(draw(persons(insutype)), POOL_SX, None, policy, draw(catalogues()),
                            draw(st.sampled_from([None, "long_term", "referral", "temporary"])),
                            {})
    return ctx


accumulator_states = st.dictionaries(
    st.sampled_from(["admissions:inpatient", "dedc:outpatient", "fund:group:main",
                     "fund:line:inpatient", "ci:base", "ci:paid", "ob:paid", "acct:used",
                     "fund:month:chronic:M07803:2026-05", "maf:tekun:paid"]),
    st.integers(0, 6_000_000))


def _check(result) -> None:
    r = result
    assert r.medfee_sumamt == (r.fulamt_ownpay_amt + r.overlmt_selfpay + r.preselfpay_amt
                               + r.inscp_scp_amt)
    assert r.fund_pay_sumamt == (r.hifp_pay + r.cvlserv_pay + r.hifes_pay + r.hifmi_pay
                                 + r.hifob_pay + r.maf_pay + r.oth_pay)
    assert r.medfee_sumamt == r.fund_pay_sumamt + r.psn_part_amt + r.hosp_part_amt
    assert r.psn_part_amt == r.acct_pay + r.psn_cash_pay
    assert r.fund_lines[0].amount_fen == r.hifp_pay
    assert sum(line.amount_fen for line in r.fund_lines) == r.fund_pay_sumamt + r.acct_pay


def _try_settle(bill, ctx):
    try:
        return settle(bill, ctx)
    except SettlementRefused:
        return None


@SETTINGS
@given(scenarios(), bills(), accumulator_states)
def test_identities_and_no_negative_share(ctx, bill, acc):
    result = _try_settle(bill, replace(ctx, accumulators=acc))
    if result is None:
        return
    _check(result)
    _check(reverse(result))
    for value in (result.hifp_pay, result.hifob_pay, result.hifmi_pay, result.cvlserv_pay,
                  result.hifes_pay, result.oth_pay, result.maf_pay, result.acct_pay,
                  result.psn_cash_pay, result.act_pay_dedc):
        assert value >= 0
    assert result.fund_pay_sumamt <= result.medfee_sumamt
    assert result.hifp_pay + result.hifob_pay + result.hifmi_pay + result.cvlserv_pay \
        + result.maf_pay <= result.inscp_scp_amt


@SETTINGS
@given(scenarios(), st.lists(st.tuples(bills(), st.integers(0, 9)), min_size=1, max_size=8),
       st.data())
def test_sequences_never_exceed_caps_and_reverse_to_zero(ctx, steps, data):
    acc: dict[str, int] = {}
    live = []

    def apply(result):
        # A payment never takes an accumulator past the cap in force for it; a reversal only gives
        # back. (Caps may differ between settlements of one year — e.g. a critical-illness tilt
        # cap from the day an identity begins — so the check is of each payment against its own.)
        for key, delta in result.deltas.items():
            acc[key] = acc.get(key, 0) + delta
            if result.reversal:
                assert delta <= 0, (key, delta)
            elif key in result.caps and delta > 0:
                assert acc[key] <= result.caps[key], (key, acc[key], result.caps[key])
            assert acc[key] >= 0

    for bill, choice in steps:
        if live and choice < 3:  # reverse an earlier settlement
            apply(reverse(live.pop(data.draw(st.integers(0, len(live) - 1)))))
            continue
        result = _try_settle(bill, replace(ctx, accumulators=dict(acc)))
        if result is not None:
            _check(result)
            apply(result)
            live.append(result)
    while live:
        apply(reverse(live.pop()))
    assert all(value == 0 for value in acc.values()), acc


@SETTINGS
@given(scenarios(), bills(), accumulator_states, st.integers(1, 5_000_000))
def test_more_in_policy_spending_never_lowers_fund_payment(ctx, bill, acc, extra_fen):
    ctx = replace(ctx, accumulators=acc)
    base = _try_settle(bill, ctx)
    if base is None:
        return
    more = replace(bill, items=bill.items + (FeeItem("extra", "EXAM", D(1), extra_fen,
                                                     extra_fen),))
    bigger = settle(more, ctx)
    assert bigger.inscp_scp_amt == base.inscp_scp_amt + extra_fen
    assert bigger.hifp_pay >= base.hifp_pay
    assert bigger.fund_pay_sumamt >= base.fund_pay_sumamt


@SETTINGS
@given(scenarios(), bills(), accumulator_states)
def test_deterministic(ctx, bill, acc):
    ctx = replace(ctx, accumulators=acc)
    first = _try_settle(bill, ctx)
    assert first == _try_settle(bill, ctx)
