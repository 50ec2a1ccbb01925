"""Composition root of the settlement process (`python -m services.settlement.main`).

Builds settings, telemetry, the asyncpg pool, the reference cache (following changes), the
eligibility and filing channels, the service and its servicer; serves gRPC on
settings.settlement_port; closes everything on shutdown. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio

from services.common import telemetry
from services.common.clock import Clock
from services.common.config import Settings
from services.common.db import create_pool
from services.common.server import run_grpc_service
from services.refdata.cache import ReferenceCache
from services.settlement.clients import EligibilityClient, FilingClient
from services.settlement.repository import keep_session
from services.settlement.server import SERVICE_FULL_NAME, register
from services.settlement.service import SettlementService


async def serve(settings: Settings) -> None:
    telemetry.setup("settlement")
    if settings.database_url is None:
        from services.common import embedded

        database_url = embedded.resolve(settings).database_url
    else:
        database_url = settings.database_url
    pool = await create_pool(database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                             reset=keep_session)
    refs = await ReferenceCache.load(pool)
    await refs.listen(pool)
    eligibility_channel = telemetry.traced_channel(settings.eligibility_addr)
    filing_channel = telemetry.traced_channel(settings.filing_addr)
    service = SettlementService(pool, refs, EligibilityClient(eligibility_channel, settings.grpc_deadline_s),
                                FilingClient(filing_channel, settings.grpc_deadline_s),
                                clock=Clock().now)  # the process's one business clock (Beijing time)

    async def cleanup() -> None:
        await refs.close()
        await eligibility_channel.close()
        await filing_channel.close()
        await pool.close()
        telemetry.shutdown()

    await run_grpc_service(name="settlement", service_full_name=SERVICE_FULL_NAME, port=settings.settlement_port,
                           register=lambda server: register(server, service), cleanup=cleanup,
                           grace_s=settings.shutdown_grace_s)


def main() -> None:
    asyncio.run(serve(Settings.from_env()))


if __name__ == "__main__":
    main()
