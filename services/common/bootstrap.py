"""The one composition-root skeleton of every process (gateway/main.py, services/*/main.py).

    def main() -> None:
        bootstrap.run("settlement", compose)

    async def compose(proc: bootstrap.Process) -> None:
        pool = await proc.pool()
        ...                                    # build the service from what proc opened
        await proc.serve_grpc(SERVICE_FULL_NAME, proc.settings.settlement_port, lambda s: register(s, service))

`run` reads the Settings (the only reader of the environment, services/common/config.py), sets
up telemetry (tracing, JSON logs), builds the process's one business Clock, and opens ONE
contextlib.AsyncExitStack; the process's Prometheus metrics (services/common/metrics.py) are
served first, on its *_METRICS_PORT. Everything opened through `Process` (pools, Redis clients, channels,
caches, listeners, background tasks) is pushed on that stack as it is opened, and closed in
reverse order when serving ends, after in-flight calls have finished, or at once when building
fails half-way. DATABASE_URL / REDIS_URL, when unset, resolve to the embedded servers (only the
ones the process uses); `medsettle up` always sets both.

SIGTERM/SIGINT end serving. Their handlers are installed once the server listens (a signal during
start-up ends the process at once, as the default disposition does); then the gRPC health turns
NOT_SERVING (or the gateway stops listening), in-flight calls get SHUTDOWN_GRACE_S to finish,
the stack unwinds, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from services.common import metrics, telemetry
from services.common.clock import Clock
from services.common.config import Settings

log = logging.getLogger(__name__)

class _Closable(Protocol):
    async def aclose(self) -> None: ...


T = TypeVar("T", bound=_Closable)


@dataclasses.dataclass
class Process:
    """What a composition root builds with: settings, the one business clock, the one exit stack."""

    name: str
    settings: Settings
    stack: contextlib.AsyncExitStack
    clock: Clock = dataclasses.field(default_factory=Clock)  # the process's one business clock (Beijing)

    # ------------------------------------------------------------------ endpoints

    @property
    def database_url(self) -> str:
        if self.settings.database_url is None:
            self._resolve(database=True)
        assert self.settings.database_url is not None  # _resolve sets it (or exits)
        return self.settings.database_url

    @property
    def redis_url(self) -> str:
        if self.settings.redis_url is None:
            self._resolve(redis=True)
        assert self.settings.redis_url is not None  # _resolve sets it (or exits)
        return self.settings.redis_url

    def _resolve(self, *, database: bool = False, redis: bool = False) -> None:
        from services.common import embedded

        s = self.settings
        # embedded.resolve starts what is None: mark the one not asked for as present.
        ep = embedded.resolve(dataclasses.replace(s, database_url=s.database_url if database else "-",
                                                  redis_url=s.redis_url if redis else "-"))
        self.settings = dataclasses.replace(s, database_url=ep.database_url if database else s.database_url,
                                            redis_url=ep.redis_url if redis else s.redis_url)

    # ------------------------------------------------------------------ resources, closed by the stack

    async def pool(self, *, min_size: int | None = None, max_size: int | None = None, reset=None):
        """The asyncpg pool (DB_POOL_MIN / DB_POOL_MAX unless given)."""
        from services.common.db import create_pool

        pool = await create_pool(self.database_url,
                                 min_size=self.settings.db_pool_min if min_size is None else min_size,
                                 max_size=self.settings.db_pool_max if max_size is None else max_size, reset=reset)
        self.stack.push_async_callback(pool.close)
        self.stack.callback(metrics.watch_pool(self.name, pool))  # saturation, read when scraped
        return pool

    async def reference_cache(self, pool):
        """The reference-data cache, loaded and following changes (NOTIFY)."""
        from services.refdata.cache import ReferenceCache

        cache = await ReferenceCache.load(pool)
        self.stack.push_async_callback(cache.close)
        await cache.listen(pool)
        return cache

    def redis(self, build: Callable[[str], T]) -> T:
        """A Redis client for REDIS_URL, built by `build(url)` (the process chooses its timeouts)."""
        client = build(self.redis_url)
        self.stack.push_async_callback(client.aclose)
        return client

    def channel(self, addr: str, name: str | None = None) -> telemetry.TracedChannel:
        """One long-lived traced gRPC channel to `addr`; its calls are reported in the metrics as
        target `name` (the service's name; the address when not given)."""
        channel = telemetry.traced_channel(addr)
        self.stack.push_async_callback(channel.close)
        self.stack.callback(metrics.watch_channel(name or addr, channel))
        return channel

    def background(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task:
        """A task of the process, cancelled when it stops."""
        task = asyncio.get_running_loop().create_task(coro, name=name)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.stack.push_async_callback(cancel)
        return task

    # ------------------------------------------------------------------ serving

    async def serve_metrics(self) -> None:
        """Prometheus metrics on METRICS_HOST and this process's *_METRICS_PORT (none when 0),
        until the stack closes (last: a scrape during shutdown still answers)."""
        port = self.settings.metrics_port(self.name)
        if port:
            runner = await metrics.serve(self.settings.metrics_host, port, self.name)
            self.stack.push_async_callback(runner.cleanup)

    async def until_stopped(self) -> None:
        """Until SIGTERM or SIGINT (handlers installed now, by the server once it listens)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    async def serve_grpc(self, service_full_name: str, port: int, register: Callable[[Any], None]) -> None:
        """Serve gRPC on GRPC_HOST:port until a signal; in-flight calls get SHUTDOWN_GRACE_S."""
        from services.common.server import run_grpc_service

        s = self.settings
        await run_grpc_service(name=self.name, service_full_name=service_full_name, host=s.grpc_host, port=port,
                               register=register, until_stopped=self.until_stopped, grace_s=s.shutdown_grace_s,
                               reuse_port=s.reuse_port)

    async def serve_http(self, app, host: str, port: int, server_options: dict[str, Any] | None = None) -> None:
        """Serve an aiohttp app until a signal: stop listening, let in-flight requests finish
        (SHUTDOWN_GRACE_S), run the app's own cleanup; the stack closes the rest afterwards.
        `server_options`: aiohttp's request-handler arguments (max_line_size, max_field_size)."""
        from aiohttp import web

        s = self.settings
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=s.shutdown_grace_s, access_log=None,
                               **(server_options or {}))
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_port=s.reuse_port, shutdown_timeout=s.shutdown_grace_s)
            await site.start()
            log.info("serving", extra={"service_name": self.name, "port": port})
            await self.until_stopped()
            log.info("shutting down", extra={"service_name": self.name})
        finally:
            await runner.cleanup()


@contextlib.asynccontextmanager
async def opened(name: str, settings: Settings, clock: Clock | None = None):
    """A Process whose resources are closed, in reverse order, when the block ends (tests use this
    to build a service as its main.py does)."""
    async with contextlib.AsyncExitStack() as stack:
        yield Process(name, settings, stack, clock or Clock())


def run(name: str, compose: Callable[[Process], Awaitable[None]], settings: Settings | None = None,
        secrets: tuple[str, ...] = ()) -> None:
    """The whole life of one process: settings, telemetry, `compose(process)` (which builds and
    serves), everything it opened closed, telemetry flushed. `secrets` names the Settings fields
    this process needs filled (services/common/secrets.py): configured, else this installation's
    own; a publicly known or weak value ends the process before it serves, saying why (exit 2)."""
    from services.common import secrets as installation

    settings = settings if settings is not None else Settings.from_env()
    telemetry.setup(name, settings)
    try:
        settings = installation.resolved(settings, *secrets)
    except installation.SecretRefused as refused:
        log.error("refusing to start: %s", refused, extra={"service_name": name})
        print(f"{name}: refusing to start: {refused}", file=sys.stderr)
        telemetry.shutdown()
        raise SystemExit(2) from None
    try:
        asyncio.run(_serve(name, settings, compose))
    finally:
        telemetry.shutdown()


async def _serve(name: str, settings: Settings, compose: Callable[[Process], Awaitable[None]]) -> None:
    async with opened(name, settings) as process:
        await process.serve_metrics()
        await compose(process)
    log.info("stopped", extra={"service_name": name})
