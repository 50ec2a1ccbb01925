"""Fixtures for the eligibility integration tests: a small reference document of their own
(pools 99ELA/99ELB in a fictitious province 99, so they never touch other tests' data), the
service wired to the real PostgreSQL and Redis, and helpers that create unique persons."""

from __future__ import annotations

import datetime as dt
import random

import pytest_asyncio

from services.common.ids import make_certno
from tests.dates import THIS_YEAR, date

POOL_A, POOL_B = "99ELA", "99ELB"
HOSPITAL = "H99010100001"


def _policy(pool, insutype, waiting_days):
    return {
        "pool": pool, "insutype": insutype, "year": THIS_YEAR, "waiting_days": waiting_days,
        "lines": {"outpatient": {"annual_deductible": "100.00", "ratio": {"1": "0.60", "2": "0.50", "3": "0.40"},
                                 "annual_cap": "800.00"},
                  "chronic:M03900": {"annual_deductible": "0.00", "ratio": {"1": "0.80", "2": "0.80", "3": "0.80"},
                                     "annual_cap": "3000.00"}},
        "cap_groups": {}, "retired_bonus": "0",
        "cross_region": {"long_term": "0", "referral": "-0.10", "emergency": "-0.10", "temporary": "-0.20",
                         "intra_province": "0"},
        "assistance": {"tekun": {"annual_deductible": "0.00", "ratio": "1.00", "annual_cap": "50000.00"}},
        # Residents' second tier: on the chronic (and inpatient) lines only, never on outpatient.
        **({"critical_illness": {"threshold": "20000.00", "bands": [{"upto": None, "ratio": "0.60"}],
                                 "annual_cap": "400000.00"}} if insutype == "390" else {}),
    }


REFERENCE = {
    "format": "medsettle.reference/v1",
    "pools": [
        {"code": POOL_A, "name": "测试统筹区A", "insutypes": ["310", "390"], "admdvs": ["990100", "990101"]},
        {"code": POOL_B, "name": "测试统筹区B", "insutypes": ["390"], "admdvs": ["990200"]},
    ],
    "hospitals": [{"code": HOSPITAL, "name": "测试医院", "admdvs": "990101", "level": 3, "cross_province": True,
                   "paasid": "elig-test-his-990101", "secret": "eligibility-test-secret-32-bytes-min"}],
    "catalogues": [{"pool": pool, "items": [{"code": "EXAM", "name": "检查", "kind": "service", "class": "01"}]}
                   for pool in (POOL_A, POOL_B)],
    "policies": [_policy(POOL_A, "390", 90), _policy(POOL_A, "310", 30), _policy(POOL_B, "390", 60)],
}


@pytest_asyncio.fixture(scope="session")
async def elig_reference(db_pool):
    from services.refdata.cache import ReferenceCache
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    await load_document(db_pool, parse_document(REFERENCE))
    cache = await ReferenceCache.load(db_pool)
    yield cache
    await cache.close()


@pytest_asyncio.fixture(scope="session")
async def redis(redis_url):
    from services.eligibility.main import redis_client

    # Generous timeouts: these tests run on a shared 2-core machine and are about correctness;
    # the outage tests build their own client with the production timeout.
    r = redis_client(redis_url, timeout_s=2.0)
    yield r
    await r.aclose()


def make_service(db_pool, redis, reference, **cache_kw):
    from services.eligibility.cache import PersonCache
    from services.eligibility.repository import EligibilityRepository
    from services.eligibility.service import EligibilityService
    from services.eligibility.tokens import EvoucherSigner

    repo = EligibilityRepository(db_pool)
    cache_kw.setdefault("op_timeout_s", 2.0)
    cache = PersonCache(redis, repo.load_person, ttl_s=300, **cache_kw)
    return EligibilityService(repo=repo, cache=cache, reference=reference, redis=redis,
                              signer=EvoucherSigner("integration-test-evoucher-secret-32b", 90),
                              today=lambda: date(5, 1))


@pytest_asyncio.fixture
async def service(db_pool, redis, elig_reference):
    return make_service(db_pool, redis, elig_reference)


def new_certno(gender: str = "1") -> tuple[str, dt.date]:
    rnd = random.SystemRandom()
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rnd.randrange(0, 25_000))
    seq = rnd.randrange(0, 50) * 2 + (1 if gender == "1" else 0)  # odd = male
    head = f"99{rnd.randrange(0, 10_000):04d}{birth:%Y%m%d}{rnd.randrange(0, 10)}{seq:02d}"
    return make_certno(head), birth


def person_record(psn_no: str, *, enrollments=(), identities=(), chronic=(), gender="1", social_card=None,
                  balance_fen=0):
    from services.refdata.records import PersonRecord

    certno, birth = new_certno(gender)
    return PersonRecord(psn_no=psn_no, certno=certno, name="测试" + psn_no[-4:], gender=gender, birthdate=birth,
                        enrollments=tuple(enrollments), identities=tuple(identities), chronic=tuple(chronic),
                        filings=(), account_balance_fen=balance_fen, social_card=social_card, cvlserv=False)


def enrollment(pool=POOL_A, insutype="390", start=date(1, 1), end=date(12, 31), status="active",
               psn_type=None):
    from services.refdata.records import EnrollmentRecord

    return EnrollmentRecord(pool=pool, insutype=insutype, year=start.year,
                            psn_type=psn_type or ("resident" if insutype == "390" else "employee"),
                            benefit_start=start, benefit_end=end, status=status)


async def store_persons(db_pool, records) -> int:
    """As the reference loader does: eligibility's upsert_persons inside a transaction of ours."""
    from services.eligibility.reference_load import upsert_persons

    async with db_pool.acquire() as conn:
        async with conn.transaction():
            return await upsert_persons(conn, records)
