"""2207/2304 settle on the eligibility snapshot taken at registration (issue #18), and never on a
status older than a committed change: the booking checks the person's status version
(eligibility.status_versions, bumped by eligibility in the same transaction as every change)
FOR SHARE inside its own transaction (settlement migration 0020).

Raced both ways against the real eligibility service and PostgreSQL (real_env):
- a change in flight when the 2207 books (its transaction has written the person, not yet
  committed): the booking waits for it, sees the new version, asks eligibility again and is
  refused on the new status; nothing is booked;
- a booking in flight when the change writes: the change waits until the booking's transaction
  ends, so the settlement committed on the status that was current at its commit.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from medsettle.eligibility.v1 import eligibility_pb2
from tests.dates import THIS_YEAR, day

from .helpers import fee, open_visit, outcome, settle_request
from .reference import H_A3, H_R3, POOL_A, POOL_R

pytestmark = pytest.mark.integration

Q_VERSION = "SELECT version FROM eligibility.status_versions WHERE psn_no = $1"


async def _count_settlements(db_pool, psn: str) -> int:
    async with db_pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM settlement.settlements WHERE psn_no = $1", psn)


async def _version(db_pool, psn: str) -> int:
    async with db_pool.acquire() as conn:
        return await conn.fetchval(Q_VERSION, psn)


async def test_2207_asks_eligibility_nothing_and_answers_the_person_fields(stub, upstream, uid):
    """Registration asks eligibility once; the 2207 computes on the snapshot the visit keeps and
    returns the setlinfo's person fields from it (the gateway then asks eligibility nothing)."""

    psn = upstream.person(f"SV{uid}", pool=POOL_A)
    snap = upstream.persons[(psn, "390")]
    snap.certno, snap.gend, snap.brdy = "110101195001010011", "1", "1950-01-01"
    v = await open_visit(stub, hospital=H_A3, psn_no=psn, kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 10_000)])
    calls = upstream.snapshot_calls
    r = await stub.Settle(settle_request(H_A3, v, 10_000))
    assert upstream.snapshot_calls == calls, "the 2207 asked eligibility again"
    assert r.setlinfo.setl_id
    assert (r.person.certno, r.person.gend, r.person.brdy) == ("110101195001010011", "1", "1950-01-01")
    assert r.person.age >= 70


async def test_a_change_committed_before_the_2207_is_seen(real_env, uid):
    """The visit's snapshot says enrolled; the enrollment lapses (committed) before the 2207: the
    booking finds a newer status version, the service asks eligibility and refuses — whatever the
    kept snapshot said."""
    env = real_env
    psn = await env.person(f"SA{uid}", pool=POOL_R)
    v = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 100_000)])
    before = await _version(env.db_pool, psn)
    await env.eligibility.TerminateEnrollment(eligibility_pb2.TerminateEnrollmentRequest(
        psn_no=psn, pool=POOL_R, insutype="390", year=THIS_YEAR, end_date=day("05-01"), status="lapsed"))
    assert await _version(env.db_pool, psn) > before
    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_R3, v, 100_000))
    assert outcome(e.value) == ("LAPSED", "psn_no"), e.value.details()
    assert await _count_settlements(env.db_pool, psn) == 0


async def test_a_change_in_flight_makes_the_2207_wait_and_then_refuse(real_env, uid):
    """A writer's transaction has lapsed the enrollment (its trigger holds the person's status
    row) but not committed when the 2207 books: the booking waits on that row; on commit it
    reads the new version, asks eligibility again and is refused. Nothing is booked."""
    from services.eligibility.cache import invalidate_persons

    env = real_env
    psn = await env.person(f"SB{uid}", pool=POOL_R)
    v = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 100_000)])
    async with env.db_pool.acquire() as writer:
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE eligibility.enrollments SET status = 'lapsed', updated_at = now() "
                             "WHERE psn_no = $1", psn)
        settle = asyncio.ensure_future(env.settlement.Settle(settle_request(H_R3, v, 100_000)))
        await asyncio.sleep(0.5)
        assert not settle.done(), "the booking did not wait for the change in flight"
        await tx.commit()
        await invalidate_persons(env.redis, [psn])  # what every writer does after its commit
    with pytest.raises(grpc.RpcError) as e:
        await settle
    assert outcome(e.value) == ("LAPSED", "psn_no"), e.value.details()
    assert await _count_settlements(env.db_pool, psn) == 0


async def test_a_change_during_a_booking_waits_for_the_booking(real_env, uid):
    """The other way round: while a booking's transaction holds the person's status row (the
    FOR SHARE of book_settlement_checked, taken here by hand), TerminateEnrollment through the
    real eligibility service cannot commit; it goes through once the booking's transaction
    ends, and the next 2207 sees it."""
    env = real_env
    psn = await env.person(f"SC{uid}", pool=POOL_R)
    v = await open_visit(env.settlement, hospital=H_R3, psn_no=psn, kind="outpatient", med_type="11",
                         fees=[fee("1", "DIAL", "1", 100_000)])
    async with env.db_pool.acquire() as booking:
        tx = booking.transaction()
        await tx.start()
        assert await booking.fetchval(Q_VERSION + " FOR SHARE", psn) is not None
        change = asyncio.ensure_future(env.eligibility.TerminateEnrollment(eligibility_pb2.TerminateEnrollmentRequest(
            psn_no=psn, pool=POOL_R, insutype="390", year=THIS_YEAR, end_date=day("05-01"), status="lapsed")))
        await asyncio.sleep(0.5)
        assert not change.done(), "the status change did not wait for the booking in flight"
        await tx.commit()
    assert (await change).status == "lapsed"
    with pytest.raises(grpc.RpcError) as e:
        await env.settlement.Settle(settle_request(H_R3, v, 100_000))
    assert outcome(e.value) == ("LAPSED", "psn_no"), e.value.details()


async def test_every_kind_of_change_bumps_the_status_version(real_env, uid):
    """The person row, an enrollment, an identity, a chronic qualification: each write bumps it."""
    env = real_env
    psn = await env.person(f"SD{uid}", pool=POOL_R)
    seen = [await _version(env.db_pool, psn)]
    async with env.db_pool.acquire() as conn:
        for sql in ("UPDATE eligibility.persons SET account_balance_fen = 5 WHERE psn_no = $1",
                    "UPDATE eligibility.enrollments SET status = 'paused' WHERE psn_no = $1",
                    "INSERT INTO eligibility.identities (psn_no, type, begin_date) VALUES ($1, 'dibao', '2000-01-01')",
                    "INSERT INTO eligibility.chronic_qualifications (psn_no, code, begin_date) "
                    "VALUES ($1, 'M07803', '2000-01-01')",
                    "DELETE FROM eligibility.identities WHERE psn_no = $1"):
            await conn.execute(sql, psn)
            seen.append(await conn.fetchval(Q_VERSION, psn))
    assert seen == sorted(set(seen)) and len(seen) == 6, seen
