"""Composition root of the gateway process (`python -m gateway.main`).

Opens, on the process's one exit stack (services/common/bootstrap.py): a small asyncpg pool (the
reference cache with change notification, and the admin reference loader), the reference cache,
Redis, one long-lived traced gRPC channel per service; builds the aiohttp app with the process's
one business clock and serves HTTP on GATEWAY_HOST:GATEWAY_PORT. On SIGTERM/SIGINT the listener
closes, in-flight requests get SHUTDOWN_GRACE_S to finish, then channels, Redis, the cache and
the pool are closed in reverse order. Nothing is built at import time.
"""

from __future__ import annotations

from services.common import bootstrap


async def compose(proc: bootstrap.Process) -> None:
    from grpc_health.v1 import health_pb2_grpc

    from gateway.app import SERVER_OPTIONS, init_app
    from gateway.deps import Deps
    from gateway.his.dispatch import Stubs
    from gateway.his.security import redis_client_options
    from medsettle.eligibility.v1 import eligibility_pb2_grpc
    from medsettle.filing.v1 import filing_pb2_grpc
    from medsettle.settlement.v1 import settlement_pb2_grpc
    from services.common import telemetry

    s = proc.settings
    # The gateway reads reference data and runs the occasional admin load: a small pool.
    pool = await proc.pool(min_size=1, max_size=max(2, min(s.db_pool_max, 4)))
    reference = await proc.reference_cache(pool)
    timeout_s = s.gateway_redis_timeout_s
    redis = proc.redis(lambda url: telemetry.traced_redis(url, **redis_client_options(timeout_s)))
    channels = {name: proc.channel(addr, name) for name, addr in (
        ("eligibility", s.eligibility_addr), ("filing", s.filing_addr), ("settlement", s.settlement_addr))}
    deps = Deps(cache=reference, redis=redis, db_pool=pool,
                stubs=Stubs(eligibility=eligibility_pb2_grpc.EligibilityServiceStub(channels["eligibility"]),
                            filing=filing_pb2_grpc.FilingServiceStub(channels["filing"]),
                            settlement=settlement_pb2_grpc.SettlementServiceStub(channels["settlement"])),
                health={name: health_pb2_grpc.HealthStub(ch) for name, ch in channels.items()})
    from gateway.mobilepay.provider import build_provider
    from gateway.mobilepay.repository import OrderRepository
    from gateway.mobilepay.service import MobilePay

    orders = OrderRepository(pool)
    deps.extra["mobilepay"] = MobilePay(
        repo=orders, provider=build_provider(s.payment_provider, orders, proc.clock), settlement=deps.stubs.settlement,
        clock=proc.clock, secret=s.session_secret or "", timeout_s=s.grpc_deadline_s, public_url=s.gateway_public_url)
    app = init_app(proc.settings, deps, clock=proc.clock)
    await proc.serve_http(app, s.gateway_host, s.gateway_port, server_options=SERVER_OPTIONS)


def main() -> None:
    bootstrap.run("gateway", compose, secrets=("admin_token", "session_secret"))


if __name__ == "__main__":
    main()
