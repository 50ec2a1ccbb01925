"""The eligibility service against real PostgreSQL and Redis: enrollment rules through
UpsertEnrollment, duplicate enrollments, the reference loader entry point and its
notification-driven invalidation, lookups by certificate."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from services.common.grpcutil import Refusal, status_code_of
from services.eligibility import rules
from services.eligibility.cache import ChangeListener
from tests.dates import THIS_YEAR, date, day

from .conftest import HOSPITAL, POOL_A, POOL_B, enrollment, new_certno, person_record, store_persons

pytestmark = pytest.mark.integration


async def snap(service, psn_no, day, insutype="390"):
    return await service.snapshot(psn_no=psn_no, insutype=insutype, on_date=day)


async def enroll(service, psn_no, *, kind, paid, pool=POOL_A, insutype="390", create=True):
    certno, birth = new_certno("1")
    return await service.upsert_enrollment(
        psn_no=psn_no, pool=pool, insutype=insutype, year=THIS_YEAR, psn_type="resident" if insutype == "390" else "employee",
        benefit_start="", benefit_end="", status="", paid_date=paid, enrollment_kind=kind,
        certno=certno if create else "", name="新参保", gender="1", birthdate=birth.isoformat())


@pytest.mark.parametrize("kind,paid,expected_start", [
    ("in_period", day("12-20", -1), date(1, 1)),
    ("newborn", day("03-17"), date(3, 1)),
    ("low_income", day("03-17"), date(3, 1)),
    ("switcher", day("03-17"), date(3, 1)),
    ("other", day("03-17"), date(6, 15)),  # + the pool's 90 waiting days (reference policy)
])
async def test_each_enrollment_rule_sets_the_benefit_start(service, uid, kind, paid, expected_start):
    psn = f"R{uid}"
    saved = await enroll(service, psn, kind=kind, paid=paid)
    assert saved.benefit_start == expected_start and saved.benefit_end == date(12, 31)
    before = await snap(service, psn, (expected_start - dt.timedelta(days=1)).isoformat())
    on = await snap(service, psn, expected_start.isoformat())
    assert on.choice.eligible
    if expected_start == date(1, 1):
        assert before.choice.outcome == rules.NOT_ENROLLED  # last year: no enrollment at all
    else:
        assert before.choice.outcome == rules.WAITING_PERIOD
        assert expected_start.isoformat() in before.choice.message


async def test_waiting_days_come_from_the_pools_policy(service, uid):
    # 310 in pool A waits 30 days; 390 in pool B waits 60 (conftest REFERENCE).
    e310 = await enroll(service, f"W{uid}", kind="other", paid=day("03-17"), insutype="310")
    e390 = await enroll(service, f"V{uid}", kind="other", paid=day("03-17"), pool=POOL_B)
    assert e310.benefit_start == date(4, 16) and e390.benefit_start == date(5, 16)


async def test_bad_enrollment_input_names_the_field_and_changes_nothing(service, uid):
    psn = f"B{uid}"
    cases = [
        (dict(pool="NOPE"), "enrollment.pool"),
        (dict(insutype="320"), "enrollment.insutype"),
        (dict(kind="in_period", paid=day("02-01")), "paid_date"),
        (dict(paid=day("13-01")), "paid_date"),
    ]
    for change, field in cases:
        kw = dict(kind="other", paid=day("03-17"), pool=POOL_A, insutype="390")
        kw.update(change)
        with pytest.raises(Refusal) as e:
            await enroll(service, psn, **kw)
        assert status_code_of(e.value) == grpc.StatusCode.INVALID_ARGUMENT and e.value.field == field, (change, e.value.message)
    assert await service.repo.load_person(psn) is None


async def test_duplicate_enrollment_is_flagged_and_the_earliest_is_used(service, db_pool, uid):
    psn = f"D{uid}"
    rec = person_record(psn, enrollments=[enrollment(POOL_B, start=date(3, 1)),
                                          enrollment(POOL_A, start=date(2, 1))])
    assert await store_persons(db_pool, [rec]) == 1
    s = await snap(service, psn, day("05-01"))
    assert s.choice.eligible and s.choice.duplicate and s.choice.enrollment.pool == POOL_A
    assert s.insuplc_admdvs == "990100"
    view = await service.find_person(cert_type="02", cert_no=rec.certno, card_sn="", psn_no="", on_date=day("05-01"))
    assert [(i.enrollment.pool, i.duplicate, i.used) for i in view.insu] == [(POOL_A, True, True), (POOL_B, True, False)]
    # The earlier one ends: the other one (still valid) is used, and the year stays flagged.
    await service.terminate_enrollment(psn_no=psn, pool=POOL_A, insutype="390", year=THIS_YEAR, end_date=day("05-31"),
                                       status="terminated")
    s = await snap(service, psn, day("06-01"))
    assert s.choice.eligible and s.choice.enrollment.pool == POOL_B


async def test_terminate_pause_and_lapse_take_effect_the_next_day(service, db_pool, uid):
    for status, outcome in (("paused", rules.PAUSED), ("lapsed", rules.LAPSED), ("terminated", rules.TERMINATED)):
        psn = f"T{status[0]}{uid}"
        await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
        assert (await snap(service, psn, day("07-01"))).choice.eligible  # cached now
        await service.terminate_enrollment(psn_no=psn, pool=POOL_A, insutype="390", year=THIS_YEAR,
                                           end_date=day("06-30"), status=status)
        assert (await snap(service, psn, day("06-30"))).choice.eligible
        s = await snap(service, psn, day("07-01"))
        assert not s.choice.eligible and s.choice.outcome == outcome


async def test_upsert_persons_is_idempotent_and_its_notification_invalidates(service, db_pool, uid):
    listener = ChangeListener(db_pool, service.cache)
    await listener.start()
    try:
        psn = f"U{uid}"
        rec = person_record(psn, enrollments=[enrollment()],
                            identities=[__import__("services.engine.model", fromlist=["Identity"]).Identity(
                                "tekun", date(1, 1), None)])
        assert await store_persons(db_pool, [rec]) == 1
        assert await store_persons(db_pool, [rec]) == 0  # same persons twice: nothing changes
        assert (await snap(service, psn, day("05-01"))).choice.eligible  # now cached
        changed = rec.__class__(**{**{f: getattr(rec, f) for f in rec.__slots__},
                                   "enrollments": (enrollment(status="lapsed"),)})
        received = listener.received
        assert await store_persons(db_pool, [changed]) == 1
        for _ in range(200):  # NOTIFY is delivered on commit, asynchronously
            if listener.received > received:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        s = await snap(service, psn, day("05-01"))
        assert not s.choice.eligible and s.choice.outcome == rules.LAPSED
    finally:
        await listener.close()


async def test_find_person_by_certificate_types(service, db_pool, uid):
    psn = f"F{uid}"
    rec = person_record(psn, enrollments=[enrollment()], social_card=f"SC{uid}")
    await store_persons(db_pool, [rec])
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE eligibility.persons SET card_sn = 'SN1' WHERE psn_no = $1", psn)
    await service.invalidate_person(psn_no=psn)
    v = await service.find_person(cert_type="02", cert_no=rec.certno, card_sn="", psn_no="", on_date=day("05-01"))
    assert v.person.psn_no == psn and v.insu[0].status_code == "1" and v.insu[0].used
    v = await service.find_person(cert_type="03", cert_no=f"SC{uid}", card_sn="SN1", psn_no="", on_date="")
    assert v.person.psn_no == psn
    with pytest.raises(Refusal) as e:
        await service.find_person(cert_type="03", cert_no=f"SC{uid}", card_sn="WRONG", psn_no="", on_date="")
    assert e.value.field == "card_sn"
    bad = rec.certno[:17] + ("0" if rec.certno[17] != "0" else "1")
    with pytest.raises(Refusal) as e:
        await service.find_person(cert_type="02", cert_no=bad, card_sn="", psn_no="", on_date="")
    assert status_code_of(e.value) == grpc.StatusCode.INVALID_ARGUMENT and e.value.field == "mdtrt_cert_no"
    unknown, _ = new_certno()
    with pytest.raises(Refusal) as e:
        await service.find_person(cert_type="02", cert_no=unknown, card_sn="", psn_no="", on_date="")
    assert status_code_of(e.value) == grpc.StatusCode.NOT_FOUND


async def test_check_benefit_chronic_and_assistance(service, db_pool, uid):
    """2001 applies the settlement's line rules (DOMAIN.md §6a): a chronic line needs the
    qualification on the day (else one row, flag 0, the reason settlement would give); the funds
    listed are those of the line: critical illness (390200) on the chronic line, not on ordinary
    outpatient (before: listed whatever the line); assistance for the group held."""
    from services.engine.model import Identity

    psn = f"C{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()],
                                                identities=[Identity("tekun", date(1, 1), None)])])
    out = await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code=HOSPITAL, med_type="14",
                                      begntime=day("05-01 09:00:00"), dise_codg="M03900")
    assert [(t.fund_pay_type, t.may_enjoy) for t in out] == [("390100", False)]
    assert "2503" in out[0].result and "NO_CHRONIC_QUALIFICATION" in out[0].result
    q = await service.grant_chronic(psn_no=psn, code="M03900", begin=day("04-01"), end="", hospital=HOSPITAL)
    out = await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code=HOSPITAL, med_type="14",
                                      begntime=day("05-01"), dise_codg="M03900")
    assert [(t.fund_pay_type, t.may_enjoy) for t in out] == [("390100", True), ("390200", True), ("610100", True)]
    assert out[0].begin == date(4, 1) and "chronic:M03900" in out[0].result and "tekun" in out[-1].result
    outpatient = await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code=HOSPITAL, med_type="11",
                                             begntime=day("05-01"), dise_codg="")
    assert [(t.fund_pay_type, t.may_enjoy) for t in outpatient] == [("390100", True), ("610100", True)]
    inpatient = await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code=HOSPITAL, med_type="21",
                                            begntime=day("05-01"), dise_codg="")
    assert [(t.fund_pay_type, t.may_enjoy) for t in inpatient] == [("390100", False)]
    assert "LINE_NOT_COVERED" in inpatient[0].result  # the test policy has no inpatient line
    revoked = await service.revoke_chronic(psn_no=psn, code="M03900", end=day("04-30"))
    assert revoked.id == q.id and revoked.end == date(4, 30)
    out = await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code=HOSPITAL, med_type="14",
                                      begntime=day("05-01"), dise_codg="M03900")
    assert not out[0].may_enjoy
    assert len(await service.list_chronic(psn_no=psn)) == 1  # revoked, never deleted
    out = await service.check_benefit(psn_no=psn, insutype="310", fixmedins_code=HOSPITAL, med_type="11",
                                      begntime=day("05-01"), dise_codg="")
    assert out == [out[0]] and not out[0].may_enjoy and "310" in out[0].result
    with pytest.raises(Refusal) as e:
        await service.check_benefit(psn_no=psn, insutype="390", fixmedins_code="", med_type="11",
                                    begntime=day("05-01"), dise_codg="")
    assert e.value.field == "fixmedins_code"
