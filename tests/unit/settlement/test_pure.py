"""Pure parts of the settlement service: ledger construction, result codec, netting, caps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.engine import InvariantViolated
from services.engine.model import ExplainStep, FundLine, ItemResult, SettlementResult
from services.settlement.clearing import net_positions
from services.settlement.codec import result_from_json, result_to_json
from services.settlement.domain import apply_deltas
from services.settlement.ledger import entries_for


def _result(**kw) -> SettlementResult:
    base = dict(
        line="inpatient", region_class="local", filing_group=None, ratio=Decimal("0.70"), medfee_sumamt=1000,
        fulamt_ownpay_amt=0, overlmt_selfpay=0, preselfpay_amt=0, inscp_scp_amt=1000, act_pay_dedc=100,
        hifp_pay=630, cvlserv_pay=0, hifes_pay=0, hifmi_pay=0, hifob_pay=0, maf_pay=0, oth_pay=0,
        fund_pay_sumamt=630, psn_part_amt=370, hosp_part_amt=0, acct_pay=100, psn_cash_pay=270,
        items=(ItemResult("1", "DIAL", 1000, Decimal("2.5"), 400, None, Decimal("0"), 0, 0, 0, 1000, "01", True),),
        fund_lines=(FundLine("310100", "统筹", 900, 5000, 630), FundLine("310200", "账户", 370, 100, 100)),
        deltas={"fund:group:main": 630, "acct:used": 100}, caps={"fund:group:main": 5000, "acct:used": 100},
        explanation=(ExplainStep("hifp", "Basic pooled fund", "统筹基金"),))
    base.update(kw)
    return SettlementResult(**base)


def test_local_ledger_is_balanced_fund_to_receivable():
    entries = entries_for(_result().fund_lines, insured_pool="P1", treatment_pool="P1", hospital="H1")
    assert sum(e.amount_fen for e in entries) == 0
    assert [(e.account, e.amount_fen, e.leg) for e in entries] == [
        ("fund:P1:310100", 630, "pay"), ("receivable:H1", -630, "pay"),
        ("acct:P1", 100, "pay"), ("receivable:H1", -100, "pay")]


def test_cross_region_fund_and_personal_account_go_through_the_treatment_pool_account():
    """DOMAIN.md §6: personal-account payments made outside the insured pool are cleared too, so
    the treatment pool advances them like fund payments (before: acct → receivable directly,
    never advanced, so no clearing statement had them)."""
    entries = entries_for(_result().fund_lines, insured_pool="P1", treatment_pool="P2", hospital="H2")
    assert sum(e.amount_fen for e in entries) == 0
    assert [(e.account, e.amount_fen, e.leg) for e in entries] == [
        ("fund:P1:310100", 630, "advance"), ("clearing:P2", -630, "advance"),
        ("clearing:P2", 630, "pay"), ("receivable:H2", -630, "pay"),
        ("acct:P1", 100, "advance"), ("clearing:P2", -100, "advance"),
        ("clearing:P2", 100, "pay"), ("receivable:H2", -100, "pay")]


def test_codec_round_trip_is_exact():
    r = _result()
    assert result_from_json(result_to_json(r)) == r


def test_net_positions_sum_to_zero():
    positions = net_positions([("A", "B", 2, 742_000), ("B", "C", 1, 1_316_000), ("C", "A", 1, 266_000)])
    assert positions == [("A", 266_000, 742_000, -476_000), ("B", 742_000, 1_316_000, -574_000),
                         ("C", 1_316_000, 266_000, 1_050_000)]
    assert sum(p[3] for p in positions) == 0


def test_apply_deltas_records_caps_and_refuses_to_exceed_one():
    data, caps = apply_deltas({"fund:group:main": 4000}, {}, _result(deltas={"fund:group:main": 1000}))
    assert data["fund:group:main"] == 5000 and caps["fund:group:main"] == 5000
    with pytest.raises(InvariantViolated):
        apply_deltas({"fund:group:main": 4500}, {}, _result(deltas={"fund:group:main": 630}))


def test_parse_time_accepts_both_his_formats_and_names_the_field_otherwise():
    import datetime as dt

    from services.common.grpcutil import Refusal
    from services.settlement.domain import parse_time

    assert parse_time("2026-05-10 09:00:00", "begntime") == dt.datetime(2026, 5, 10, 9)
    assert parse_time(" 2026-05-10 ", "begntime") == dt.datetime(2026, 5, 10)
    with pytest.raises(Refusal) as e:
        parse_time("2026/05/10 09:00", "endtime")
    assert (e.value.outcome, e.value.field) == ("BAD_TIME", "endtime") and "2026/05/10 09:00" in e.value.message


def test_yuan_shows_two_decimals_and_the_sign():
    from services.settlement.domain import yuan

    assert [yuan(x) for x in (0, 5, 100, 294_000, -47_500, -1)] == ["0.00", "0.05", "1.00", "2940.00", "-475.00", "-0.01"]


def test_clearing_month_is_yyyymm_and_each_month_has_its_own_lock():
    from services.common.grpcutil import Refusal
    from services.settlement.clearing import check_month
    from services.settlement.repository import clearing_lock_key

    assert check_month("202605") == "202605"
    for bad in ("2026-05", "202613", "202600", "20265", ""):
        with pytest.raises(Refusal) as e:
            check_month(bad)
        assert (e.value.outcome, e.value.field) == ("BAD_MONTH", "setlym")
    assert clearing_lock_key("202605") != clearing_lock_key("202606")


def test_account_balance_is_the_recorded_credit_minus_what_was_used():
    from services.settlement.domain import account_balance

    assert account_balance({"acct:used": 47_500}, {"acct:used": 100_000}, 5) == 52_500
    assert account_balance({}, {}, 100_000) == 100_000  # no settlement yet: the snapshot's balance
    assert account_balance({}, {}, None) == 0


def test_digest_is_deterministic_and_changes_with_the_body():
    from medsettle.common.v1 import common_pb2
    from medsettle.settlement.v1 import settlement_pb2 as pb
    from services.settlement.server import digest_of

    a = pb.SettleRequest(caller=common_pb2.Caller(fixmedins_code="H1", msgid="M1"), mdtrt_id="V", medfee_sumamt_fen=1)
    b = pb.SettleRequest()
    b.CopyFrom(a)
    assert digest_of(a) == digest_of(b)
    b.acct_used_flag = True
    assert digest_of(a) != digest_of(b)
