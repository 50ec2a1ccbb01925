"""The gateway's aiohttp application: `init_app(settings, deps)`.

`deps` is either a ready `Deps` (tests that own their resources) or a zero-argument factory
returning an async context manager that yields one (the composition root, gateway/main.py):
then the resources are opened when the app starts and closed when it stops, after in-flight
requests have finished (aiohttp's cleanup_ctx).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway import rest
from gateway.console import app as console
from gateway.console import feed as console_feed
from gateway.deps import RUNTIME, SERVICE_NAMES, SETTINGS, Deps, Runtime
from gateway.his import endpoint
from gateway.his.security import Guard
from gateway.mobilepay import pages as mobilepay_pages
from gateway.portal import app as portal
from services.common.clock import Clock, system_clock
from services.common.config import Settings
from services.common.telemetry import tracer

log = logging.getLogger("gateway")

CLIENT_MAX_SIZE = 4 * 1024 * 1024  # a day's inpatient fee upload fits; anything bigger is refused with 413
HEALTH_TIMEOUT_S = 1.0
# What a request line (URL) and each header may hold: aiohttp's own defaults (8190 bytes), but
# enforced by limits_middleware so that the caller gets JSON (an envelope under /fsi) naming the
# header, not aiohttp's text/plain 400 echoing the input. The parser itself is given room up to
# PARSER_LIMIT so that such a request reaches the middleware; beyond it aiohttp still answers 400.
URL_LIMIT = 8190
HEADER_LIMIT = 8190
PARSER_LIMIT = 64 * 1024
SERVER_OPTIONS = {"max_line_size": PARSER_LIMIT, "max_field_size": PARSER_LIMIT}


@web.middleware
async def tracing_middleware(request: web.Request, handler):
    """A SERVER span per request, continuing the caller's W3C trace (traceparent) when given."""
    parent = propagate.extract(request.headers)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    with tracer("gateway").start_as_current_span(
            f"{request.method} {route}", context=parent, kind=SpanKind.SERVER,
            attributes={"http.method": request.method, "http.target": request.path[:200]}) as span:
        resp = await handler(request)
        span.set_attribute("http.status_code", resp.status)
        if resp.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return resp


def _failure_for(request: web.Request, status: int, outcome: str, message: str, retriable: bool = False,
                 field: str | None = None) -> web.Response:
    """Under /fsi (the HIS paths) a failure envelope with HTTP 200, whatever `status` was: HIS
    HTTP libraries throw on a 4xx/5xx and lose the message. Elsewhere (REST) a REST error with
    `status`."""
    if request.path.startswith("/console"):
        return web.Response(status=status, content_type="text/html", charset="utf-8",
                            text=f"<!doctype html><title>{status}</title><p>"
                                 f"{'页面不存在 (no such page)' if status == 404 else '请求被拒绝 (refused)'}"
                                 f" · <a href='/console/'>控制台 Console</a>")
    if request.path.startswith("/m/") and not request.path.startswith("/m/api/"):
        return web.Response(status=status, content_type="text/html", charset="utf-8",
                            text=f"<!doctype html><meta name=viewport content='width=device-width'><title>{status}"
                                 f"</title><p>{'页面不存在 (no such page)' if status == 404 else '请求被拒绝 (refused)'}"
                                 f" · <a href='/m/'>首页 Home</a>")
    if request.path.startswith("/fsi"):
        return endpoint.failure_response(outcome=outcome, message=message, retriable=retriable, field=field,
                                         clock=request.app[RUNTIME].clock)
    return rest.error(status, outcome, message, field)


_HTTP_OUTCOMES = {
    404: ("NOT_FOUND_PATH", "无此接口地址 (no such path; HIS transactions go to POST /fsi/api/rsfComIfsService/callService)"),
    405: ("METHOD_NOT_ALLOWED", "请求方法不被允许 (method not allowed: use POST for HIS transactions)"),
    413: ("BODY_TOO_LARGE", f"请求体过大, 上限 {CLIENT_MAX_SIZE // 1024 // 1024} MB (the body is too large; the limit "
                            f"is {CLIENT_MAX_SIZE // 1024 // 1024} MB: split the fee upload)"),
}


@web.middleware
async def errors_middleware(request: web.Request, handler):
    """Whatever happens, the caller gets JSON it can parse: a failure envelope (HTTP 200) under /fsi,
    a REST error with its status elsewhere. Never an HTML page or a stack trace."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        outcome, message = _HTTP_OUTCOMES.get(e.status, (f"HTTP_{e.status}", e.reason or "request refused"))
        return _failure_for(request, e.status, outcome, message, retriable=e.status >= 500)
    except asyncio.CancelledError:
        raise
    except Exception:  # a bug: logged with its trace id; the caller gets a clean, retriable failure
        log.exception("unhandled error", extra={"path": request.path[:200]})
        return _failure_for(request, 500, "INTERNAL", "网关内部错误, 请稍后重试或用 5203 查询 (internal gateway error; "
                                                      "retry, or query with 5203)", retriable=True)


@web.middleware
async def limits_middleware(request: web.Request, handler):
    """A URL or a header over 8 KB: a failure naming it (an HTTP 200 envelope under /fsi, 414/431
    JSON on REST), before anything reads the request. Nothing of the oversized input is echoed."""
    if len(request.raw_path) > URL_LIMIT:
        return _failure_for(request, 414, "URL_TOO_LONG",
                            f"请求地址过长, 上限 {URL_LIMIT} 字节 (the URL is {len(request.raw_path)} bytes long; the "
                            f"limit is {URL_LIMIT}: send the transaction in the body)")
    for name, value in request.raw_headers:
        if len(name) + len(value) > HEADER_LIMIT:
            header = name.decode("latin-1")[:64].lower()
            return _failure_for(request, 431, "HEADER_TOO_LARGE",
                                f"请求头 {header} 过长, 上限 {HEADER_LIMIT} 字节 (header {header} is "
                                f"{len(name) + len(value)} bytes long; the limit is {HEADER_LIMIT})", field=header)
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """200 only when every service answers SERVING within a short deadline."""
    rt = request.app[RUNTIME]
    if rt.deps is None or rt.stopping:
        return web.json_response({"status": "stopping"}, status=503)

    deps = rt.deps

    async def check(name: str) -> tuple[str, str]:
        try:
            resp = await deps.health[name].Check(health_pb2.HealthCheckRequest(service=SERVICE_NAMES[name]),
                                                    timeout=HEALTH_TIMEOUT_S)
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        except grpc.RpcError as e:
            return name, e.code().name
        except Exception as e:  # noqa: BLE001 - health must answer, whatever the failure
            return name, type(e).__name__

    results = dict(await asyncio.gather(*(check(n) for n in SERVICE_NAMES)))
    bad = {n: s for n, s in results.items() if s != "SERVING"}
    body: dict[str, object] = {"status": "ok" if not bad else "unavailable", "services": results}
    if bad:
        body["not_serving"] = sorted(bad)
    return web.json_response(body, status=200 if not bad else 503)


def init_app(settings: Settings, deps: Deps | Callable[[], contextlib.AbstractAsyncContextManager[Deps]], *,
             clock: Clock | None = None) -> web.Application:
    """`clock`: the business clock (Beijing time); the composition root passes the process's one."""
    app = web.Application(middlewares=[tracing_middleware, errors_middleware, limits_middleware,
                                       console_feed.middleware], client_max_size=CLIENT_MAX_SIZE)
    app[SETTINGS] = settings
    app[RUNTIME] = Runtime(clock=clock or system_clock())

    async def resources(app: web.Application):
        rt = app[RUNTIME]
        cm = contextlib.nullcontext(deps) if isinstance(deps, Deps) else deps()
        async with cm as opened:
            rt.deps = opened
            rt.guard = Guard(opened.redis, window_s=settings.tif_window_s, rate_limit_per_s=settings.rate_limit_per_s,
                             clock=rt.clock.timestamp)
            try:
                yield
            finally:
                rt.stopping = True
                if rt.guard is not None:
                    rt.guard.close()
                rt.deps = rt.guard = None

    async def on_shutdown(app: web.Application) -> None:
        app[RUNTIME].stopping = True  # /healthz says 503 while in-flight requests finish

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(endpoint.routes())
    app.router.add_routes(rest.routes())
    portal.setup(app, template_dirs=(mobilepay_pages.portal_api.TEMPLATES_DIR,))
    app.router.add_routes(mobilepay_pages.routes())  # /m/orders/<payOrdId>: the patient's pay page
    console.setup(app)  # /console/: the operators' pages (gateway/console/, docs/CONSOLE.md)
    return app
