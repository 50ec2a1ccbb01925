"""Shared fixtures: real PostgreSQL and Redis (embedded by default, external via DATABASE_URL /
REDIS_URL), migrated once per session; and, for e2e tests, the whole suite started as real
processes on test ports with the demo data loaded.

Tests isolate themselves with unique ids (psn_no, msgid), so the suite never needs a reset.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import pytest_asyncio

from services.common.config import REPO_ROOT

# The suite's processes run in a host zone five hours west of UTC (POSIX TZ, no tz database
# needed), thirteen hours from Beijing: a time read from the host's zone cannot pass for Beijing's.
HOST_TZ = "XST+5"


def _faked_clock_tag() -> str:
    """Under libfaketime (`faketime '2027-01-05 10:00:00' make test`), a tag of the faked date.

    A test database that has lived at a later date cannot go back: a month cleared there stays
    frozen for good (later bookings of it go into the next open month). So each faked date gets servers of its own, and the
    real-date database never sees a faked future."""
    if not os.environ.get("FAKETIME"):
        return ""
    # The faked UTC date and hour as read from the faked clock: faketime's FAKETIME is an offset
    # from the real time ("+2717076"), different at every run, which gave each run new servers
    # (and a Redis port that could collide with an earlier run's still listening).
    import time

    return time.strftime("%Y%m%d%H", time.gmtime())


_FAKED = _faked_clock_tag()
TEST_DATA_DIR = Path(os.environ.get("MEDSETTLE_TEST_DATA_DIR",
                                    REPO_ROOT / ".data" / (f"test-faked-{_FAKED}" if _FAKED else "test")))
# Each faked date's servers are kept between runs beside the real date's, so each needs a Redis port of
# its own: MEDSETTLE_TEST_REDIS_PORT (default 6391) is the real date's; a faked date takes that plus
# 9 + (a hash of its tag mod 50), e.g. the two dates of `make e2e-faked` 6391 -> 6440 and 6449.
_REDIS_BASE = int(os.environ.get("MEDSETTLE_TEST_REDIS_PORT", "6391"))
TEST_REDIS_PORT = _REDIS_BASE + 9 + sum(map(ord, _FAKED)) % 50 if _FAKED else _REDIS_BASE


def _settings_for_tests():
    from services.common.config import Settings

    os.environ.setdefault("MEDSETTLE_DATA_DIR", str(TEST_DATA_DIR))
    os.environ.setdefault("MEDSETTLE_REDIS_PORT", str(TEST_REDIS_PORT))
    return Settings.from_env()


@pytest.fixture(scope="session")
def endpoints():
    """(database_url, redis_url) of real, migrated servers."""
    import asyncio

    from services.common import db, embedded

    settings = _settings_for_tests()
    ep = embedded.resolve(settings)
    asyncio.run(db.migrate(ep.database_url))
    return ep


@pytest.fixture(scope="session")
def database_url(endpoints) -> str:
    return endpoints.database_url


@pytest.fixture(scope="session")
def redis_url(endpoints) -> str:
    return endpoints.redis_url


@pytest_asyncio.fixture(scope="session")
async def db_pool(database_url):
    from services.common.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session")
async def demo_loaded(db_pool):
    """The demo reference data for this (Beijing) year, loaded once (loading is idempotent)."""
    from services.refdata.cli import demo_document
    from services.refdata.store import load_document

    doc = demo_document()
    await load_document(db_pool, doc)
    return doc


@pytest.fixture
def uid() -> str:
    """A short unique suffix for ids that must not collide across tests and runs."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def suite_admin_token():
    """The admin API token of this test run: a fresh one per run (no known token opens the admin API).
    Every suite a test starts on the shared test database registers this same one: the gateway makes
    MEDSETTLE_ADMIN_TOKEN the admin's bootstrap token and a different one would replace it."""
    import secrets

    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def suite(endpoints, tmp_path_factory, suite_admin_token):
    """The whole suite as real processes on test ports, demo data loaded; yields the Suite."""
    import asyncio

    from services import launcher
    from services.common.config import Settings
    from services.refdata.cli import DEMO, load_file

    base = int(os.environ.get("MEDSETTLE_TEST_PORT_BASE", "51050"))  # lets two checkouts test side by side
    ports = {"ELIGIBILITY_PORT": str(base + 1), "FILING_PORT": str(base + 2), "SETTLEMENT_PORT": str(base + 3),
             "GATEWAY_PORT": os.environ.get("MEDSETTLE_TEST_GATEWAY_PORT", "18080"),
             # Prometheus metrics of each process, in the same range (tests/e2e/test_metrics.py scrapes them)
             "GATEWAY_METRICS_PORT": str(base + 10), "ELIGIBILITY_METRICS_PORT": str(base + 11),
             "FILING_METRICS_PORT": str(base + 12), "SETTLEMENT_METRICS_PORT": str(base + 13)}
    trace_file = tmp_path_factory.mktemp("traces") / "spans.jsonl"
    admin_token = suite_admin_token
    extra = dict(ports, MEDSETTLE_TRACE_FILE=str(trace_file), MEDSETTLE_ADMIN_TOKEN=admin_token,
                 RATE_LIMIT_PER_S=os.environ.get("RATE_LIMIT_PER_S", "2000"), TZ=HOST_TZ,
                 # many sign-ups from 127.0.0.1 (tests/e2e/test_portal.py); the per-number limits stay
                 PORTAL_CODES_PER_CLIENT="0")
    settings = Settings.from_env({**os.environ, **extra})
    assert asyncio.run(load_file(endpoints.database_url, DEMO, redis_url=endpoints.redis_url)) == 0
    s = launcher.Suite(settings, endpoints.database_url, endpoints.redis_url)
    log_dir = str(tmp_path_factory.mktemp("suite-logs"))
    s.start(extra_env=extra, log_dir=log_dir)
    try:
        s.wait_healthy(90)
    except Exception:
        s.stop()
        for name in ("eligibility", "filing", "settlement", "gateway"):
            p = Path(log_dir) / f"{name}.log"
            if p.exists():
                print(f"--- {name} log ---\n" + p.read_text()[-4000:])
        raise
    s.trace_file = trace_file
    s.log_dir = log_dir
    s.admin_token = admin_token
    s.host_tz = HOST_TZ
    yield s
    s.stop()
