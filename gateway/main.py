"""The gateway process's ONE composition root: `python -m gateway.main`.

Builds settings, tracing, the asyncpg pool (reference cache with change notification, and the
admin reference loader), Redis, one long-lived traced gRPC channel per service, then serves HTTP
until SIGTERM/SIGINT: the listener closes, in-flight requests get `shutdown_grace_s` to finish,
then channels, Redis, the cache and the pool are closed (aiohttp cleanup_ctx).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web
from grpc_health.v1 import health_pb2_grpc

from gateway.app import init_app
from gateway.deps import Deps
from gateway.his.dispatch import Stubs
from medsettle.eligibility.v1 import eligibility_pb2_grpc
from medsettle.filing.v1 import filing_pb2_grpc
from medsettle.settlement.v1 import settlement_pb2_grpc
from services.common import telemetry
from services.common.clock import system_clock
from services.common.config import Settings

log = logging.getLogger("gateway")


def open_deps(settings: Settings):
    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Deps]:
        from services.common.db import create_pool
        from services.refdata.cache import ReferenceCache

        async with contextlib.AsyncExitStack() as stack:
            # The gateway reads reference data and runs the occasional admin load: a small pool.
            pool = await create_pool(settings.database_url, min_size=1, max_size=max(2, min(settings.db_pool_max, 4)))
            stack.push_async_callback(pool.close)
            cache = await ReferenceCache.load(pool)
            stack.push_async_callback(cache.close)
            await cache.listen(pool)
            redis = telemetry.traced_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            channels = {name: telemetry.traced_channel(addr) for name, addr in (
                ("eligibility", settings.eligibility_addr), ("filing", settings.filing_addr),
                ("settlement", settings.settlement_addr))}
            for ch in channels.values():
                stack.push_async_callback(ch.close)
            yield Deps(
                cache=cache, redis=redis, db_pool=pool,
                stubs=Stubs(eligibility=eligibility_pb2_grpc.EligibilityServiceStub(channels["eligibility"]),
                            filing=filing_pb2_grpc.FilingServiceStub(channels["filing"]),
                            settlement=settlement_pb2_grpc.SettlementServiceStub(channels["settlement"])),
                health={name: health_pb2_grpc.HealthStub(ch) for name, ch in channels.items()})
    return opened


async def serve(settings: Settings) -> None:
    if not settings.database_url or not settings.redis_url:
        from dataclasses import replace

        from services.common import embedded

        ep = embedded.resolve(settings)
        settings = replace(settings, database_url=ep.database_url, redis_url=ep.redis_url)
    app = init_app(settings, open_deps(settings), clock=system_clock())
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s,
                           access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.gateway_host, settings.gateway_port, reuse_port=settings.reuse_port,
                       shutdown_timeout=settings.shutdown_grace_s)
    await site.start()
    log.info("serving", extra={"service_name": "gateway", "port": settings.gateway_port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"service_name": "gateway"})
    await runner.cleanup()  # stop listening, let in-flight requests finish, then close resources
    log.info("stopped", extra={"service_name": "gateway"})


def main() -> None:
    settings = Settings.from_env()
    telemetry.setup("gateway")
    try:
        asyncio.run(serve(settings))
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
