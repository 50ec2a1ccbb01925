"""Run one grpc.aio server: method wrappers, health checking, clean shutdown.

Every method a servicer registers is wrapped HERE, once, at registration, by two plain wrappers
composed in `wrap_method`: grpcutil.with_refusals (Refusal -> gRPC error with outcome metadata,
anything unexpected -> a clean INTERNAL) inside telemetry.server_span (the SERVER span, child of
the caller's trace). They are plain wrappers, not grpc.aio interceptors: an aio interceptor costs
~100-200 µs of CPU per call on these machines (measured), a wrapper a few µs.

The process around the server (settings, telemetry, resources on one exit stack, signals) is
services/common/bootstrap.py's: `run_grpc_service` serves until `until_stopped()` returns, then
health turns NOT_SERVING and in-flight calls get `grace_s` to finish; the caller's exit stack
closes pools and channels afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common.grpcutil import with_refusals
from services.common.telemetry import server_span

log = logging.getLogger(__name__)


def wrap_method(method: str, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
    """The one place a unary method's behaviour is wrapped: refusal mapping inside the SERVER span
    (the span sees the mapped outcome; a refusal leaves it OK)."""
    if handler is None or handler.unary_unary is None:
        return handler
    behaviour = server_span(with_refusals(handler.unary_unary, method), method)
    return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=handler.request_deserializer,
                                               response_serializer=handler.response_serializer)


class _WrappedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler):
        self._inner = inner
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details):
        method = handler_call_details.method
        handler = self._cache.get(method)
        if handler is None:
            handler = wrap_method(method, self._inner.service(handler_call_details))
            if handler is not None:
                self._cache[method] = handler
        return handler


class InstrumentedServer:
    """What a service's `register(server)` sees: every method added through it is wrapped by
    `wrap_method`, once per method."""

    def __init__(self, server: aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(_WrappedGenericHandler(h) for h in handlers))

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict) -> None:
        self._server.add_registered_method_handlers(
            service_name, {m: wrap_method(f"/{service_name}/{m}", h) for m, h in method_handlers.items()})

    def __getattr__(self, name):
        return getattr(self._server, name)


async def run_grpc_service(
    *,
    name: str,
    service_full_name: str,
    host: str,
    port: int,
    register: Callable[[InstrumentedServer], None],
    until_stopped: Callable[[], Awaitable[None]],
    grace_s: float = 10.0,
    reuse_port: bool = False,
) -> None:
    # SO_REUSEPORT only when asked (MEDSETTLE_REUSE_PORT=1): otherwise a second suite on the same
    # port must fail to start rather than silently share traffic.
    server = aio.server(options=(("grpc.so_reuseport", 1 if reuse_port else 0),))
    register(InstrumentedServer(server))
    health_servicer = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise SystemExit(f"{name}: cannot listen on {host}:{port}: the port is in use (another medsettle "
                         "suite?) — stop it or choose another port with the *_PORT variables")
    await server.start()
    for svc in ("", service_full_name):
        await _set(health_servicer, svc, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"service_name": name, "port": port})

    await until_stopped()
    log.info("shutting down", extra={"service_name": name})
    for svc in ("", service_full_name):
        await _set(health_servicer, svc, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace_s)


async def _set(servicer, svc: str, status) -> None:
    result = servicer.set(svc, status)
    if asyncio.iscoroutine(result):
        await result
