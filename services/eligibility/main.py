"""Composition root of the eligibility process: `python -m services.eligibility.main`.

Builds settings, telemetry, the PostgreSQL pool, Redis, the reference cache, the person cache
and its change listener, the service and its servicer; serves gRPC on
settings.eligibility_port; closes everything on shutdown. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.common import telemetry
from services.common.config import Settings
from services.common.db import create_pool
from services.common.server import run_grpc_service

log = logging.getLogger("services.eligibility")

# Redis must fail fast: a slow cache is worse than none (the service answers from PostgreSQL).
REDIS_TIMEOUT_S = 0.25
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


async def build(settings: Settings):
    """Everything the servicer needs; returns (service, closers) for tests and main alike."""
    from services.common.clock import Clock
    from services.eligibility.cache import ChangeListener, PersonCache
    from services.eligibility.repository import EligibilityRepository
    from services.eligibility.service import EligibilityService
    from services.eligibility.tokens import EvoucherSigner
    from services.refdata.cache import ReferenceCache

    if not settings.database_url or not settings.redis_url:
        raise SystemExit("eligibility: DATABASE_URL and REDIS_URL must be set (services/launcher.py sets them)")
    pool = await create_pool(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    redis = redis_client(settings.redis_url)
    reference = await ReferenceCache.load(pool)
    await reference.listen(pool)
    repo = EligibilityRepository(pool)
    cache = PersonCache(redis, repo.load_person, ttl_s=settings.eligibility_cache_ttl_s, op_timeout_s=REDIS_TIMEOUT_S)
    listener = ChangeListener(pool, cache)
    await listener.start()
    clock = Clock()  # the process's one business clock (Beijing time)
    service = EligibilityService(repo=repo, cache=cache, reference=reference, redis=redis,
                                 signer=EvoucherSigner(settings.evoucher_secret, settings.evoucher_ttl_s),
                                 today=clock.today, clock=clock.timestamp)

    async def close() -> None:
        await listener.close()
        cache.close()
        await reference.close()
        await redis.aclose()
        await pool.close()

    return service, close


async def serve() -> None:
    from services.eligibility.server import SERVICE_FULL_NAME, register

    settings = Settings.from_env()
    telemetry.setup("eligibility")
    service, close = await build(settings)

    async def report_metrics() -> None:
        while True:
            await asyncio.sleep(METRICS_EVERY_S)
            service.cache.log_metrics()

    metrics_task = asyncio.get_running_loop().create_task(report_metrics())

    async def cleanup() -> None:
        metrics_task.cancel()
        service.cache.log_metrics()
        await close()
        telemetry.shutdown()

    await run_grpc_service(name="eligibility", service_full_name=SERVICE_FULL_NAME, port=settings.eligibility_port,
                           register=lambda server: register(server, service), cleanup=cleanup,
                           grace_s=settings.shutdown_grace_s)


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
