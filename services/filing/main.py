"""Composition root of the filing process (`python -m services.filing.main`).

Opens, on the process's one exit stack (services/common/bootstrap.py): the PostgreSQL pool, the
reference cache (pools and policies, reloaded on NOTIFY), the eligibility channel; builds the
service with the process's one business clock and serves gRPC on FILING_PORT. Everything is
closed in reverse order on shutdown. Nothing is built at import time.
"""

from __future__ import annotations

from services.common import bootstrap


async def compose(proc: bootstrap.Process) -> None:
    from medsettle.eligibility.v1 import eligibility_pb2_grpc
    from services.filing.eligibility_client import EligibilityClient
    from services.filing.server import SERVICE_FULL_NAME, register
    from services.filing.service import FilingService

    s = proc.settings
    pool = await proc.pool()
    reference = await proc.reference_cache(pool)
    eligibility = EligibilityClient(eligibility_pb2_grpc.EligibilityServiceStub(proc.channel(s.eligibility_addr, "eligibility")),
                                    deadline_s=s.grpc_deadline_s)
    service = FilingService(pool, reference, eligibility, clock=proc.clock.today)
    await proc.serve_grpc(SERVICE_FULL_NAME, s.filing_port, lambda server: register(server, service))


def main() -> None:
    bootstrap.run("filing", compose)


if __name__ == "__main__":
    main()
