"""OpenTelemetry tracing and structured logs, set up once per process by its composition root.

Exporter choice follows the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) selects OTLP over gRPC; OTEL_TRACES_EXPORTER=none turns it
off; nothing is exported by default. MEDSETTLE_TRACE_FILE=path additionally writes finished spans
as JSON lines (the trace test reads them from every process).

W3C trace context crosses every hop: the gateway's aiohttp middleware extracts it from the HIS
request, gRPC client/server interceptors carry it in metadata, and asyncpg and Redis calls get
child spans through TracedConnection and TracedRedis.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Mapping, Sequence

import asyncpg
import grpc
from grpc import aio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode

_provider: TracerProvider | None = None


class JsonLinesExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object a line (several processes may share it)."""

    def __init__(self, path: str):
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            lines.append(json.dumps({
                "service": s.resource.attributes.get("service.name"),
                "name": s.name,
                "kind": s.kind.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                "attributes": {k: v for k, v in (s.attributes or {}).items() if isinstance(v, (str, int, float, bool))},
            }, ensure_ascii=False))
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS


def build_provider(service_name: str, env: Mapping[str, str] = os.environ) -> TracerProvider:
    """The process's TracerProvider, chosen by the standard OTEL_* variables (see module doc)."""
    exporter_choice = env.get("OTEL_TRACES_EXPORTER", "")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    otlp = bool(endpoint) and exporter_choice != "none"
    trace_file = env.get("MEDSETTLE_TRACE_FILE")
    resource = Resource.create({"service.name": service_name})
    if otlp or trace_file:
        # Sampler from the standard OTEL_TRACES_SAMPLER / _ARG variables (default: always on).
        provider = TracerProvider(resource=resource)
    else:
        # Nothing would be exported: record nothing (spans cost ~10% of a process's CPU), but keep
        # real trace and span ids so logs carry trace ids and traceparent still crosses every hop.
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    if otlp:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if trace_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(trace_file)))
    return provider


def setup(service_name: str) -> TracerProvider:
    """Tracing + JSON logs for this process. Called once by the composition root."""
    global _provider
    provider = build_provider(service_name)
    trace.set_tracer_provider(provider)
    _provider = provider
    setup_logging(service_name)
    return provider


def shutdown() -> None:
    if _provider is not None:
        _provider.shutdown()


@functools.lru_cache(maxsize=None)
def tracer(name: str = "medsettle") -> trace.Tracer:
    # Once per name: get_tracer builds a Tracer and passes the warnings filter on every call. The
    # cached ProxyTracer still resolves to the real provider once setup() has run.
    return trace.get_tracer(name)


def _recording() -> bool:
    """Child spans (SQL, Redis) only under a recording parent: nothing to attach them to otherwise."""
    return trace.get_current_span().is_recording()


# ----------------------------------------------------------------------------- logs

class JsonFormatter(logging.Formatter):
    """One JSON object a line, carrying the current trace id so a log line leads to its trace."""

    _STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def __init__(self, service: str):
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            out["trace_id"] = format(ctx.trace_id, "032x")
            out["span_id"] = format(ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in self._STD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logging.getLogger("asyncio").setLevel(logging.WARNING)


def mask(value: str | None) -> str:
    """Certificate numbers and names in logs and span attributes: keep only the ends."""
    if not value:
        return ""
    if len(value) <= 2:
        return value[0] + "*"
    if len(value) <= 6:
        return value[0] + "*" * (len(value) - 2) + value[-1]
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


# ----------------------------------------------------------------------------- gRPC

class _Carrier:
    @staticmethod
    def to_metadata() -> list[tuple[str, str]]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return list(carrier.items())


class ClientTracing(aio.UnaryUnaryClientInterceptor):
    """A CLIENT span per call, its context injected into the call's metadata."""

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        method = client_call_details.method
        method = method.decode() if isinstance(method, bytes) else method
        with tracer().start_as_current_span(method.lstrip("/"), kind=SpanKind.CLIENT,
                                            attributes={"rpc.system": "grpc", "rpc.method": method}) as span:
            md = list(client_call_details.metadata or ()) + _Carrier.to_metadata()
            details = aio.ClientCallDetails(client_call_details.method, client_call_details.timeout, md,
                                            client_call_details.credentials, client_call_details.wait_for_ready)
            call = await continuation(details, request)
            try:
                await call
            except grpc.RpcError as e:
                span.set_attribute("rpc.grpc.status_code", e.code().value[0])
                if e.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                                    grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                                    grpc.StatusCode.PERMISSION_DENIED):
                    span.set_status(Status(StatusCode.ERROR, e.code().name))
            return call


class ServerTracing(aio.ServerInterceptor):
    """A SERVER span per call, child of the caller's span from the metadata."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method
        carrier = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}

        async def wrapped(request, context):
            parent = propagate.extract(carrier)
            token = otel_context.attach(parent)
            try:
                with tracer().start_as_current_span(method.lstrip("/"), kind=SpanKind.SERVER,
                                                    attributes={"rpc.system": "grpc", "rpc.method": method}):
                    return await inner(request, context)
            finally:
                otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            wrapped, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def traced_channel(addr: str) -> aio.Channel:
    from services.common.grpcutil import CHANNEL_OPTIONS

    return aio.insecure_channel(addr, options=CHANNEL_OPTIONS, interceptors=[ClientTracing()])


# ----------------------------------------------------------------------------- asyncpg and Redis

def _sql_name(query: str) -> str:
    words = query.strip().split(None, 3)
    return " ".join(words[:3])[:60] if words else "sql"


class TracedConnection(asyncpg.Connection):
    """asyncpg connection whose queries are child spans (db.system=postgresql)."""

    async def _traced(self, op: str, query: str, call):
        if not _recording():
            return await call
        with tracer().start_as_current_span(f"db {op}", kind=SpanKind.CLIENT,
                                            attributes={"db.system": "postgresql", "db.statement": _sql_name(query)}):
            return await call

    async def execute(self, query: str, *args, **kw):
        return await self._traced("execute", query, super().execute(query, *args, **kw))

    async def executemany(self, command: str, args, **kw):
        return await self._traced("executemany", command, super().executemany(command, args, **kw))

    async def fetch(self, query: str, *args, **kw):
        return await self._traced("fetch", query, super().fetch(query, *args, **kw))

    async def fetchrow(self, query: str, *args, **kw):
        return await self._traced("fetchrow", query, super().fetchrow(query, *args, **kw))

    async def fetchval(self, query: str, *args, **kw):
        return await self._traced("fetchval", query, super().fetchval(query, *args, **kw))


def traced_redis(url: str, **kw):
    """A redis.asyncio client whose commands are child spans (db.system=redis)."""
    import redis.asyncio as aredis

    class TracedRedis(aredis.Redis):
        async def execute_command(self, *args, **options):
            if not _recording():
                return await super().execute_command(*args, **options)
            name = str(args[0]) if args else "redis"
            with tracer().start_as_current_span(f"redis {name}", kind=SpanKind.CLIENT,
                                                attributes={"db.system": "redis", "db.operation": name}):
                return await super().execute_command(*args, **options)

    return TracedRedis.from_url(url, **kw)
