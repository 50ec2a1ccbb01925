"""Fixtures for the filing service against real PostgreSQL and a real eligibility gRPC server.

The filing service runs in-process behind a real grpc.aio server (servicer + RefusalInterceptor),
and talks to the eligibility engineer's real servicer (services/eligibility) on its own port,
wrapped in an interceptor that records each call, so a test can assert that the filing service
notified eligibility (GrantChronic, RevokeChronic, InvalidatePerson) before acknowledging.
Test persons are loaded through the real reference loader with unique psn_nos.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import grpc
import pytest_asyncio
from grpc import aio

from infra.reference.make_demo import document_for_today
from medsettle.eligibility.v1 import eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2_grpc
from services.common.config import Settings
from services.common.grpcutil import RefusalInterceptor
from services.common.ids import make_certno
from services.refdata.schema import parse_document
from services.refdata.store import load_document
from tests.dates import THIS_YEAR, day

DEMO = document_for_today()


class CallRecorder(aio.ServerInterceptor):
    """Records (method name, request) of every unary call the server receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, name = handler.unary_unary, handler_call_details.method.rsplit("/", 1)[-1]

        async def wrapped(request, context):
            self.calls.append((name, request))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(wrapped, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)

    def of(self, method: str, psn_no: str) -> list[Any]:
        return [r for m, r in self.calls if m == method and getattr(r, "psn_no", None) == psn_no]


@dataclasses.dataclass
class Harness:
    filing: filing_pb2_grpc.FilingServiceStub
    eligibility: eligibility_pb2_grpc.EligibilityServiceStub
    recorder: CallRecorder
    cache: Any


@pytest_asyncio.fixture(scope="session")
async def harness(db_pool, database_url, redis_url, demo_loaded):
    from services.eligibility.main import build as build_eligibility
    from services.eligibility.server import register as register_eligibility
    from services.filing import server as filing_server
    from services.filing.eligibility_client import EligibilityClient
    from services.filing.service import FilingService
    from services.refdata.cache import ReferenceCache

    settings = dataclasses.replace(Settings.from_env(), database_url=database_url, redis_url=redis_url,
                                   db_pool_min=1, db_pool_max=4)
    elig_service, close_elig = await build_eligibility(settings)
    recorder = CallRecorder()
    elig_server = aio.server(interceptors=[recorder, RefusalInterceptor()])
    register_eligibility(elig_server, elig_service)
    elig_port = elig_server.add_insecure_port("127.0.0.1:0")
    await elig_server.start()

    cache = await ReferenceCache.load(db_pool)
    elig_channel = aio.insecure_channel(f"127.0.0.1:{elig_port}")
    service = FilingService(db_pool, cache, EligibilityClient(eligibility_pb2_grpc.EligibilityServiceStub(elig_channel)))
    filing_srv = aio.server(interceptors=[RefusalInterceptor()])
    filing_server.register(filing_srv, service)
    filing_port = filing_srv.add_insecure_port("127.0.0.1:0")
    await filing_srv.start()
    channel = aio.insecure_channel(f"127.0.0.1:{filing_port}")
    yield Harness(filing_pb2_grpc.FilingServiceStub(channel), eligibility_pb2_grpc.EligibilityServiceStub(elig_channel),
                  recorder, cache)
    await channel.close()
    await filing_srv.stop(None)
    await elig_channel.close()
    await elig_server.stop(None)
    await close_elig()


def _certno() -> str:
    # Random region digits (9xxxxx, no real division) and birth date: unique across runs, as the
    # eligibility store requires one person per certno.
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(18_000))
    return make_certno(f"9{random.randrange(100_000):05d}{birth:%Y%m%d}{random.randrange(1000):03d}")


def person(psn_no: str, pool: str, insutype: str, filings: list[dict] | None = None,
           psn_type: str | None = None) -> dict:
    """A reference-document person enrolled for this year in `pool`."""
    certno = _certno()
    gender = "1" if int(certno[16]) % 2 else "2"
    return {
        "psn_no": psn_no, "certno": certno, "name": "测试人", "gender": gender,
        "birthdate": f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}",
        "enrollments": [{"pool": pool, "insutype": insutype, "year": THIS_YEAR,
                         "psn_type": psn_type or ("resident" if insutype == "390" else "employee"),
                         "benefit_start": day("01-01"), "benefit_end": day("12-31"), "status": "active"}],
        "filings": filings or [],
    }


async def load_persons(db_pool, persons: list[dict]):
    """Load persons (with the demo's pools, hospitals and policies) through the real loader."""
    doc = {"format": DEMO["format"], "pools": DEMO["pools"], "hospitals": DEMO["hospitals"],
           "catalogues": DEMO["catalogues"], "policies": DEMO["policies"], "persons": persons}
    return await load_document(db_pool, parse_document(doc))
