"""Certificate ↔ person binding in the eligibility service (DOMAIN.md §6a), against real
PostgreSQL and Redis: 1101 with psn_no and a certificate, the settlement snapshot's certificate
(ID number, card + card_sn, e-voucher), and an e-voucher's life: scanned once at 1101 by one
hospital, then bound to one visit of that hospital. The clock is the service's own (set here),
never a sleep."""

from __future__ import annotations

import socket

import pytest

from services.common.grpcutil import Refusal
from services.eligibility.domain import Certificate
from services.eligibility.evouchers import EVOUCHER_RECORD_TTL_S

from .conftest import HOSPITAL, enrollment, make_service, person_record, store_persons

pytestmark = pytest.mark.integration

OTHER_HOSPITAL = "H99010100002"
T0 = 1_900_000_000.0  # the service's clock in these tests (unix seconds), moved by hand


@pytest.fixture
def svc(service):
    now = [T0]
    service.clock = lambda: now[0]
    service.now = now  # type: ignore[attr-defined]  # the tests move the clock through it
    return service


async def two_persons(db_pool, service, uid):
    a = person_record(f"A{uid}", enrollments=[enrollment()], social_card=f"SA{uid}")
    b = person_record(f"B{uid}", enrollments=[enrollment()], social_card=f"SB{uid}")
    await store_persons(db_pool, [a, b])
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE eligibility.persons SET card_sn = 'SNA' WHERE psn_no = $1", a.psn_no)
    await service.invalidate_person(psn_no=a.psn_no)
    return a, b


async def refused_with(coro) -> Refusal:
    with pytest.raises(Refusal) as e:
        await coro
    return e.value


def snapshot(svc, psn_no, cert_type, cert_no, card_sn="", hospital=HOSPITAL, visit_key="M1"):
    return svc.snapshot(psn_no=psn_no, insutype="390", on_date="",
                        certificate=Certificate(cert_type, cert_no, card_sn, hospital, visit_key))


def find(svc, *, psn_no="", cert_type="", cert_no="", card_sn="", hospital=HOSPITAL):
    return svc.find_person(cert_type=cert_type, cert_no=cert_no, card_sn=card_sn, psn_no=psn_no, on_date="",
                           hospital=hospital)


async def test_1101_with_psn_no_of_b_and_a_certificate_of_a_is_refused(svc, db_pool, uid):
    a, b = await two_persons(db_pool, svc, uid)
    r = await refused_with(find(svc, psn_no=b.psn_no, cert_type="02", cert_no=a.certno))
    assert (r.outcome, r.field) == ("CERT_PERSON_MISMATCH", "mdtrt_cert_no")
    assert a.certno not in r.message and a.certno[:6] + "********" + a.certno[-4:] in r.message
    r = await refused_with(find(svc, psn_no=b.psn_no, cert_type="03", cert_no=f"SA{uid}", card_sn="SNA"))
    assert r.outcome == "CERT_PERSON_MISMATCH"
    token = svc.signer.issue(a.psn_no, T0).token
    r = await refused_with(find(svc, psn_no=b.psn_no, cert_type="01", cert_no=token))
    assert (r.outcome, r.field) == ("EVOUCHER_OTHER_PERSON", "mdtrt_cert_no") and token not in r.message
    # refused before it was recorded: A can still present it
    assert (await find(svc, cert_type="01", cert_no=token)).person.psn_no == a.psn_no
    # matching certificate and psn_no: answered
    assert (await find(svc, psn_no=a.psn_no, cert_type="02", cert_no=a.certno)).person.psn_no == a.psn_no


async def test_snapshot_refuses_another_persons_id_number_or_card_and_a_wrong_card_sn(svc, db_pool, uid):
    a, b = await two_persons(db_pool, svc, uid)
    assert (await snapshot(svc, a.psn_no, "02", a.certno)).person.psn_no == a.psn_no
    assert (await snapshot(svc, a.psn_no, "03", f"SA{uid}", "SNA")).person.psn_no == a.psn_no
    r = await refused_with(snapshot(svc, b.psn_no, "02", a.certno))
    assert (r.outcome, r.field) == ("CERT_PERSON_MISMATCH", "mdtrt_cert_no")
    r = await refused_with(snapshot(svc, b.psn_no, "03", f"SA{uid}", "SNA"))
    assert (r.outcome, r.field) == ("CERT_PERSON_MISMATCH", "mdtrt_cert_no")
    r = await refused_with(snapshot(svc, a.psn_no, "03", f"SA{uid}", "WRONG"))
    assert (r.outcome, r.field) == ("CARD_SN_MISMATCH", "card_sn")
    # B's card has no card_sn on file: a card needs one that matches
    r = await refused_with(snapshot(svc, b.psn_no, "03", f"SB{uid}", "ANY"))
    assert (r.outcome, r.field) == ("CARD_SN_MISMATCH", "card_sn")
    # no certificate named: as before
    assert (await svc.snapshot(psn_no=b.psn_no, insutype="390", on_date="")).person.psn_no == b.psn_no


async def test_token_scanned_at_1101_is_bound_to_that_hospital_and_its_first_visit(svc, db_pool, uid):
    a, b = await two_persons(db_pool, svc, uid)
    token = svc.signer.issue(a.psn_no, T0).token
    assert (await find(svc, cert_type="01", cert_no=token)).person.psn_no == a.psn_no
    r = await refused_with(find(svc, cert_type="01", cert_no=token))
    assert (r.outcome, r.field) == ("EVOUCHER_USED", "mdtrt_cert_no")  # replay at 1101
    r = await refused_with(snapshot(svc, b.psn_no, "01", token, visit_key="reg:X:1"))
    assert r.outcome == "EVOUCHER_OTHER_PERSON"  # another person's token
    r = await refused_with(snapshot(svc, a.psn_no, "01", token, hospital=OTHER_HOSPITAL, visit_key="reg:X:1"))
    assert (r.outcome, r.field) == ("EVOUCHER_OTHER_HOSPITAL", "mdtrt_cert_no")
    svc.now[0] = T0 + 3600  # long after the token's own validity: the scan record decides
    assert (await snapshot(svc, a.psn_no, "01", token, visit_key=f"reg:{HOSPITAL}:m1")).person.psn_no == a.psn_no
    assert (await snapshot(svc, a.psn_no, "01", token, visit_key=f"reg:{HOSPITAL}:m1")).person.psn_no == a.psn_no
    r = await refused_with(snapshot(svc, a.psn_no, "01", token, visit_key="M-other-visit"))
    assert (r.outcome, r.field) == ("EVOUCHER_OTHER_VISIT", "mdtrt_cert_no")


async def test_first_use_without_a_scan_is_the_scan_and_an_expired_unscanned_token_is_refused(svc, db_pool, uid):
    a, _ = await two_persons(db_pool, svc, uid)
    token = svc.signer.issue(a.psn_no, T0).token
    assert (await snapshot(svc, a.psn_no, "01", token, visit_key="reg:H:1")).person.psn_no == a.psn_no
    r = await refused_with(find(svc, cert_type="01", cert_no=token))
    assert r.outcome == "EVOUCHER_USED"
    late = svc.signer.issue(a.psn_no, T0).token
    svc.now[0] = T0 + svc.signer.ttl_s  # expired, never scanned
    r = await refused_with(snapshot(svc, a.psn_no, "01", late, visit_key="reg:H:2"))
    assert (r.outcome, r.field) == ("EVOUCHER_EXPIRED", "mdtrt_cert_no")
    r = await refused_with(find(svc, cert_type="01", cert_no=late))
    assert r.outcome == "EVOUCHER_EXPIRED"


async def test_a_forged_token_is_refused_everywhere(svc, db_pool, uid):
    a, _ = await two_persons(db_pool, svc, uid)
    token = svc.signer.issue(a.psn_no, T0).token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for call in (find(svc, cert_type="01", cert_no=forged), find(svc, psn_no=a.psn_no, cert_type="01", cert_no=forged),
                 snapshot(svc, a.psn_no, "01", forged, visit_key="reg:H:1")):
        r = await refused_with(call)
        assert (r.outcome, r.field) == ("EVOUCHER_INVALID", "mdtrt_cert_no") and forged not in r.message
    # the genuine token was never recorded by the forgeries
    assert (await find(svc, cert_type="01", cert_no=token)).person.psn_no == a.psn_no


async def test_the_scan_record_outlives_a_visit(svc, db_pool, uid, redis):
    from services.eligibility.cache import evoucher_key

    a, _ = await two_persons(db_pool, svc, uid)
    ev = svc.signer.issue(a.psn_no, T0, nonce=f"n{uid}")
    await find(svc, cert_type="01", cert_no=ev.token)
    ttl = await redis.ttl(evoucher_key(f"n{uid}"))
    assert EVOUCHER_RECORD_TTL_S - 60 < ttl <= EVOUCHER_RECORD_TTL_S
    assert (await redis.get(evoucher_key(f"n{uid}"))).decode() == f"{HOSPITAL}|{a.psn_no}|"


async def test_1101_records_that_the_person_presented_a_certificate_to_the_hospital(svc, db_pool, uid):
    a, b = await two_persons(db_pool, svc, uid)
    assert not await svc.presented(psn_no=a.psn_no, hospital=HOSPITAL)
    await find(svc, cert_type="02", cert_no=a.certno)
    assert await svc.presented(psn_no=a.psn_no, hospital=HOSPITAL)
    assert not await svc.presented(psn_no=a.psn_no, hospital=OTHER_HOSPITAL)
    await find(svc, psn_no=b.psn_no)  # psn_no alone is no certificate presented
    assert not await svc.presented(psn_no=b.psn_no, hospital=HOSPITAL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_redis_unreachable_a_token_use_is_refused_as_unverifiable(db_pool, elig_reference, uid):
    from services.eligibility.main import redis_client

    redis = redis_client(f"redis://127.0.0.1:{_free_port()}/0")  # nobody listens there
    try:
        svc = make_service(db_pool, redis, elig_reference, retry_after_s=0.2, op_timeout_s=0.25)
        rec = person_record(f"U{uid}", enrollments=[enrollment()])
        await store_persons(db_pool, [rec])
        token = svc.signer.issue(rec.psn_no, svc.clock()).token
        r = await refused_with(snapshot(svc, rec.psn_no, "01", token, visit_key="reg:H:1"))
        assert (r.outcome, r.field) == ("EVOUCHER_UNVERIFIABLE", "mdtrt_cert_no")
        assert "身份证" in r.message and "ID number" in r.message
    finally:
        await redis.aclose()


async def test_a_record_of_the_single_use_era_is_bound_by_its_first_use(svc, db_pool, uid, redis):
    from services.eligibility.cache import evoucher_key

    a, _ = await two_persons(db_pool, svc, uid)
    ev = svc.signer.issue(a.psn_no, T0, nonce=f"old{uid}")
    await redis.set(evoucher_key(f"old{uid}"), "1", ex=600)  # as 1101 recorded it before this change
    assert (await snapshot(svc, a.psn_no, "01", ev.token, visit_key="reg:H:1")).person.psn_no == a.psn_no
    r = await refused_with(snapshot(svc, a.psn_no, "01", ev.token, visit_key="reg:H:2"))
    assert r.outcome == "EVOUCHER_OTHER_VISIT"
