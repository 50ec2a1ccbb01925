"""Structured logs carry the trace id; certificate numbers and names are masked."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from services.common.telemetry import JsonFormatter, build_provider, mask


def test_mask_keeps_only_the_ends():
    assert mask("330602199001011231") == "330***********1231"
    assert mask("张三") == "张*"
    assert mask("王建国") == "王*国"
    assert mask("") == ""
    assert "199001" not in mask("330602199001011231")


def test_log_line_is_json_with_the_current_trace_id():
    tracer = TracerProvider().get_tracer("t")
    fmt = JsonFormatter("gateway")
    with tracer.start_as_current_span("request") as span:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "settled %s", ("S1",), None)
        record.setl_id = "S1"
        line = json.loads(fmt.format(record))
    assert line["msg"] == "settled S1"
    assert line["service"] == "gateway"
    assert line["setl_id"] == "S1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_log_line_outside_a_span_has_no_trace_id():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "plain", (), None)
    line = json.loads(JsonFormatter("eligibility").format(record))
    assert "trace_id" not in line and line["level"] == "warning"


def test_with_no_exporter_nothing_is_recorded_but_trace_ids_still_flow():
    from opentelemetry import propagate

    provider = build_provider("settlement", env={})
    tracer = provider.get_tracer("t")
    parent = propagate.extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    with tracer.start_as_current_span("Settle", context=parent) as span:
        ctx = span.get_span_context()
        assert not span.is_recording()
        assert format(ctx.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"  # the caller's trace goes on
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        assert carrier["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        assert json.loads(JsonFormatter("settlement").format(record))["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_trace_file_turns_recording_on(tmp_path):
    provider = build_provider("gateway", env={"MEDSETTLE_TRACE_FILE": str(tmp_path / "s.jsonl")})
    with provider.get_tracer("t").start_as_current_span("x") as span:
        assert span.is_recording()
    provider.force_flush()
    line = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])
    assert line["service"] == "gateway" and line["name"] == "x"
