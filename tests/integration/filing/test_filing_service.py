"""The filing service over gRPC against real PostgreSQL and the real eligibility service.

Demo pools used: 330600 绍兴 (city), 43CZT 长株潭 (union), 650000 新疆 (region-level, 390) with
650100 乌鲁木齐 (city, 310), 450100 南宁 (390 policy requires intra-province filing). Every test
makes its own persons (unique psn_no) through the real reference loader, and its own msgids.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from medsettle.common.v1 import common_pb2
from medsettle.eligibility.v1 import eligibility_pb2
from medsettle.filing.v1 import filing_pb2 as pb
from services.common.grpcutil import outcome_of
from tests.dates import THIS_YEAR, day

from .conftest import load_persons, person

pytestmark = pytest.mark.integration

HOSP_SX = "H33060200001"    # 绍兴市人民医院
HOSP_OTHER = "H33060200003"  # another Shaoxing hospital
TODAY = day("05-02")


def caller(msgid: str, code: str = HOSP_SX, infno: str = "2501") -> common_pb2.Caller:
    return common_pb2.Caller(fixmedins_code=code, msgid=msgid, infno=infno)


def msgid(uid: str, n: int | str) -> str:
    return f"{uid}{n}".ljust(30, "0")[:30]


async def refusal(awaitable):
    """(status code, outcome, field, message) of a call that must fail."""
    with pytest.raises(grpc.RpcError) as e:
        await awaitable
    outcome, field = outcome_of(e.value)
    return e.value.code(), outcome, field, e.value.details()


def filing(psn_no, type_="referral", destination="430100", begin=day("03-01"), end=day("08-31"),
           insutype="390", insured_pool="330600", **kw) -> pb.Filing:
    return pb.Filing(psn_no=psn_no, insutype=insutype, type=type_, destination=destination, begin=begin,
                     end=end, insured_pool=insured_pool, **kw)


async def create(h, psn_no, *, msg="", code=HOSP_SX, today=TODAY, **kw) -> pb.Filing:
    c = caller(msg, code) if msg else common_pb2.Caller()
    return await h.filing.CreateFiling(pb.CreateFilingRequest(caller=c, filing=filing(psn_no, **kw), today=today))


async def resolve(h, psn_no, admdvs, visit=day("05-01"), insutype="390", pool="330600", emergency=False):
    return await h.filing.ResolveFiling(pb.ResolveFilingRequest(
        psn_no=psn_no, insutype=insutype, insured_pool=pool, hospital_admdvs=admdvs, visit_date=visit,
        emergency=emergency))


@pytest.fixture
async def sx(db_pool, uid):
    """A fresh Shaoxing resident (390) with no filing."""
    psn_no = f"FS{uid}"
    await load_persons(db_pool, [person(psn_no, "330600", "390")])
    return psn_no


# ----------------------------------------------------------------------------- each type, each rule


@pytest.mark.parametrize("type_, group, end", [
    ("long_term_residence", "long_term", ""),
    ("stationed_work", "long_term", ""), ("referral", "referral", day("08-31")), ("temporary", "temporary", day("08-31")),
])
async def test_each_filing_type_is_created_in_its_group_and_resolves(harness, sx, uid, type_, group, end):
    f = await create(harness, sx, msg=msgid(uid, 1), type_=type_, destination="43", end=end)
    assert (f.type, f.group, f.status, f.source, f.fixmedins_code) == (type_, group, "active", "his", HOSP_SX)
    assert f.end == end and f.insured_pool == "330600" and f.filing_id
    r = await resolve(harness, sx, "430102")
    assert (r.region_class, r.filed, r.filing_group, r.filing_id) == ("inter_province", True, group, f.filing_id)
    listed = await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=sx))
    assert [x.filing_id for x in listed.filings] == [f.filing_id]


async def test_refusals_name_the_field_in_chinese_and_english(harness, sx, uid):
    cases = [
        (dict(type_="holiday"), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_FILING_TYPE", "filing.type"),
        (dict(destination="4301"), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DESTINATION", "filing.destination"),
        (dict(destination="970000"), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DESTINATION", "filing.destination"),
        (dict(destination="330600"), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DESTINATION", "filing.destination"),
        (dict(end=day("02-01")), grpc.StatusCode.INVALID_ARGUMENT, "END_BEFORE_BEGIN", "filing.end"),
        (dict(end=day("06-30")), grpc.StatusCode.INVALID_ARGUMENT, "FILING_TOO_SHORT", "filing.end"),
        (dict(begin=day("02-30")), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DATE", "filing.begin"),
        (dict(insured_pool="NOPE"), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_POOL", "filing.insured_pool"),
    ]
    for i, (kw, code, outcome, field) in enumerate(cases):
        got = await refusal(create(harness, sx, msg=msgid(uid, f"r{i}"), **kw))
        assert got[:3] == (code, outcome, field), (kw, got)
        assert " / " in got[3] and any("\u4e00" <= ch <= "\u9fff" for ch in got[3]), got[3]
    # Nothing of it was stored.
    assert not (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=sx, include_inactive=True))).filings


async def test_temporary_filing_of_exactly_the_minimum_is_accepted(harness, sx, uid):
    # The demo policy keeps the default 180 days: 1 March..27 August counts 180 days.
    f = await create(harness, sx, msg=msgid(uid, 1), type_="temporary", end=day("08-27"))
    assert f.group == "temporary"


async def test_retired_relocated_is_for_retirees_only(harness, db_pool, sx, uid):
    # DOMAIN §3: 异地安置退休 needs a retiree; a resident (sx) is refused, nothing is stored.
    code, outcome, field, message = await refusal(
        create(harness, sx, msg=msgid(uid, 1), type_="retired_relocated", destination="43", end=""))
    assert (code, outcome, field) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_RETIRED", "filing.type")
    assert "退休" in message and "resident" in message
    assert (await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=sx, include_inactive=True))).filings == []
    retiree = f"FR{uid}"
    await load_persons(db_pool, [person(retiree, "330600", "310", psn_type="retired")])
    f = await create(harness, retiree, msg=msgid(uid, 2), type_="retired_relocated", destination="43", end="",
                     insutype="310")
    assert (f.type, f.group, f.status) == ("retired_relocated", "long_term", "active")


async def test_second_active_long_term_filing_is_refused(harness, sx, uid):
    first = await create(harness, sx, msg=msgid(uid, 1), type_="long_term_residence", destination="43", end="")
    code, outcome, field, message = await refusal(
        create(harness, sx, msg=msgid(uid, 2), type_="stationed_work", destination="45", end=""))
    assert (code, outcome, field) == (grpc.StatusCode.ALREADY_EXISTS, "LONG_TERM_EXISTS", "filing.type")
    assert first.filing_id in message
    # A long-term filing for the other insurance type is another matter.


async def test_racing_long_term_creates_leave_exactly_one(harness, sx, uid):
    results = await asyncio.gather(
        *(create(harness, sx, msg=msgid(uid, n), type_="long_term_residence", destination="43", end="")
          for n in range(4)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, pb.Filing)]
    refused = [r for r in results if isinstance(r, grpc.RpcError)]
    assert len(ok) == 1 and len(refused) == 3
    assert all(outcome_of(r)[0] == "LONG_TERM_EXISTS" for r in refused)


async def test_long_term_change_within_six_months_is_refused_then_allowed(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1), type_="long_term_residence", destination="43", end="",
                     begin=day("01-10"), today=day("01-10"))
    code, outcome, field, message = await refusal(harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 2)), filing_id=f.filing_id, destination="45", today=day("07-09"))))
    assert (code, outcome, field) == (grpc.StatusCode.FAILED_PRECONDITION, "CHANGE_TOO_SOON", "filing_id")
    assert day("07-10") in message
    changed = await harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 3)), filing_id=f.filing_id, destination="45", today=day("07-10")))
    assert (changed.destination, changed.group, changed.status) == ("45", "long_term", "active")
    assert changed.filing_id != f.filing_id
    everything = {x.filing_id: x for x in (await harness.filing.ListFilings(
        pb.ListFilingsRequest(psn_no=sx, include_inactive=True))).filings}
    assert everything[f.filing_id].status == "superseded" and everything[changed.filing_id].status == "active"
    # Now Nanning is covered, Changsha no longer.
    assert (await resolve(harness, sx, "450103", visit=day("08-01"))).filing_id == changed.filing_id
    assert not (await resolve(harness, sx, "430102", visit=day("08-01"))).filed
    # The new filing restarts the six months.
    got = await refusal(harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 4)), filing_id=changed.filing_id, destination="43", today=day("08-01"))))
    assert got[1] == "CHANGE_TOO_SOON"
    got = await refusal(harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 5)), filing_id=f.filing_id, destination="43", today=day("09-01"))))
    assert got[1] == "FILING_NOT_ACTIVE"


async def test_referral_can_be_extended_any_time(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1))
    longer = await harness.filing.ChangeFiling(pb.ChangeFilingRequest(
        caller=caller(msgid(uid, 2)), filing_id=f.filing_id, end=day("12-31"), today=day("03-02")))
    assert (longer.end, longer.begin, longer.destination) == (day("12-31"), day("03-01"), "430100")
    assert (await resolve(harness, sx, "430102", visit=day("11-01"))).filing_id == longer.filing_id


# ----------------------------------------------------------------------------- overlap and precedence


async def test_overlapping_filings_long_term_before_referral_before_temporary(harness, sx, uid):
    t = await create(harness, sx, msg=msgid(uid, 1), type_="temporary", destination="43")
    r = await create(harness, sx, msg=msgid(uid, 2), type_="referral", destination="430100")
    assert (await resolve(harness, sx, "430102")).filing_id == r.filing_id     # referral beats temporary
    assert (await resolve(harness, sx, "430202")).filing_id == t.filing_id     # only the province filing covers 株洲
    lt = await create(harness, sx, msg=msgid(uid, 3), type_="stationed_work", destination="430102", end="")
    assert (await resolve(harness, sx, "430102")).filing_id == lt.filing_id    # long-term beats both
    assert (await resolve(harness, sx, "430100")).filing_id == r.filing_id
    # Outside the referral's dates only the temporary one remains (it ends the same day here).
    assert (await resolve(harness, sx, "430100", visit=day("02-28"))).filed is False


async def test_active_filing_takes_precedence_over_emergency(harness, sx, uid):
    none = await resolve(harness, sx, "430102", emergency=True)
    assert (none.filed, none.filing_group, none.filing_id) == (True, "emergency", "")
    f = await create(harness, sx, msg=msgid(uid, 1), type_="temporary", destination="43")
    r = await resolve(harness, sx, "430102", emergency=True)
    assert (r.filing_group, r.filing_id) == ("temporary", f.filing_id)


# ----------------------------------------------------------------------------- destinations by pool kind


async def test_city_destination(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1), type_="referral", destination="450100")
    assert (await resolve(harness, sx, "450103")).filing_id == f.filing_id
    assert (await resolve(harness, sx, "450107")).filing_id == f.filing_id
    r = await resolve(harness, sx, "430102")
    assert (r.filed, r.region_class) == (False, "inter_province")
    assert "2501" in r.message and "online" in r.message


async def test_province_destination(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1), type_="temporary", destination="650000")
    for admdvs in ("650102", "650202", "652801"):
        assert (await resolve(harness, sx, admdvs)).filing_id == f.filing_id
    assert not (await resolve(harness, sx, "450103")).filed


async def test_union_pool_needs_no_filing_inside_and_union_cities_are_destinations(harness, db_pool, uid):
    czt = f"FU{uid}"
    await load_persons(db_pool, [person(czt, "43CZT", "390")])
    # 长沙 resident at 株洲/湘潭: one pool, local, no filing.
    for admdvs in ("430202", "430302"):
        r = await resolve(harness, czt, admdvs, pool="43CZT")
        assert (r.region_class, r.filed, r.filing_group) == ("local", True, "")
    # Filing to a city of the own union is refused: no filing is needed there.
    got = await refusal(create(harness, czt, msg=msgid(uid, 1), destination="430200", insured_pool="43CZT"))
    assert got[1:3] == ("BAD_DESTINATION", "filing.destination")
    # From outside, a filing to one union city covers that city only.
    sx = f"FV{uid}"
    await load_persons(db_pool, [person(sx, "330600", "390")])
    f = await create(harness, sx, msg=msgid(uid, 2), destination="430200")
    assert (await resolve(harness, sx, "430202")).filing_id == f.filing_id
    assert not (await resolve(harness, sx, "430102")).filed


async def test_region_level_pool(harness, db_pool, uid):
    xj, urumqi = f"FX{uid}", f"FW{uid}"
    await load_persons(db_pool, [person(xj, "650000", "390"), person(urumqi, "650100", "310")])
    # Resident insurance pooled at region level: Karamay is local for a Xinjiang resident.
    r = await resolve(harness, xj, "650202", pool="650000")
    assert (r.region_class, r.filed) == ("local", True)
    got = await refusal(create(harness, xj, msg=msgid(uid, 1), destination="65", insured_pool="650000"))
    assert got[1] == "BAD_DESTINATION"
    # Employee insurance is city-level: Karamay is intra-province for an Urumqi employee; the
    # 650100 policy does not require filing, so it is filed with no group (intra_province adjust).
    r = await resolve(harness, urumqi, "650202", insutype="310", pool="650100")
    assert (r.region_class, r.filed, r.filing_group) == ("intra_province", True, "")
    f = await create(harness, urumqi, msg=msgid(uid, 2), insutype="310", insured_pool="650100",
                     type_="long_term_residence", destination="650200", end="")
    r = await resolve(harness, urumqi, "650202", insutype="310", pool="650100")
    assert (r.region_class, r.filing_group, r.filing_id) == ("intra_province", "long_term", f.filing_id)


async def test_intra_province_filing_required_by_policy(harness, db_pool, uid):
    nn = f"FN{uid}"
    await load_persons(db_pool, [person(nn, "450100", "390")])
    # 450100's resident policy requires filing inside Guangxi: 柳州 450200 without one is not filed.
    r = await resolve(harness, nn, "450202", pool="450100")
    assert (r.region_class, r.filed) == ("intra_province", False)
    assert (await resolve(harness, nn, "450202", pool="450100", emergency=True)).filing_group == "emergency"
    f = await create(harness, nn, msg=msgid(uid, 1), insured_pool="450100", type_="temporary", destination="450200")
    r = await resolve(harness, nn, "450202", pool="450100")
    assert (r.filed, r.filing_group, r.filing_id) == (True, "temporary", f.filing_id)


async def test_resolve_refuses_bad_input(harness, sx):
    got = await refusal(resolve(harness, sx, "4301"))
    assert got[:3] == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_ADMDVS", "hospital_admdvs")
    got = await refusal(resolve(harness, sx, "430102", pool="NOPE"))
    assert got[:3] == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_POOL", "insured_pool")
    got = await refusal(resolve(harness, sx, "430102", visit=f"{THIS_YEAR}/05/01"))
    assert got[1:3] == ("BAD_DATE", "visit_date")


# ----------------------------------------------------------------------------- retro-filing


async def test_retro_filing_committed_before_resolve_is_seen(harness, sx, uid):
    """补办: the visit was on 20 April without a filing; the filing is made afterwards with a
    begin in the past, before the settlement commits. The settlement service resolves at settle
    time, so every ResolveFiling that starts after CreateFiling returned sees it."""
    before = await resolve(harness, sx, "430102", visit=day("04-20"))
    assert before.filed is False

    async def settle_attempts(n: int):
        return await asyncio.gather(*(resolve(harness, sx, "430102", visit=day("04-20")) for _ in range(n)))

    f, during = await asyncio.gather(
        create(harness, sx, msg=msgid(uid, 1), type_="temporary", destination="43", begin=day("04-01"),
               end=day("10-31"), today=day("04-25")),
        settle_attempts(5))
    # Racing reads see the filing or not, never an error or a half state.
    assert all(r.filed in (True, False) and (r.filing_id in ("", f.filing_id)) for r in during)
    after = await settle_attempts(5)
    assert all((r.filed, r.filing_group, r.filing_id) == (True, "temporary", f.filing_id) for r in after)


# ----------------------------------------------------------------------------- idempotency and ownership


async def test_same_msgid_same_body_returns_the_same_filing(harness, sx, uid):
    m = msgid(uid, 1)
    first = await create(harness, sx, msg=m)
    again = await create(harness, sx, msg=m)
    assert again == first
    racing = await asyncio.gather(*(create(harness, sx, msg=msgid(uid, 2), type_="temporary", destination="45")
                                    for _ in range(4)))
    assert len({r.filing_id for r in racing}) == 1
    listed = await harness.filing.ListFilings(pb.ListFilingsRequest(psn_no=sx, include_inactive=True))
    assert len(listed.filings) == 2
    got = await refusal(create(harness, sx, msg=m, destination="450100"))
    assert got[:3] == (grpc.StatusCode.ALREADY_EXISTS, "MSGID_CONFLICT", "msgid")


async def test_revoke_own_filing_not_another_hospitals(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1))
    got = await refusal(harness.filing.RevokeFiling(pb.RevokeFilingRequest(
        caller=caller(msgid(uid, 2), HOSP_OTHER, "2502"), filing_id=f.filing_id, psn_no=sx)))
    assert got[:3] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_FILING", "filing_id")
    got = await refusal(harness.filing.RevokeFiling(pb.RevokeFilingRequest(
        caller=caller(msgid(uid, 3), HOSP_SX, "2502"), filing_id="F-NO-SUCH", psn_no=sx)))
    assert got[:3] == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_FILING", "filing_id")
    assert (await resolve(harness, sx, "430102")).filed
    before = len(harness.recorder.of("InvalidatePerson", sx))
    revoked = await harness.filing.RevokeFiling(pb.RevokeFilingRequest(
        caller=caller(msgid(uid, 4), HOSP_SX, "2502"), filing_id=f.filing_id, psn_no=sx))
    assert revoked.status == "revoked"
    assert len(harness.recorder.of("InvalidatePerson", sx)) == before + 1
    assert not (await resolve(harness, sx, "430102")).filed
    got = await refusal(harness.filing.RevokeFiling(pb.RevokeFilingRequest(
        caller=caller(msgid(uid, 5), HOSP_SX, "2502"), filing_id=f.filing_id, psn_no=sx)))
    assert got[1] == "FILING_NOT_ACTIVE"


async def test_online_filing_uses_the_insured_pool_from_eligibility(harness, sx):
    f = await harness.filing.CreateFiling(pb.CreateFilingRequest(
        filing=pb.Filing(psn_no=sx, insutype="390", type="temporary", destination="45", begin=day("06-01"),
                         end=day("12-31")), today=TODAY))
    assert (f.source, f.fixmedins_code, f.insured_pool) == ("online", "", "330600")
    assert harness.recorder.of("GetSnapshot", sx)
    # The same rules apply online: too short is refused.
    got = await refusal(harness.filing.CreateFiling(pb.CreateFilingRequest(
        filing=pb.Filing(psn_no=sx, insutype="390", type="temporary", destination="43", begin=day("06-01"),
                         end=day("07-01")), today=TODAY)))
    assert got[1] == "FILING_TOO_SHORT"
    # An online filing is the person's: a hospital may not revoke it, the person may.
    got = await refusal(harness.filing.RevokeFiling(pb.RevokeFilingRequest(
        caller=caller("X" * 30, HOSP_SX, "2502"), filing_id=f.filing_id)))
    assert got[1] == "NOT_YOUR_FILING"
    assert (await harness.filing.RevokeFiling(pb.RevokeFilingRequest(filing_id=f.filing_id))).status == "revoked"


async def test_online_filing_for_unknown_person_is_refused(harness, uid):
    got = await refusal(harness.filing.CreateFiling(pb.CreateFilingRequest(
        filing=pb.Filing(psn_no=f"NOBODY{uid}", insutype="390", type="temporary", destination="45",
                         begin=day("06-01"), end=day("12-31")), today=TODAY)))
    assert got[0] == grpc.StatusCode.NOT_FOUND and got[2] == "psn_no"


# ----------------------------------------------------------------------------- chronic (2503/2504/5301)


async def test_chronic_filing_creates_and_ends_the_eligibility_qualification(harness, sx, uid):
    c = await harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 1), infno="2503"), psn_no=sx, insutype="390", opsp_dise_code="M03900",
        opsp_dise_name="高血压", begndate=day("01-01"), enddate=day("12-31")))
    assert (c.status, c.ide_fixmedins_no, c.begndate) == ("active", HOSP_SX, day("01-01"))
    # The qualification exists at eligibility before we got the reply, and the cache was dropped.
    assert [r.code for r in harness.recorder.of("GrantChronic", sx)] == ["M03900"]
    assert harness.recorder.of("InvalidatePerson", sx)
    quals = await harness.eligibility.ListChronic(eligibility_pb2.ListChronicRequest(psn_no=sx))
    assert any(q.code == "M03900" and q.begin == day("01-01") and q.end == day("12-31") for q in quals.chronic)
    listed = await harness.filing.QueryChronic(pb.QueryChronicRequest(psn_no=sx, insutype="390"))
    assert [x.filing_id for x in listed.filings] == [c.filing_id]
    # Same disease again: refused; same msgid: the same reply, no second grant.
    got = await refusal(harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 2), infno="2503"), psn_no=sx, insutype="390", opsp_dise_code="M03900",
        begndate=day("02-01"))))
    assert got[:3] == (grpc.StatusCode.ALREADY_EXISTS, "CHRONIC_ALREADY_FILED", "opsp_dise_code")
    again = await harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 1), infno="2503"), psn_no=sx, insutype="390", opsp_dise_code="M03900",
        opsp_dise_name="高血压", begndate=day("01-01"), enddate=day("12-31")))
    assert again == c and len(harness.recorder.of("GrantChronic", sx)) == 1
    # 2504 from another hospital: refused; from the filing hospital: ends the qualification.
    got = await refusal(harness.filing.CancelChronic(pb.CancelChronicRequest(
        caller=caller(msgid(uid, 3), HOSP_OTHER, "2504"), psn_no=sx, filing_id=c.filing_id)))
    assert got[1] == "NOT_YOUR_FILING"
    cancelled = await harness.filing.CancelChronic(pb.CancelChronicRequest(
        caller=caller(msgid(uid, 4), infno="2504"), psn_no=sx, opsp_dise_code="M03900"))
    assert (cancelled.filing_id, cancelled.status) == (c.filing_id, "cancelled")
    assert [r.code for r in harness.recorder.of("RevokeChronic", sx)] == ["M03900"]
    quals = await harness.eligibility.ListChronic(eligibility_pb2.ListChronicRequest(psn_no=sx))
    assert all(q.end and q.end < day("12-31") for q in quals.chronic if q.code == "M03900")
    assert not (await harness.filing.QueryChronic(pb.QueryChronicRequest(psn_no=sx))).filings


async def test_chronic_filing_refused_by_eligibility_stores_nothing(harness, uid):
    nobody = f"NOBODY{uid}"
    got = await refusal(harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 1), infno="2503"), psn_no=nobody, insutype="390", opsp_dise_code="M01600",
        begndate=day("01-01"))))
    assert got[0] == grpc.StatusCode.NOT_FOUND
    assert not (await harness.filing.QueryChronic(pb.QueryChronicRequest(psn_no=nobody))).filings
    got = await refusal(harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 2), infno="2503"), psn_no=nobody, insutype="390", opsp_dise_code="hypertension")))
    assert got[1:3] == ("BAD_DISEASE_CODE", "opsp_dise_code")


# ----------------------------------------------------------------------------- 2601 reversal


async def test_reverse_a_2501_by_msgid(harness, sx, uid):
    f = await create(harness, sx, msg=msgid(uid, 1))
    rev_req = pb.ReverseByMsgidRequest(caller=caller(msgid(uid, 2), infno="2601"), psn_no=sx,
                                       omsgid=msgid(uid, 1), oinfno="2501")
    rev = await harness.filing.ReverseByMsgid(rev_req)
    assert (rev.filing_id, rev.status) == (f.filing_id, "revoked")
    assert await harness.filing.ReverseByMsgid(rev_req) == rev  # a retried 2601: the same reply
    assert not (await resolve(harness, sx, "430102")).filed
    got = await refusal(harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 3), infno="2601"), psn_no=sx, omsgid=msgid(uid, 1))))
    assert got[1] == "ALREADY_REVERSED"
    got = await refusal(harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 4), infno="2601"), psn_no=sx, omsgid=msgid(uid, 2))))
    assert got[1] == "REVERSAL_OF_REVERSAL"
    got = await refusal(harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 5), HOSP_OTHER, "2601"), psn_no=sx, omsgid=msgid(uid, 1))))
    assert got[:3] == (grpc.StatusCode.NOT_FOUND, "ORIGINAL_NOT_FOUND", "omsgid")
    # A 2502 is not undone by msgid (file again instead).
    g = await create(harness, sx, msg=msgid(uid, 6))
    await harness.filing.RevokeFiling(pb.RevokeFilingRequest(caller=caller(msgid(uid, 7), infno="2502"),
                                                             filing_id=g.filing_id))
    got = await refusal(harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 8), infno="2601"), psn_no=sx, omsgid=msgid(uid, 7), oinfno="2502")))
    assert got[:3] == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_REVERSIBLE", "omsgid")


async def test_reverse_a_2503_by_msgid_ends_the_qualification(harness, sx, uid):
    c = await harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, 1), infno="2503"), psn_no=sx, insutype="390", opsp_dise_code="M07803",
        begndate=day("01-01")))
    rev = await harness.filing.ReverseByMsgid(pb.ReverseByMsgidRequest(
        caller=caller(msgid(uid, 2), infno="2601"), psn_no=sx, omsgid=msgid(uid, 1), oinfno="2503"))
    assert (rev.filing_id, rev.status) == (c.filing_id, "cancelled")
    assert [r.code for r in harness.recorder.of("RevokeChronic", sx)] == ["M07803"]
    assert not (await harness.filing.QueryChronic(pb.QueryChronicRequest(psn_no=sx))).filings


async def test_racing_chronic_filings_grant_once(harness, sx, uid):
    results = await asyncio.gather(*(harness.filing.FileChronic(pb.FileChronicRequest(
        caller=caller(msgid(uid, n), infno="2503"), psn_no=sx, insutype="390", opsp_dise_code="M01600",
        begndate=day("01-01"))) for n in range(3)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, pb.ChronicFiling)]
    refused = [outcome_of(r)[0] for r in results if isinstance(r, grpc.RpcError)]
    assert len(ok) == 1 and refused == ["CHRONIC_ALREADY_FILED"] * 2
    assert len(harness.recorder.of("GrantChronic", sx)) == 1
