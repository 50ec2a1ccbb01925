"""Fixtures for the settlement service's integration tests: real PostgreSQL, real grpc.aio.

The settlement servicer runs in-process on a real grpc.aio server (with the production
interceptors), in two environments sharing one database:

- `settlement_env` / `stub`: eligibility and filing are answered by a stand-in grpc.aio server
  in this process that implements GetSnapshot and ResolveFiling from fixed per-test data
  (`upstream.person(...)`, `upstream.file(...)`), so each test states exactly the person it
  settles for. Reference data: `reference.reference_document()` (provinces 91/92/93).
- `real_env`: the REAL eligibility servicer (PostgreSQL + Redis person cache) and the REAL
  filing servicer (which calls that eligibility servicer), each on its own grpc.aio server on a
  free port, and a second settlement servicer calling them. Persons are stored through the
  eligibility repository (as the reference loader does); filings and chronic qualifications
  are made through the filing service. Reference data: `reference.upstream_reference_document()`
  (provinces 94/95).

Request builders live in helpers.py, reference data in reference.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import pytest
import pytest_asyncio
from grpc import aio

from medsettle.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2, filing_pb2_grpc
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common.grpcutil import RefusalInterceptor
from services.settlement.eligibility_client import EligibilityClient
from services.settlement.filing_client import FilingClient
from services.settlement.server import register
from services.settlement.service import SettlementService
from tests.dates import date, day

from .helpers import Clock
from .reference import POOL_A, reference_document, upstream_reference_document

# ----------------------------------------------------------------------------- upstream stand-in


class Upstream(eligibility_pb2_grpc.EligibilityServiceServicer, filing_pb2_grpc.FilingServiceServicer):
    """GetSnapshot / ResolveFiling from fixed data that each test registers."""

    def __init__(self) -> None:
        self.persons: dict[tuple[str, str], eligibility_pb2.Snapshot] = {}
        self.filings: dict[str, str] = {}
        self.snapshot_calls = 0
        self.certificates: list[eligibility_pb2.Certificate] = []  # each GetSnapshot's, in order (None: none)

    def person(self, psn_no: str, *, insutype: str = "390", pool: str = POOL_A, psn_type: str = "resident",
               identities: tuple[str, ...] = (), balance_fen: int = 0, name: str = "测试") -> str:
        snap = eligibility_pb2.Snapshot(psn_no=psn_no, name=name, insutype=insutype, eligible=True, psn_type=psn_type,
                                        insured_pool=pool, insuplc_admdvs=pool, benefit_start=day("01-01"),
                                        benefit_end=day("12-31"), account_balance_fen=balance_fen)
        for t in identities:
            snap.identities.add(psn_no=psn_no, psn_idet_type=t, begntime=day("01-01"), endtime=day("12-31"))
        self.persons[(psn_no, insutype)] = snap
        return psn_no

    def file(self, psn_no: str, group: str = "long_term") -> None:
        self.filings[psn_no] = group

    async def GetSnapshot(self, request, context):
        self.snapshot_calls += 1
        self.certificates.append(request.certificate if request.HasField("certificate") else None)
        snap = self.persons.get((request.psn_no, request.insutype))
        if snap is None:
            return eligibility_pb2.Snapshot(psn_no=request.psn_no, eligible=False, ineligible_outcome="NOT_ENROLLED",
                                            ineligible_message="无参保记录 / not enrolled")
        return snap

    async def ResolveFiling(self, request, context):
        group = self.filings.get(request.psn_no)
        if group is None:
            return filing_pb2.ResolveFilingResponse(filed=False, message="未备案 / not filed")
        return filing_pb2.ResolveFilingResponse(filed=True, filing_group=group, filing_id=f"F{request.psn_no}")


@pytest_asyncio.fixture(scope="session")
async def setl_refs(db_pool):
    from services.refdata.cache import ReferenceCache
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    await load_document(db_pool, parse_document(reference_document()))
    cache = await ReferenceCache.load(db_pool)
    yield cache
    await cache.close()


@pytest_asyncio.fixture(scope="session")
async def upstream():
    up = Upstream()
    server = aio.server()
    eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(up, server)
    filing_pb2_grpc.add_FilingServiceServicer_to_server(up, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    up.addr = f"127.0.0.1:{port}"
    yield up
    await server.stop(0)


async def _serve_settlement(service: SettlementService):
    server = aio.server(interceptors=[RefusalInterceptor()])
    register(server, service)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = aio.insecure_channel(f"127.0.0.1:{port}")
    return server, client, settlement_pb2_grpc.SettlementServiceStub(client)


@pytest_asyncio.fixture(scope="session")
async def settlement_env(db_pool, setl_refs, upstream):
    """(stub, service, clock): the real servicer behind a real grpc.aio server."""
    clock = Clock()
    channel = aio.insecure_channel(upstream.addr)
    service = SettlementService(db_pool, setl_refs, EligibilityClient(channel, 5.0), FilingClient(channel, 5.0),
                                clock=clock)
    server, client, stub = await _serve_settlement(service)
    yield stub, service, clock
    await client.close()
    await server.stop(0)
    await channel.close()


@pytest.fixture
def stub(settlement_env):
    return settlement_env[0]


@pytest.fixture
def clock(settlement_env):
    yield settlement_env[2]
    settlement_env[2].fixed = None


# ----------------------------------------------------------------------------- the real upstream

# The eligibility and filing services' business date (2503 begin default, 2504 end default).
UPSTREAM_TODAY = date(5, 20)


@dataclasses.dataclass
class RealEnv:
    settlement: settlement_pb2_grpc.SettlementServiceStub
    eligibility: eligibility_pb2_grpc.EligibilityServiceStub
    filing: filing_pb2_grpc.FilingServiceStub
    service: SettlementService
    db_pool: Any
    redis: Any  # the eligibility service's person cache lives here

    async def cached(self, psn_no: str) -> bool:
        """Whether the eligibility service holds a cached entry for the person."""
        from services.eligibility.cache import entry_key

        return bool(await self.redis.exists(entry_key(psn_no)))

    async def person(self, psn_no: str, *, pool: str, insutype: str = "390", balance_fen: int = 0,
                     begin: dt.date = date(1, 1), end: dt.date = date(12, 31)) -> str:
        """Store a person enrolled for this year as the reference loader does (upsert_persons in a
        transaction of ours); the eligibility service reads them from PostgreSQL."""
        from services.common.ids import make_certno
        from services.eligibility.repository import upsert_persons
        from services.refdata.records import EnrollmentRecord, PersonRecord

        rnd = random.SystemRandom()
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(18_000))
        # Region digits 94xxxx (a fictitious province of these tests): unique certnos across runs.
        certno = make_certno(f"94{rnd.randrange(10_000):04d}{birth:%Y%m%d}{rnd.randrange(1000):03d}")
        psn_type = "resident" if insutype == "390" else "employee"
        record = PersonRecord(
            psn_no=psn_no, certno=certno, name="测试" + psn_no[-4:], gender="1" if int(certno[16]) % 2 else "2",
            birthdate=birth, enrollments=(EnrollmentRecord(pool, insutype, begin.year, psn_type, begin, end, "active"),),
            identities=(), chronic=(), filings=(), account_balance_fen=balance_fen, social_card=None, cvlserv=False)
        async with self.db_pool.acquire() as conn:
            async with conn.transaction():
                await upsert_persons(conn, [record])
        return psn_no


@pytest_asyncio.fixture(scope="session")
async def real_env(db_pool, redis_url):
    from services.eligibility.cache import PersonCache
    from services.eligibility.filing_client import FilingClient as EligibilityFilingClient
    from services.eligibility.main import redis_client
    from services.eligibility.repository import EligibilityRepository
    from services.eligibility.server import register as register_eligibility
    from services.eligibility.service import EligibilityService
    from services.eligibility.tokens import EvoucherSigner
    from services.filing import server as filing_server
    from services.filing.eligibility_client import EligibilityClient as FilingsEligibilityClient
    from services.filing.service import FilingService
    from services.refdata.cache import ReferenceCache
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    await load_document(db_pool, parse_document(upstream_reference_document()))
    refs = await ReferenceCache.load(db_pool)
    # Generous Redis timeouts: a shared 2-core machine; these tests are about correctness.
    redis = redis_client(redis_url, timeout_s=2.0)
    elig_repo = EligibilityRepository(db_pool)
    elig_service = EligibilityService(
        repo=elig_repo, cache=PersonCache(redis, elig_repo.load_person, ttl_s=300, op_timeout_s=2.0),
        reference=refs, redis=redis, signer=EvoucherSigner("settlement-test-evoucher-secret-32b", 90),
        today=lambda: UPSTREAM_TODAY)
    elig_server = aio.server(interceptors=[RefusalInterceptor()])
    register_eligibility(elig_server, elig_service)
    elig_port = elig_server.add_insecure_port("127.0.0.1:0")
    await elig_server.start()
    elig_channel = aio.insecure_channel(f"127.0.0.1:{elig_port}")

    filing_service = FilingService(
        db_pool, refs, FilingsEligibilityClient(eligibility_pb2_grpc.EligibilityServiceStub(elig_channel)),
        clock=lambda: UPSTREAM_TODAY)
    filing_srv = aio.server(interceptors=[RefusalInterceptor()])
    filing_server.register(filing_srv, filing_service)
    filing_port = filing_srv.add_insecure_port("127.0.0.1:0")
    await filing_srv.start()
    filing_channel = aio.insecure_channel(f"127.0.0.1:{filing_port}")
    elig_service.filing = EligibilityFilingClient(filing_channel, 5.0)  # 2001 asks it, as main.py wires it

    service = SettlementService(db_pool, refs, EligibilityClient(elig_channel, 5.0),
                                FilingClient(filing_channel, 5.0), clock=Clock())
    server, client, stub = await _serve_settlement(service)
    yield RealEnv(stub, eligibility_pb2_grpc.EligibilityServiceStub(elig_channel),
                  filing_pb2_grpc.FilingServiceStub(filing_channel), service, db_pool, redis)
    await client.close()
    await server.stop(0)
    await filing_channel.close()
    await filing_srv.stop(0)
    await elig_channel.close()
    await elig_server.stop(0)
    await redis.aclose()
    await refs.close()
