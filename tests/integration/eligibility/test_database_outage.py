"""Issue #17: PostgreSQL down. A servicer whose pool cannot reach its database answers UNAVAILABLE
(DATABASE_UNAVAILABLE, retriable) instead of INTERNAL, and logs one warning line per outage, no
traceback; the first call that succeeds again logs that it is back."""

from __future__ import annotations

import logging
import socket

import asyncpg
import grpc
import pytest
import pytest_asyncio
from grpc import aio

from medsettle.eligibility.v1 import eligibility_pb2 as pb
from medsettle.eligibility.v1 import eligibility_pb2_grpc as pb_grpc
from services.common.grpcutil import RefusalInterceptor, is_database_outage, outage_log, outcome_of
from services.eligibility.server import register
from tests.dates import day

from .conftest import enrollment, make_service, person_record, store_persons

pytestmark = pytest.mark.integration


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(pool, redis, reference):
    server = aio.server(interceptors=[RefusalInterceptor()])
    register(server, make_service(pool, redis, reference))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, aio.insecure_channel(f"127.0.0.1:{port}")


@pytest_asyncio.fixture
async def dead_pool():
    pool = await asyncpg.create_pool(f"postgresql://medsettle@127.0.0.1:{_dead_port()}/medsettle", min_size=0,
                                     max_size=2, timeout=2)
    yield pool
    await pool.close()


async def test_database_down_is_unavailable_with_one_warning(dead_pool, db_pool, redis, elig_reference, uid, caplog):
    outage_log().success()  # no outage left over from another test
    server, channel = await _serve(dead_pool, redis, elig_reference)
    stub = pb_grpc.EligibilityServiceStub(channel)
    caplog.set_level(logging.INFO, logger="services.common.grpcutil")
    try:
        for i in range(3):
            with pytest.raises(aio.AioRpcError) as e:
                await stub.GetSnapshot(pb.GetSnapshotRequest(psn_no=f"DOWN{uid}{i}", insutype="390",
                                                             on_date=day("05-01")))
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
            assert outcome_of(e.value)[0] == "DATABASE_UNAVAILABLE"
            assert "Traceback" not in (e.value.details() or "")
    finally:
        await channel.close()
        await server.stop(0)
    records = [r for r in caplog.records if r.name == "services.common.grpcutil"]
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == [
        "database unavailable: answering UNAVAILABLE until it is back"]
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info]

    # the database is back (a pool that reaches it): the first success ends the outage, once
    server, channel = await _serve(db_pool, redis, elig_reference)
    await store_persons(db_pool, [person_record(f"UP{uid}", enrollments=[enrollment()])])
    try:
        snap = await pb_grpc.EligibilityServiceStub(channel).GetSnapshot(
            pb.GetSnapshotRequest(psn_no=f"UP{uid}", insutype="390", on_date=day("05-01")))
        assert snap.eligible
    finally:
        await channel.close()
        await server.stop(0)


def test_the_outage_errors_asyncpg_raises_are_recognised():
    assert is_database_outage(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert is_database_outage(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    assert is_database_outage(ConnectionRefusedError(111, "Connection refused"))
    assert is_database_outage(TimeoutError())
    assert is_database_outage(asyncpg.InterfaceError("pool is closed"))
    try:
        try:
            raise ConnectionResetError()
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_database_outage(outer)
    assert not is_database_outage(ValueError("a bug"))
    assert not is_database_outage(asyncpg.exceptions.UniqueViolationError("duplicate key"))


def test_recovery_is_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="services.common.grpcutil")
    log = outage_log()
    log.success()
    log.failure("/m", OSError("down"))
    log.failure("/m", OSError("down"))
    log.success()
    log.success()
    assert [r.getMessage() for r in caplog.records] == ["database unavailable: answering UNAVAILABLE until it is back",
                                                         "database available again"]
