"""Composition root of the settlement process (`python -m services.settlement.main`).

Opens, on the process's one exit stack (services/common/bootstrap.py): the asyncpg pool, the
reference cache (following changes), the eligibility and filing channels; builds the service
with the process's one business clock and serves gRPC on SETTLEMENT_PORT. Everything is closed
in reverse order on shutdown. Nothing is built at import time.
"""

from __future__ import annotations

from services.common import bootstrap


async def compose(proc: bootstrap.Process) -> None:
    from services.settlement.eligibility_client import EligibilityClient
    from services.settlement.filing_client import FilingClient
    from services.settlement.repository import keep_session
    from services.settlement.server import SERVICE_FULL_NAME, register
    from services.settlement.service import SettlementService

    s = proc.settings
    pool = await proc.pool(reset=keep_session)
    reference = await proc.reference_cache(pool)
    eligibility = EligibilityClient(proc.channel(s.eligibility_addr, "eligibility"), s.grpc_deadline_s)
    filing = FilingClient(proc.channel(s.filing_addr, "filing"), s.grpc_deadline_s)
    service = SettlementService(pool, reference, eligibility, filing, clock=proc.clock.now)
    await proc.serve_grpc(SERVICE_FULL_NAME, s.settlement_port, lambda server: register(server, service))


def main() -> None:
    bootstrap.run("settlement", compose)


if __name__ == "__main__":
    main()
