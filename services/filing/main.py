"""Composition root of the filing process (`python -m services.filing.main`).

Builds settings, telemetry, the PostgreSQL pool, the reference cache (pools and policies,
reloaded on NOTIFY), the eligibility channel, the service and its servicer, then serves gRPC on
settings.filing_port until SIGTERM; cleanup closes everything it opened, in reverse order.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def serve() -> None:
    from medsettle.eligibility.v1 import eligibility_pb2_grpc
    from services.common import telemetry
    from services.common.clock import Clock
    from services.common.config import Settings
    from services.common.db import create_pool
    from services.common.server import run_grpc_service
    from services.filing import server as filing_server
    from services.filing.service import EligibilityClient, FilingService
    from services.refdata.cache import ReferenceCache

    settings = Settings.from_env()
    telemetry.setup("filing")
    if not settings.database_url:
        raise SystemExit("filing: DATABASE_URL is not set")
    pool = await create_pool(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    cache = channel = None
    try:
        cache = await ReferenceCache.load(pool)
        await cache.listen(pool)
        channel = telemetry.traced_channel(settings.eligibility_addr)
        eligibility = EligibilityClient(eligibility_pb2_grpc.EligibilityServiceStub(channel),
                                        deadline_s=settings.grpc_deadline_s)
        service = FilingService(pool, cache, eligibility, clock=Clock().today)  # the one business clock
    except BaseException:
        await _close(pool, cache, channel)
        raise

    async def cleanup() -> None:
        await _close(pool, cache, channel)
        telemetry.shutdown()

    await run_grpc_service(
        name="filing", service_full_name=filing_server.SERVICE_FULL_NAME, port=settings.filing_port,
        register=lambda srv: filing_server.register(srv, service), cleanup=cleanup,
        grace_s=settings.shutdown_grace_s)


async def _close(pool, cache, channel) -> None:
    if channel is not None:
        await channel.close()
    if cache is not None:
        await cache.close()
    await pool.close()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
