"""FindPerson by ID number (02) and social card (03) through the alias cache, against the real
PostgreSQL and Redis: a cached lookup reads no PostgreSQL; a certno or social card moved to
another person is never answered with the old holder (in this process or another one sharing
Redis); an unknown certno is not cached, so a person created afterwards is found at once; with
Redis unreachable the lookup is answered from PostgreSQL and counted."""

from __future__ import annotations

import pytest

from services.common.grpcutil import Refusal
from services.eligibility.reference_load import upsert_persons
from tests.dates import THIS_YEAR, day

from .conftest import enrollment, make_service, new_certno, person_record, store_persons
from .test_cache import _free_port

pytestmark = pytest.mark.integration
DAY = day("05-01")


async def by_certno(svc, certno):
    return (await svc.find_person(cert_type="02", cert_no=certno, card_sn="", psn_no="", on_date=DAY)).person


async def by_card(svc, card):
    return (await svc.find_person(cert_type="03", cert_no=card, card_sn="SN", psn_no="", on_date=DAY)).person


async def test_a_cached_lookup_by_certno_or_social_card_reads_no_postgresql(service, db_pool, uid):
    psn = f"A{uid}"
    rec = person_record(psn, enrollments=[enrollment()], social_card=f"SA{uid}")
    await store_persons(db_pool, [rec])
    assert (await by_certno(service, rec.certno)).psn_no == psn  # first: PostgreSQL, then cached
    assert (await by_card(service, f"SA{uid}")).psn_no == psn
    before = dict(service.cache.stats)
    for _ in range(5):
        assert (await by_certno(service, rec.certno)).psn_no == psn
        assert (await by_card(service, f"SA{uid}")).psn_no == psn
    s = service.cache.stats
    assert s["alias_db_reads"] == before["alias_db_reads"] and s["db_reads"] == before["db_reads"]
    assert s["alias_hits"] == before["alias_hits"] + 10


async def test_a_certno_and_card_moved_to_another_person_are_never_answered_with_the_old_holder(
        service, db_pool, redis, elig_reference, uid):
    old, new = f"M{uid}", f"N{uid}"
    rec_old = person_record(old, enrollments=[enrollment()], social_card=f"SM{uid}")
    await store_persons(db_pool, [rec_old])
    other = make_service(db_pool, redis, elig_reference)  # a second process: only the Redis alias is shared
    assert (await by_certno(service, rec_old.certno)).psn_no == old
    assert (await by_card(service, f"SM{uid}")).psn_no == old
    assert (await by_certno(other, rec_old.certno)).psn_no == old

    # One committed write gives the old holder a new certno and card and the new person the old
    # ones; the writer invalidates both after commit (as the NOTIFY listener does).
    moved_certno, _ = new_certno()
    rec_new = _replace(person_record(new, enrollments=[enrollment()], social_card=f"SM{uid}"),
                       certno=rec_old.certno)
    async with db_pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("UPDATE eligibility.persons SET certno = $2, social_card = $3 WHERE psn_no = $1",
                               old, moved_certno, f"SX{uid}")
            await upsert_persons(conn, [rec_new])
    await service.cache.invalidate([old, new])

    for svc in (service, other, service):
        assert (await by_certno(svc, rec_old.certno)).psn_no == new
        assert (await by_certno(svc, moved_certno)).psn_no == old
        assert (await by_card(svc, f"SM{uid}")).psn_no == new
        assert (await by_card(svc, f"SX{uid}")).psn_no == old
    assert service.cache.stats["alias_stale"] >= 2 and other.cache.stats["alias_stale"] >= 1


def _replace(rec, **kw):
    import dataclasses

    return dataclasses.replace(rec, **kw)


async def test_an_unknown_certno_is_not_cached_so_a_person_created_later_is_found(service, uid):
    certno, birth = new_certno("2")
    for _ in range(2):
        with pytest.raises(Refusal) as e:
            await by_certno(service, certno)
        assert e.value.outcome == "PERSON_NOT_FOUND"
    psn = f"U{uid}"
    await service.upsert_enrollment(psn_no=psn, pool="99ELA", insutype="390", year=THIS_YEAR, psn_type="resident",
                                    benefit_start=day("01-01"), benefit_end=day("12-31"), status="active",
                                    paid_date="", enrollment_kind="", certno=certno, name="新参保",
                                    gender="2", birthdate=birth.isoformat())
    assert (await by_certno(service, certno)).psn_no == psn


async def test_redis_unreachable_lookup_by_certno_is_answered_from_postgresql_and_counted(db_pool, elig_reference,
                                                                                        uid):
    from services.eligibility.main import redis_client

    redis = redis_client(f"redis://127.0.0.1:{_free_port()}/0")  # nobody listens there
    try:
        svc = make_service(db_pool, redis, elig_reference, retry_after_s=0.2, op_timeout_s=0.25)
        rec = person_record(f"R{uid}", enrollments=[enrollment()], social_card=f"SR{uid}")
        await store_persons(db_pool, [rec])
        for _ in range(3):
            assert (await by_certno(svc, rec.certno)).psn_no == f"R{uid}"
            assert (await by_card(svc, f"SR{uid}")).psn_no == f"R{uid}"
        assert svc.cache.metrics()["redis_up"] == 0 and svc.cache.stats["fallbacks"] >= 6
    finally:
        await redis.aclose()
