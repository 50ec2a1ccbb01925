"""OpenTelemetry tracing and structured logs, set up once per process by its composition root.

Exporter choice follows the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) selects OTLP over gRPC; OTEL_TRACES_EXPORTER=none turns it
off; nothing is exported by default. MEDSETTLE_TRACE_FILE=path (Settings.trace_file)
additionally writes finished spans as JSON lines (the trace test reads them from every process).
The log level is Settings.log_level (LOG_LEVEL).

W3C trace context crosses every hop: the gateway's aiohttp middleware extracts it from the HIS
request, gRPC client stubs (TracedChannel) and server methods (server_span) carry it in metadata,
and asyncpg and Redis calls get child spans through TracedConnection and TracedRedis.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

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

from services.common.config import Settings
from services.common.grpcutil import CHANNEL_OPTIONS, REFUSAL_STATUS_CODES

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
            if ctx is None:  # a finished SDK span always has one
                continue
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


def build_provider(service_name: str, env: Mapping[str, str] = os.environ,
                   settings: Settings | None = None) -> TracerProvider:
    """The process's TracerProvider, chosen by the standard OTEL_* variables in `env` (see module
    doc) and the trace file of `settings` (by default read from `env` too)."""
    exporter_choice = env.get("OTEL_TRACES_EXPORTER", "")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    otlp = bool(endpoint) and exporter_choice != "none"
    trace_file = (settings if settings is not None else Settings.from_env(env)).trace_file
    resource = Resource.create({"service.name": service_name})
    # Something is exported: the sampler comes from the standard OTEL_TRACES_SAMPLER / _ARG variables
    # (default: always on). Nothing would be: record nothing (spans cost ~10% of a process's CPU), but
    # keep real trace and span ids so logs carry trace ids and traceparent still crosses every hop.
    provider = (TracerProvider(resource=resource) if otlp or trace_file
                else TracerProvider(resource=resource, sampler=ALWAYS_OFF))
    if otlp:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if trace_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(trace_file)))
    return provider


def setup(service_name: str, settings: Settings | None = None) -> TracerProvider:
    """Tracing + JSON logs for this process. Called once, by services/common/bootstrap.py."""
    global _provider, _records_nothing
    settings = settings if settings is not None else Settings.from_env()
    provider = build_provider(service_name, settings=settings)
    trace.set_tracer_provider(provider)
    _provider = provider
    _records_nothing = provider.sampler is ALWAYS_OFF
    setup_logging(service_name, settings.log_level)
    return provider


def shutdown() -> None:
    if _provider is not None:
        _provider.shutdown()


@functools.cache
def tracer(name: str = "medsettle") -> trace.Tracer:
    # Once per name: get_tracer builds a Tracer and passes the warnings filter on every call. The
    # cached ProxyTracer still resolves to the real provider once setup() has run.
    return trace.get_tracer(name)


# True once setup() installed a provider that records nothing (no exporter, no trace file): a
# server hop then only attaches the caller's W3C context (its trace id is what the logs carry and
# what goes on to the next hop) instead of also starting a non-recording span of its own.
_records_nothing = False


def _recording() -> bool:
    """Child spans (SQL, Redis) only under a recording parent: nothing to attach them to otherwise."""
    return trace.get_current_span().is_recording()


# ----------------------------------------------------------------------------- logs

class JsonFormatter(logging.Formatter):
    """One JSON object a line, carrying the current trace id so a log line leads to its trace."""

    _STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    _ENCODER = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps(..., ensure_ascii=False) builds one a call

    def __init__(self, service: str):
        super().__init__()
        self._service = service
        self._second = -1
        self._second_text = ""

    def _ts(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once a second (a line per transaction and per gRPC call)
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._ts(record.created, record.msecs),
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
        return self._ENCODER.encode(out)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
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
#
# Tracing wraps the stubs' multicallables and the servers' method behaviours once, at
# construction, instead of using grpc.aio interceptors: an aio interceptor costs ~100-200 µs of
# CPU per call on these machines (measured), a plain wrapper a few µs. On the server side this is
# only the SERVER span (server_span); services/common/server.py composes it with the refusal
# mapping (grpcutil.with_refusals) in one place.

_TRACE_KEYS = ("traceparent", "tracestate")
# A refusal is an answer, not a failure of the span (grpcutil's one list of refusal codes).
_REFUSAL_CODES = REFUSAL_STATUS_CODES


def _with_context(metadata) -> tuple:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(metadata or ()) + tuple(carrier.items())


class ChannelStats:
    """Calls of one channel: in flight now, the most in flight at once since the last scrape, and
    how they ended (services/common/metrics.py reads these when Prometheus scrapes)."""

    __slots__ = ("in_flight", "peak", "ok", "refused", "error")

    def __init__(self) -> None:
        self.in_flight = self.peak = self.ok = self.refused = self.error = 0

    def take_peak(self) -> int:
        peak, self.peak = self.peak, self.in_flight
        return peak


class _TracedUnaryUnary:
    """A stub method: carries the W3C context in the metadata; a CLIENT span when recording;
    counts the call in its channel's ChannelStats."""

    __slots__ = ("_inner", "_name", "_method", "_stats")

    def __init__(self, inner, method: str, stats: ChannelStats):
        self._inner = inner
        self._method = method
        self._name = method.lstrip("/")
        self._stats = stats

    def __call__(self, request, *, timeout=None, metadata=None, **kw):
        return self._call(request, timeout, metadata, kw)

    async def _call(self, request, timeout, metadata, kw):
        st = self._stats
        st.in_flight += 1
        if st.in_flight > st.peak:
            st.peak = st.in_flight
        try:
            if not _recording():
                reply = await self._inner(request, timeout=timeout, metadata=_with_context(metadata), **kw)
            else:
                with tracer().start_as_current_span(self._name, kind=SpanKind.CLIENT, record_exception=False,
                                                    set_status_on_exception=False,
                                                    attributes={"rpc.system": "grpc", "rpc.method": self._method}) as span:
                    try:
                        reply = await self._inner(request, timeout=timeout, metadata=_with_context(metadata), **kw)
                    except grpc.RpcError as e:
                        span.set_attribute("rpc.grpc.status_code", e.code().value[0])
                        if e.code() not in _REFUSAL_CODES:
                            span.set_status(Status(StatusCode.ERROR, e.code().name))
                        raise
        except grpc.RpcError as e:
            if e.code() in _REFUSAL_CODES:
                st.refused += 1
            else:
                st.error += 1
            raise
        except BaseException:
            st.error += 1
            raise
        else:
            st.ok += 1
            return reply
        finally:
            st.in_flight -= 1


class TracedChannel:
    """An aio channel whose stubs propagate trace context (see _TracedUnaryUnary) and count their
    calls (`stats`)."""

    def __init__(self, channel: aio.Channel):
        self._channel = channel
        self.stats = ChannelStats()

    def unary_unary(self, method, *args, **kw):
        name = method.decode() if isinstance(method, bytes) else method
        return _TracedUnaryUnary(self._channel.unary_unary(method, *args, **kw), name, self.stats)

    def is_ready(self) -> bool:
        """The connectivity state is READY (read without trying to connect)."""
        try:
            return self._channel.get_state(try_to_connect=False) == grpc.ChannelConnectivity.READY
        except Exception:  # noqa: BLE001 - a closed channel is not ready
            return False

    def __getattr__(self, name):
        return getattr(self._channel, name)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self._channel.close()


def traced_channel(addr: str) -> TracedChannel:
    return TracedChannel(aio.insecure_channel(addr, options=CHANNEL_OPTIONS))


Behaviour = Callable[[Any, aio.ServicerContext], Awaitable[Any]]


def server_span(inner: Behaviour, method: str) -> Behaviour:
    """A unary method behaviour inside a SERVER span, child of the caller's W3C context (from the
    call's metadata). Only tracing: refusal mapping is grpcutil.with_refusals, composed with this
    by services/common/server.py."""
    name = method.lstrip("/")
    attributes = {"rpc.system": "grpc", "rpc.method": method}

    async def traced(request, context):
        carrier = {k: v for k, v in (context.invocation_metadata() or ()) if k in _TRACE_KEYS}
        token = otel_context.attach(propagate.extract(carrier)) if carrier else None
        if token is not None and _records_nothing:
            try:
                return await inner(request, context)
            finally:
                otel_context.detach(token)
        try:
            with tracer().start_as_current_span(name, kind=SpanKind.SERVER, attributes=attributes,
                                                record_exception=False, set_status_on_exception=False):
                return await inner(request, context)
        finally:
            if token is not None:
                otel_context.detach(token)

    return traced


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
