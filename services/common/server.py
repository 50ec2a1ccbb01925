"""Run one grpc.aio server process: health checking, interceptors, clean shutdown.

Each service's composition root (services/<name>/main.py) builds its resources, then calls
`run_grpc_service` with a function that registers its servicer. On SIGINT/SIGTERM the health
status turns NOT_SERVING, in-flight calls get `shutdown_grace_s` to finish, then the root's
cleanup closes pools and channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common.telemetry import InstrumentedServer

log = logging.getLogger(__name__)


async def run_grpc_service(
    *,
    name: str,
    service_full_name: str,
    port: int,
    register: Callable[[aio.Server], None],
    cleanup: Callable[[], Awaitable[None]],
    grace_s: float = 10.0,
    host: str | None = None,
    stop_event: asyncio.Event | None = None,
) -> None:
    host = host or os.environ.get("GRPC_HOST", "127.0.0.1")  # 0.0.0.0 in containers
    # SO_REUSEPORT only when asked (MEDSETTLE_REUSE_PORT=1): otherwise a second suite on the same
    # port must fail to start rather than silently share traffic.
    reuse = os.environ.get("MEDSETTLE_REUSE_PORT", "0") == "1"
    server = aio.server(options=(("grpc.so_reuseport", 1 if reuse else 0),))
    register(InstrumentedServer(server))  # tracing + refusal mapping, wrapped once per method
    health_servicer = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        await cleanup()
        raise SystemExit(f"{name}: cannot listen on {host}:{port}: the port is in use (another medsettle "
                         "suite?) — stop it or choose another port with the *_PORT variables")
    await server.start()
    for svc in ("", service_full_name):
        await _set(health_servicer, svc, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"service_name": name, "port": port})

    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"service_name": name})
    for svc in ("", service_full_name):
        await _set(health_servicer, svc, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace_s)
    await cleanup()
    log.info("stopped", extra={"service_name": name})


async def _set(servicer, svc: str, status) -> None:
    result = servicer.set(svc, status)
    if asyncio.iscoroutine(result):
        await result
