"""A gRPC method is wrapped by two separate plain wrappers, composed in one place
(services/common/server.py): grpcutil.with_refusals (refusal mapping) inside
telemetry.server_span (the SERVER span, child of the caller's trace)."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common import grpcutil, server, telemetry

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"
METHOD = "/medsettle.probe.v1.Probe/Call"


class _Context:
    def __init__(self, metadata=()):
        self._metadata = tuple(metadata)
        self.trailing: tuple = ()
        self.aborted: tuple | None = None

    def invocation_metadata(self):
        return self._metadata

    def set_trailing_metadata(self, md):
        self.trailing = tuple(md)

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise aio.AbortError()


@pytest.fixture
def spans(monkeypatch):
    """Spans of a provider of this test's own (the global one stays untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "tracer", lambda name="medsettle": provider.get_tracer(name))
    return exporter


def _handler(behaviour):
    return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=bytes, response_serializer=bytes)


async def test_composed_wrapper_maps_a_refusal_inside_an_ok_server_span(spans):
    seen = {}

    async def behaviour(request, context):
        seen["trace_id"] = format(trace.get_current_span().get_span_context().trace_id, "032x")
        raise grpcutil.invalid("INVALID_INPUT", "bad value", "x")

    wrapped = server.wrap_method(METHOD, _handler(behaviour))
    assert wrapped.request_deserializer is bytes and wrapped.response_serializer is bytes
    ctx = _Context([("traceparent", TRACEPARENT)])
    with pytest.raises(aio.AbortError):
        await wrapped.unary_unary(b"", ctx)
    assert ctx.aborted[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert (grpcutil.OUTCOME_KEY, "INVALID_INPUT") in ctx.trailing
    (span,) = spans.get_finished_spans()
    assert span.kind == SpanKind.SERVER and span.name == METHOD.lstrip("/")
    assert format(span.context.trace_id, "032x") == PARENT_TRACE == seen["trace_id"]  # the caller's trace goes on
    assert span.status.status_code != StatusCode.ERROR  # a refusal is an answer
    assert span.attributes["rpc.method"] == METHOD


async def test_composed_wrapper_passes_a_reply_through(spans):
    async def behaviour(request, context):
        return b"ok:" + request

    wrapped = server.wrap_method(METHOD, _handler(behaviour))
    assert await wrapped.unary_unary(b"1", _Context()) == b"ok:1"
    assert len(spans.get_finished_spans()) == 1


async def test_the_tracing_wrapper_only_traces(spans):
    async def behaviour(request, context):
        raise grpcutil.invalid("INVALID_INPUT", "bad value")

    ctx = _Context()
    with pytest.raises(grpcutil.Refusal):  # not mapped: that is with_refusals' job
        await telemetry.server_span(behaviour, METHOD)(b"", ctx)
    assert ctx.aborted is None
    assert [s.kind for s in spans.get_finished_spans()] == [SpanKind.SERVER]


async def test_the_refusal_wrapper_only_maps(spans):
    async def behaviour(request, context):
        raise RuntimeError("a bug")

    ctx = _Context()
    with pytest.raises(aio.AbortError):
        await grpcutil.with_refusals(behaviour, METHOD)(b"", ctx)
    assert ctx.aborted[0] == grpc.StatusCode.INTERNAL
    assert spans.get_finished_spans() == ()


def test_non_unary_and_missing_handlers_are_left_alone():
    assert server.wrap_method(METHOD, None) is None
    streaming = grpc.unary_stream_rpc_method_handler(lambda r, c: iter(()))
    assert server.wrap_method(METHOD, streaming) is streaming


def test_instrumented_server_wraps_each_registered_method_once():
    class _Server:
        def __init__(self):
            self.registered = {}
            self.generic = ()

        def add_registered_method_handlers(self, name, handlers):
            self.registered[name] = handlers

        def add_generic_rpc_handlers(self, handlers):
            self.generic = handlers

    async def behaviour(request, context):
        return b""

    raw = _Server()
    original = _handler(behaviour)
    srv = server.InstrumentedServer(raw)
    srv.add_registered_method_handlers("medsettle.probe.v1.Probe", {"Call": original})
    wrapped = raw.registered["medsettle.probe.v1.Probe"]["Call"]
    assert wrapped is not original and wrapped.unary_unary is not behaviour

    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("medsettle.probe.v1.Probe",
                                                                        {"Call": original}),))

    class _Details:
        method = METHOD

    (generic,) = raw.generic
    first = generic.service(_Details())
    assert first is generic.service(_Details()) and first.unary_unary is not behaviour  # cached: once per method
