"""Composition root of the eligibility process (`python -m services.eligibility.main`).

Opens, on the process's one exit stack (services/common/bootstrap.py): the PostgreSQL pool,
Redis (fail fast), the reference cache, the person cache and its change listener, the metrics
reporter (a log line a minute), the Prometheus sources (the cache's counters, the bulk import's
totals, read when scraped), the channel to the filing service (2001 asks it about a cross-region
visit); builds the service with the process's one business clock and serves gRPC on
ELIGIBILITY_PORT. Everything is closed in reverse order on shutdown. Nothing is built at import
time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.common import bootstrap, config, metrics, telemetry
from services.common.config import Settings

# Redis must fail fast: a slow cache is worse than none (the service answers from PostgreSQL).
# The process uses Settings.eligibility_redis_timeout_s (ELIGIBILITY_REDIS_TIMEOUT_S); this is
# its default, for clients built without Settings (tests).
REDIS_TIMEOUT_S: float = config.default("ELIGIBILITY_REDIS_TIMEOUT_S")
METRICS_EVERY_S = 60.0
REDIS_CONNECTIONS = 32


def redis_client(url: str, timeout_s: float = REDIS_TIMEOUT_S):
    """Fail-fast Redis client. A bounded, blocking pool: under a burst of concurrent lookups,
    callers queue for one of a few warm connections instead of each opening a new one (opening
    hundreds at once is what made lookups slow). One immediate retry lets a pooled connection
    broken by a Redis restart reconnect at once."""
    from redis.asyncio import BlockingConnectionPool

    client = telemetry.traced_redis(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                    retry=Retry(NoBackoff(), 1))
    # traced_redis builds a default (unbounded) pool from the URL and has no pool argument; no
    # connection is open yet, so swapping in the bounded pool before first use is safe.
    client.connection_pool = BlockingConnectionPool.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 1),
        max_connections=REDIS_CONNECTIONS, timeout=timeout_s)
    return client


async def open_service(proc: bootstrap.Process):
    """The service, everything it needs opened on `proc`'s exit stack."""
    from services.common import secrets
    from services.eligibility.cache import ChangeListener, PersonCache
    from services.eligibility.filing_client import FilingClient
    from services.eligibility.repository import EligibilityRepository
    from services.eligibility.service import EligibilityService
    from services.eligibility.tokens import EvoucherSigner

    s = secrets.resolved(proc.settings, "evoucher_secret")  # run() has filled it; a test's Settings may not have
    timeout_s = s.eligibility_redis_timeout_s
    pool = await proc.pool()
    redis = proc.redis(lambda url: redis_client(url, timeout_s))
    reference = await proc.reference_cache(pool)
    repo = EligibilityRepository(pool)
    cache = PersonCache(redis, repo.load_person, ttl_s=s.eligibility_cache_ttl_s, op_timeout_s=timeout_s)
    proc.stack.callback(cache.close)
    listener = ChangeListener(pool, cache)
    await listener.start()
    proc.stack.push_async_callback(listener.close)
    return EligibilityService(repo=repo, cache=cache, reference=reference, redis=redis,
                              signer=EvoucherSigner(s.evoucher_secret or "", s.evoucher_ttl_s),
                              today=proc.clock.today, clock=proc.clock.timestamp,
                              filing=FilingClient(proc.channel(s.filing_addr), s.grpc_deadline_s))


async def build(settings: Settings):
    """(service, close) built as the process builds it, for tests that serve it themselves."""
    stack = contextlib.AsyncExitStack()
    try:
        service = await open_service(bootstrap.Process("eligibility", settings, stack))
    except BaseException:
        await stack.aclose()
        raise
    return service, stack.aclose


async def read_import_totals(repo) -> None:
    """The bulk import's totals for the metrics (the import is a process of its own that commits its
    progress in eligibility's tables): one read per scrape."""
    metrics.SOURCES.import_rows = await repo.import_totals()


async def compose(proc: bootstrap.Process) -> None:
    from services.eligibility.server import SERVICE_FULL_NAME, register

    service = await open_service(proc)
    proc.stack.callback(metrics.watch_cache("eligibility_person", service.cache))
    proc.stack.callback(metrics.on_scrape(lambda: read_import_totals(service.repo)))

    async def report_metrics() -> None:
        while True:
            await asyncio.sleep(METRICS_EVERY_S)
            service.cache.log_metrics()

    proc.stack.callback(service.cache.log_metrics)  # once more at shutdown, after the reporter stops
    proc.background(report_metrics(), name="eligibility-metrics")
    def add_servicer(server: Any) -> None:
        register(server, service)  # the servicer it returns is for tests; the server holds it

    await proc.serve_grpc(SERVICE_FULL_NAME, proc.settings.eligibility_port, add_servicer)


def main() -> None:
    bootstrap.run("eligibility", compose, secrets=("evoucher_secret",))


if __name__ == "__main__":
    main()
