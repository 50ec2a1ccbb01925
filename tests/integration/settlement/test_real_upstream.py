"""Settlement against the REAL eligibility and filing servicers (real_env: grpc.aio servers in
this process, PostgreSQL, Redis): what a person's enrollment, filings and chronic
qualifications say is what the settlement sees, with no stale answer after a change.

Reference data: reference.upstream_reference_document() (pools 940100 and 950100 in the
fictitious provinces 94 and 95; policies as in WORKED_EXAMPLES.md).
"""

from __future__ import annotations

import grpc
import pytest

from medsettle.common.v1 import common_pb2
from medsettle.eligibility.v1 import eligibility_pb2
from medsettle.filing.v1 import filing_pb2
from medsettle.settlement.v1 import settlement_pb2 as pb
from tests.dates import THIS_YEAR, day, month

from .helpers import accumulators, fee, open_visit, outcome, settle_request
from .reference import H_R3, H_S3, POOL_R, POOL_S

pytestmark = pytest.mark.integration


async def _count_settlements(db_pool, psn: str) -> int:
    async with db_pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM settlement.settlements WHERE psn_no = $1", psn)


async def test_local_employee_outpatient_uses_the_account_balance_from_eligibility(real_env, uid):
    """Employee, outpatient, level-3 hospital in the person's own pool: deductible 300.00,
    ratio 65%, account balance 1000.00 from the eligibility store. Bill 1000.00 →
    hifp = (1000 − 300) × 0.65 = 455.00; patient 545.00, all of it from the account."""
    env = real_env
    psn = await env.person(f"RL{uid}", pool=POOL_R, insutype="310", balance_fen=100_000)
    v = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, insutype="310", kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 100_000)])
    assert v.insured_pool == POOL_R
    r = await env.settlement.Settle(settle_request(H_R3, v, 100_000, acct=True))
    s = r.setlinfo
    assert (s.region_class, s.filing_group, s.pool_prop_selfpay, s.psn_type) == ("local", "", "0.65", "employee")
    assert (s.act_pay_dedc_fen, s.hifp_pay_fen, s.fund_pay_sumamt_fen) == (30_000, 45_500, 45_500)
    assert (s.psn_part_amt_fen, s.acct_pay_fen, s.psn_cash_pay_fen) == (54_500, 54_500, 0)
    assert s.balc_fen == 45_500
    assert {d.fund_pay_type: d.fund_payamt_fen for d in r.setldetail}["310100"] == 45_500

    acc, resp = await accumulators(env.settlement, psn, "310")
    assert acc == {"dedc:outpatient": 30_000, "fund:line:outpatient": 45_500, "acct:used": 54_500}
    assert resp.account_balance_fen == 45_500


async def test_inter_province_needs_a_filing_and_a_retro_filing_before_settle_is_honoured(real_env, uid):
    """Resident of pool 940100 admitted at a level-3 hospital in province 95 with no filing:
    refused NOT_FILED with how to file, nothing booked. The person then files online (a
    temporary filing, through the real filing service) and the same visit settles at once:
    deductible out_of_province 1200.00, ratio 70% − 20 points (temporary) = 50%:
    (10000 − 1200) × 0.50 = 4400.00."""
    env = real_env
    psn = await env.person(f"RX{uid}", pool=POOL_R)
    v = await open_visit(env.settlement, hospital=H_S3, psn_no=psn, fees=[fee("1", "DIAL", "1", 1_000_000)])
    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_S3, v, 1_000_000))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert outcome(e.value)[0] == "NOT_FILED"
    msg = e.value.details()
    assert "2501" in msg and "在线备案" in msg and "file online" in msg.lower(), msg
    assert "950102" in msg and day("05-10") in msg
    assert await _count_settlements(env.db_pool, psn) == 0
    assert (await accumulators(env.settlement, psn))[0] == {}

    # 补办: the filing is created after admission, before the settlement (online, no caller).
    filing = await env.filing.CreateFiling(filing_pb2.CreateFilingRequest(
        filing=filing_pb2.Filing(psn_no=psn, insutype="390", type="temporary", destination="95",
                                 begin=day("05-01"), end=day("12-31")), today=day("05-12")))
    assert (filing.group, filing.status, filing.insured_pool) == ("temporary", "active", POOL_R)

    r = await env.settlement.Settle(settle_request(H_S3, v, 1_000_000))
    s = r.setlinfo
    assert (s.region_class, s.filing_group, s.pool_prop_selfpay) == ("inter_province", "temporary", "0.50")
    assert (s.act_pay_dedc_fen, s.hifp_pay_fen, s.fund_pay_sumamt_fen, s.psn_part_amt_fen) == \
        (120_000, 440_000, 440_000, 560_000)
    assert s.clr_optins == POOL_R
    ratio_step = {x.code: x.text for x in r.explanation}["ratio"]
    assert "-20%" in ratio_step or "−20%" in ratio_step, ratio_step
    async with env.db_pool.acquire() as conn:
        legs = await conn.fetch("SELECT account, amount_fen, leg FROM settlement.ledger_entries WHERE setl_id = $1 "
                                "ORDER BY entry_no", s.setl_id)
    # Advanced by the treatment pool, owed to it by the insured pool (cleared monthly).
    assert (f"fund:{POOL_R}:390100", 440_000, "advance") in [tuple(x) for x in legs]
    assert (f"clearing:{POOL_S}", -440_000, "advance") in [tuple(x) for x in legs]
    assert sum(x["amount_fen"] for x in legs) == 0


async def _benefit(env, psn: str, hospital: str, med_type: str, dise_codg: str = "") -> list[tuple[str, str, str]]:
    r = await env.eligibility.CheckBenefit(eligibility_pb2.CheckBenefitRequest(
        psn_no=psn, insutype="390", fixmedins_code=hospital, med_type=med_type, begntime=day("05-10 09:00:00"),
        dise_codg=dise_codg))
    return [(t.fund_pay_type, t.trt_enjymnt_flag, t.trt_chk_rslt) for t in r.trtinfo]


async def test_2001_says_what_2207_then_settles_filing_and_line_funds(real_env, uid):
    """DOMAIN.md §6a: 2001 applies the settlement's eligibility, filing and line rules (the real
    eligibility servicer asks the real filing servicer, as settlement does). Before: 2001 said
    "may receive benefits" (390100 flag 1) for an inter-province admission with no filing that
    2207 refused NOT_FILED, and listed critical illness (390200) for an ordinary outpatient visit."""
    env = real_env
    psn = await env.person(f"RB{uid}", pool=POOL_R)
    rows = await _benefit(env, psn, H_S3, "21")
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "0")], rows
    assert "NOT_FILED" in rows[0][2] and "2501" in rows[0][2]
    v = await open_visit(env.settlement, hospital=H_S3, psn_no=psn, fees=[fee("1", "DIAL", "1", 1_000_000)])
    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_S3, v, 1_000_000))
    assert outcome(e.value)[0] == "NOT_FILED"

    await env.filing.CreateFiling(filing_pb2.CreateFilingRequest(
        filing=filing_pb2.Filing(psn_no=psn, insutype="390", type="temporary", destination="95",
                                 begin=day("05-01"), end=day("12-31")), today=day("05-12")))
    rows = await _benefit(env, psn, H_S3, "21")
    # The inpatient line: pooled fund at 70% − 20 points, and critical illness (second tier).
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "1"), ("390200", "1")], rows
    assert "inpatient" in rows[0][2] and "0.50" in rows[0][2]
    s = (await env.settlement.Settle(settle_request(H_S3, v, 1_000_000))).setlinfo
    assert (s.filing_group, s.pool_prop_selfpay) == ("temporary", "0.50")

    # Ordinary outpatient at home: the pooled fund only; no second tier on the outpatient line.
    rows = await _benefit(env, psn, H_R3, "11")
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "1")], rows
    # Emergency rescue needs no filing (deemed filed), and the line is outpatient.
    other = await env.person(f"RE{uid}", pool=POOL_R)
    rows = await _benefit(env, other, H_S3, "13")
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "1")], rows
    # A chronic line needs the qualification, as settlement does.
    rows = await _benefit(env, other, H_R3, "14", "M07803")
    assert [(code, flag) for code, flag, _ in rows] == [("390100", "0")] and "NO_CHRONIC_QUALIFICATION" in rows[0][2]


async def test_chronic_visit_settles_on_the_qualification_filed_through_2503(real_env, uid):
    """Resident, chronic line M07803 (dialysis: no deductible, 90%, monthly cap 6000.00), local
    level-3 hospital. Refused before the 2503 filing; after FileChronic on the real filing
    service (which grants the qualification at the real eligibility service and invalidates
    its cache) the next settlement of the same visit uses it: 3000.00 → 2700.00."""
    env = real_env
    psn = await env.person(f"RC{uid}", pool=POOL_R)
    v = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, kind="outpatient", med_type="14",
                         dise_codg="M07803", fees=[fee("1", "DIAL", "1", 300_000)])
    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_R3, v, 300_000))
    assert outcome(e.value)[0] == "NO_CHRONIC_QUALIFICATION"
    assert "M07803" in e.value.details()
    assert await env.cached(psn), "the eligibility cache is warm: a missed invalidation would show"

    chronic = await env.filing.FileChronic(filing_pb2.FileChronicRequest(
        caller=common_pb2.Caller(fixmedins_code=H_R3, msgid=f"{H_R3}C{uid}", infno="2503"), psn_no=psn,
        insutype="390", opsp_dise_code="M07803", opsp_dise_name="血液透析", begndate=day("01-01")))
    assert chronic.status == "active" and chronic.ide_fixmedins_no == H_R3
    snap = await env.eligibility.GetSnapshot(eligibility_pb2.GetSnapshotRequest(psn_no=psn, insutype="390",
                                                                                on_date=day("05-10")))
    assert [c.code for c in snap.chronic] == ["M07803"]

    r = await env.settlement.Settle(settle_request(H_R3, v, 300_000))
    s = r.setlinfo
    assert (s.med_type, s.pool_prop_selfpay, s.act_pay_dedc_fen, s.hifp_pay_fen, s.psn_part_amt_fen) == \
        ("14", "0.90", 0, 270_000, 30_000)
    acc, _ = await accumulators(env.settlement, psn)
    assert acc["fund:group:main"] == 270_000
    assert acc[f"fund:month:chronic:M07803:{month(5)}"] == 270_000


async def test_an_enrollment_lapsed_through_terminate_enrollment_is_refused_at_the_next_settlement(real_env, uid):
    """The first settlement caches the person's snapshot (Redis); TerminateEnrollment on the real
    eligibility service then ends the enrollment on 31 May. A June visit, registered while
    the person was still enrolled, is refused at settlement: the settlement does not see the
    stale cached status."""
    env = real_env
    psn = await env.person(f"RT{uid}", pool=POOL_R)
    first = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, fees=[fee("1", "DIAL", "1", 200_000)])
    await env.settlement.Settle(settle_request(H_R3, first, 200_000))
    june = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, begntime=day("06-10 09:00:00"),
                            fees=[fee("1", "DIAL", "1", 200_000)])
    before, _ = await accumulators(env.settlement, psn)
    assert await env.cached(psn), "the eligibility cache is warm: a missed invalidation would show"

    ended = await env.eligibility.TerminateEnrollment(eligibility_pb2.TerminateEnrollmentRequest(
        psn_no=psn, pool=POOL_R, insutype="390", year=THIS_YEAR, end_date=day("05-31"), status="lapsed"))
    assert ended.status == "lapsed"

    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_R3, june, 200_000))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert outcome(e.value) == ("LAPSED", "psn_no"), e.value.details()
    assert await _count_settlements(env.db_pool, psn) == 1
    assert (await accumulators(env.settlement, psn))[0] == before
    # The May visit settled before the lapse is untouched and still queryable.
    got = await env.settlement.GetSettlement(pb.GetSettlementRequest(fixmedins_code=H_R3, mdtrt_id=first.mdtrt_id))
    assert got.setlinfo.status == "settled"
